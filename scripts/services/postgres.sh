#!/usr/bin/env bash
# PostgreSQL 15: a throwaway cluster on 127.0.0.1:54329, trust auth, data under $CMEK_STATE_DIR.
#   postgres.sh start   -> $CMEK_STATE_DIR/postgres.env: CMEK_PG_URL=postgres://postgres@127.0.0.1:54329/postgres
#   postgres.sh stop    -> stops the cluster and removes its data directory
# Uses the PostgreSQL 15 binaries in /usr/lib/postgresql/15/bin (installed with apt if missing).
# Run as root, the server runs as the `postgres` user (initdb refuses root); otherwise as the caller.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_PORT=${CMEK_PG_PORT:-54329}
PGBIN=${CMEK_PGBIN:-/usr/lib/postgresql/15/bin}
PGDATA="$CMEK_STATE_DIR/postgres"
URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"

as_owner() {
  if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_binaries() {
  [[ -x $PGBIN/initdb ]] && return 0
  log "postgres: $PGBIN/initdb missing; installing postgresql-15 with apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q postgresql-15 >&2 || { apt-get update -q >&2 && apt-get install -y -q postgresql-15 >&2; }
  [[ -x $PGBIN/initdb ]]
}

running() {
  [[ -f $PGDATA/PG_VERSION ]] && as_owner "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

start() {
  ensure_binaries
  if running; then
    write_env postgres "CMEK_PG_URL=$URL"
    return 0
  fi
  if port_open "$PG_PORT"; then
    log "postgres: port $PG_PORT is taken by a server this state dir ($CMEK_STATE_DIR) does not know; stop it first"
    return 1
  fi
  rm -rf "$PGDATA"
  mkdir -p "$PGDATA"
  ((EUID == 0)) && chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  as_owner "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null 2>"$CMEK_STATE_DIR/postgres-initdb.log" ||
    as_owner "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null 2>>"$CMEK_STATE_DIR/postgres-initdb.log" || {
    cat "$CMEK_STATE_DIR/postgres-initdb.log" >&2
    return 1
  }
  as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PGDATA -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || {
    tail -n 20 "$PGDATA/server.log" >&2 || true
    return 1
  }
  wait_for_port "$PG_PORT" 30
  write_env postgres "CMEK_PG_URL=$URL"
  echo started
}

stop() {
  if running; then
    as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null || true
  fi
  rm -rf "$PGDATA" "$CMEK_STATE_DIR/postgres-initdb.log" "$CMEK_STATE_DIR/postgres.env"
}

case ${1:-} in
start) start ;;
stop) stop ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac

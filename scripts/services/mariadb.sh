#!/usr/bin/env bash
# MariaDB (Debian's mariadb-server, 10.11 on Debian 12): a throwaway server on 127.0.0.1:33069,
# data under $CMEK_STATE_DIR, with a database `cmek` and a user `cmek`/`cmek` (all privileges on
# `cmek`, plus CREATE/DROP DATABASE for tests that want their own schema).
#   mariadb.sh start   -> $CMEK_STATE_DIR/mariadb.env: CMEK_MYSQL_URL=mysql://cmek:cmek@127.0.0.1:33069/cmek
#   mariadb.sh stop    -> stops the server and removes its data directory
# Installs mariadb-server with apt when /usr/sbin/mariadbd is missing (about 11 s; apt-get update
# first when the package is unknown). The Debian package's own service is never started.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MY_PORT=${CMEK_MYSQL_PORT:-33069}
MYDATA="$CMEK_STATE_DIR/mariadb"
PIDFILE="$CMEK_STATE_DIR/mariadb.pid"
SOCKET="$MYDATA/mariadb.sock"
URL="mysql://cmek:cmek@127.0.0.1:$MY_PORT/cmek"

ensure_binaries() {
  command -v mariadbd >/dev/null 2>&1 || [[ -x /usr/sbin/mariadbd ]] && return 0
  log "mariadb: mariadbd missing; installing mariadb-server with apt"
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d 101: the package must not start (or fail to start) its own system service.
  local policy=/usr/sbin/policy-rc.d created_policy=
  if ((EUID == 0)) && [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  local rc=0
  apt-get install -y -q --no-install-recommends mariadb-server mariadb-client >&2 ||
    { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends mariadb-server mariadb-client >&2; } || rc=$?
  [[ -n $created_policy ]] && rm -f "$policy"
  ((rc == 0)) && [[ -x /usr/sbin/mariadbd ]]
}

client() { mariadb --no-defaults --protocol=socket --socket="$SOCKET" -uroot "$@"; }

start() {
  ensure_binaries
  if pid_alive "$PIDFILE"; then
    write_env mariadb "CMEK_MYSQL_URL=$URL"
    return 0
  fi
  if port_open "$MY_PORT"; then
    log "mariadb: port $MY_PORT is taken by a server this state dir ($CMEK_STATE_DIR) does not know; stop it first"
    return 1
  fi
  rm -rf "$MYDATA"
  mkdir -p "$MYDATA"
  local user_args=()
  if ((EUID == 0)); then
    chown mysql:mysql "$MYDATA"
    user_args=(--user=mysql)
  fi
  mariadb-install-db --no-defaults --datadir="$MYDATA" "${user_args[@]}" \
    --auth-root-authentication-method=normal --skip-test-db >"$CMEK_STATE_DIR/mariadb-install.log" 2>&1 || {
    cat "$CMEK_STATE_DIR/mariadb-install.log" >&2
    return 1
  }
  setsid /usr/sbin/mariadbd --no-defaults --datadir="$MYDATA" --socket="$SOCKET" \
    --port="$MY_PORT" --bind-address=127.0.0.1 --skip-name-resolve "${user_args[@]}" \
    --pid-file="$MYDATA/mariadbd.pid" --log-error="$MYDATA/error.log" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --max-allowed-packet=64M \
    </dev/null >/dev/null 2>&1 &
  echo $! >"$PIDFILE"
  local deadline=$((SECONDS + 30))
  until client -e 'SELECT 1' >/dev/null 2>&1; do
    if ! pid_alive "$PIDFILE" || ((SECONDS >= deadline)); then
      log "mariadb: server did not come up"
      tail -n 20 "$MYDATA/error.log" >&2 || true
      stop_pidfile "$PIDFILE"
      return 1
    fi
    sleep 0.2
  done
  client <<'SQL'
CREATE DATABASE IF NOT EXISTS cmek CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'cmek'@'127.0.0.1' IDENTIFIED BY 'cmek';
CREATE USER IF NOT EXISTS 'cmek'@'localhost' IDENTIFIED BY 'cmek';
GRANT ALL PRIVILEGES ON *.* TO 'cmek'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'cmek'@'localhost';
FLUSH PRIVILEGES;
SQL
  wait_for_port "$MY_PORT" 30
  write_env mariadb "CMEK_MYSQL_URL=$URL"
  echo started
}

stop() {
  stop_pidfile "$PIDFILE" 30
  rm -rf "$MYDATA" "$CMEK_STATE_DIR/mariadb-install.log" "$CMEK_STATE_DIR/mariadb.env"
}

case ${1:-} in
start) start ;;
stop) stop ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac

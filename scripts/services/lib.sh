# Shared by every scripts/services/<service>.sh. Source it; do not run it.
#
# Conventions
#   <service>.sh start   idempotent: reuses a running instance; writes $CMEK_STATE_DIR/<service>.env
#                        (KEY=VALUE lines the tests read); exit 0 when the service is up.
#                        Prints "started" on stdout only when it started a new instance.
#   <service>.sh stop    stops the instance this state dir knows about, if any.
# Everything listens on 127.0.0.1. Builds and downloads are cached in $CMEK_CACHE_DIR, outside the repo.

set -euo pipefail

CMEK_STATE_DIR=${CMEK_STATE_DIR:-/tmp/cmek-services}
CMEK_CACHE_DIR=${CMEK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cmek}
CMEK_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The services up.sh started (and down.sh stops); a test run sets its own so it stops only those.
CMEK_STARTED_FILE=${CMEK_STARTED_FILE:-$CMEK_STATE_DIR/started}
mkdir -p "$CMEK_STATE_DIR" "$CMEK_CACHE_DIR"

log() { printf '[services] %s\n' "$*" >&2; }

# wait_for_port PORT [SECONDS]: true once 127.0.0.1:PORT accepts a TCP connection.
wait_for_port() {
  local port=$1 deadline=$((SECONDS + ${2:-30}))
  while ((SECONDS < deadline)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_alive PIDFILE: true if the file names a running process.
pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# write_env SERVICE KEY=VALUE...: the variables the tests read for this service.
write_env() {
  local svc=$1
  shift
  printf '%s\n' "$@" >"$CMEK_STATE_DIR/$svc.env"
}

# stop_pidfile PIDFILE [SECONDS]: SIGTERM, then SIGKILL after the grace period.
stop_pidfile() {
  local file=$1 grace=${2:-10} pid
  [[ -f $file ]] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + grace))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

# write_services_env: $CMEK_STATE_DIR/services.env = the variables of every service now up.
write_services_env() {
  local file
  : >"$CMEK_STATE_DIR/services.env.tmp"
  for file in "$CMEK_STATE_DIR"/*.env; do
    [[ -f $file && $(basename "$file") != services.env ]] || continue
    grep -v '^$' "$file" >>"$CMEK_STATE_DIR/services.env.tmp" || true
  done
  mv "$CMEK_STATE_DIR/services.env.tmp" "$CMEK_STATE_DIR/services.env"
}

# Whatever way a service is stopped (`<svc>.sh stop` by hand, or down.sh), its variables leave
# services.env, so tests skip (or fail under CI=true) instead of calling a dead server.
if [[ ${1:-} == stop && $(basename "$0") != down.sh ]]; then
  trap 'rm -f "$CMEK_STATE_DIR/$(basename "$0" .sh).env"; write_services_env' EXIT
fi

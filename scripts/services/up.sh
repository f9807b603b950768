#!/usr/bin/env bash
# Starts the services the tests use (all, or those named), on 127.0.0.1, and writes
# $CMEK_STATE_DIR/services.env. Under CI=true a service that cannot start fails the run;
# elsewhere it is reported and its tests skip with a line saying how to start it.
# Services started here are listed in $CMEK_STARTED_FILE, for down.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL=(postgres mariadb moto vault ferretdb)
services=("$@")
((${#services[@]})) || services=("${ALL[@]}")

failed=()
for svc in "${services[@]}"; do
  script="$CMEK_REPO_ROOT/scripts/services/$svc.sh"
  if [[ ! -f $script ]]; then
    log "$svc: no script yet ($script); skipped"
    continue
  fi
  log "$svc: starting"
  if out=$(bash "$script" start); then
    [[ $out == *started* ]] && echo "$svc" >>"$CMEK_STARTED_FILE"
    log "$svc: up"
  else
    log "$svc: FAILED to start (see the lines above)"
    failed+=("$svc")
  fi
done

write_services_env

if ((${#failed[@]})); then
  if [[ ${CI:-} == true ]]; then
    log "CI=true and these services did not start: ${failed[*]}"
    exit 1
  fi
  log "not started: ${failed[*]}; their tests will be skipped"
fi

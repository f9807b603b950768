#!/usr/bin/env bash
# Stops the services that up.sh started (those it found already running are left alone).
# `down.sh --all` stops every service this state dir knows about.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} == --all ]]; then
  mapfile -t services < <(ls "$CMEK_STATE_DIR"/*.env 2>/dev/null | xargs -r -n1 basename | sed 's/\.env$//' | grep -v '^services$')
else
  mapfile -t services < <(sort -u "$CMEK_STARTED_FILE" 2>/dev/null)
fi
for svc in "${services[@]}"; do
  [[ -f $CMEK_REPO_ROOT/scripts/services/$svc.sh ]] || continue
  log "$svc: stopping"
  bash "$CMEK_REPO_ROOT/scripts/services/$svc.sh" stop || log "$svc: stop failed"
  rm -f "$CMEK_STATE_DIR/$svc.env"
done
rm -f "$CMEK_STARTED_FILE"
write_services_env

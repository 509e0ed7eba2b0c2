#!/usr/bin/env bash
# Starts the project's SMPP 3.4 SMSC simulator (smsc_sim.py, Python standard
# library only) on 127.0.0.1, with its HTTP control API.
# Env: SMSC_SMPP_PORT (2775), SMSC_HTTP_PORT (2776), SMSC_USERS (none: any
#      system_id/password binds; else "id:pw,..."), SMSC_FAIL_PREFIX (none:
#      destinations starting with it get an UNDELIV receipt).
set -euo pipefail
# shellcheck source=scripts/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SMPP_PORT=${SMSC_SMPP_PORT:-2775}
HTTP_PORT=${SMSC_HTTP_PORT:-2776}
USERS=${SMSC_USERS:-}
FAIL_PREFIX=${SMSC_FAIL_PREFIX:-}
DIR=$PEERS_DIR/smsc
LOGF=$DIR/smsc.log

command -v python3 >/dev/null || die "python3 not installed"
if pid=$(recorded_pid smsc) && is_alive "$pid"; then
  die "smsc already running (pid $pid); stop it with stop-peers.sh smsc"
fi
for port in "$SMPP_PORT" "$HTTP_PORT"; do
  port_in_use "$port" && die "127.0.0.1:$port already accepts connections"
done
mkdir -p "$DIR"

t0=$(now_us)
start_bg smsc "$LOGF" python3 -u "$REPO/scripts/peers/smsc_sim.py" \
  --smpp "127.0.0.1:$SMPP_PORT" --http "127.0.0.1:$HTTP_PORT" \
  --users "$USERS" --fail-prefix "$FAIL_PREFIX"
pid=$BG_PID
if ! wait_http "http://127.0.0.1:$HTTP_PORT/health" "$pid" 10 "$LOGF"; then
  "$REPO/scripts/peers/stop-peers.sh" smsc >/dev/null
  exit 1
fi
echo "smsc pid=$pid ready in $(elapsed "$t0")s (SMPP $SMPP_PORT, HTTP $HTTP_PORT)"

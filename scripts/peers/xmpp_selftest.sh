#!/usr/bin/env bash
# Self-test of the XMPP peers: starts Prosody on its own ports and state
# directory, drives two xmpp_client.py processes (alice, bob) and an
# external component through every client command (xmpp_selftest.py),
# then stops Prosody. Needs: install-peers.sh helpers prosody.
# Env: XMPP_SELFTEST_C2S_PORT (5232), XMPP_SELFTEST_COMPONENT_PORT (5357),
#      HELPERS_VENV (default: the one of target/peers, shared).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PEERS_DIR=$repo/target/peers-xmpp-selftest
export HELPERS_VENV=${HELPERS_VENV:-$repo/target/peers/helpers}
export PROSODY_C2S_PORT=${XMPP_SELFTEST_C2S_PORT:-5232}
export PROSODY_COMPONENT_PORT=${XMPP_SELFTEST_COMPONENT_PORT:-5357}
export PROSODY_COMPONENT_DOMAIN=matrix.localhost PROSODY_COMPONENT_SECRET=componentsecret
unset KEEP_DATA PROSODY_USERS PROSODY_MAM
# shellcheck source=scripts/peers/lib.sh
source "$repo/scripts/peers/lib.sh"

py=$HELPERS_VENV/bin/python
[[ -x $py ]] || die "no helpers venv at $HELPERS_VENV: run install-peers.sh helpers prosody"

t0=$(now_us)
trap '"$REPO/scripts/peers/stop-peers.sh" prosody >&2' EXIT
"$REPO/scripts/peers/start-prosody.sh"
rc=0
"$py" "$REPO/scripts/peers/xmpp_selftest.py" \
  --c2s "127.0.0.1:$PROSODY_C2S_PORT" --component "127.0.0.1:$PROSODY_COMPONENT_PORT" \
  --domain "$PROSODY_COMPONENT_DOMAIN" --secret "$PROSODY_COMPONENT_SECRET" \
  --log-dir "$PEERS_DIR/xmpp-selftest" || rc=$?
if (( rc )); then
  log "client logs: $PEERS_DIR/xmpp-selftest/client-*.log"
  log_tail "$PEERS_DIR/prosody/prosody.log"
fi
"$REPO/scripts/peers/stop-peers.sh" prosody
trap - EXIT
echo "xmpp self-test $( (( rc )) && echo FAILED || echo passed) in $(elapsed "$t0")s"
exit "$rc"

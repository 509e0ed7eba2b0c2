#!/usr/bin/env bash
# Starts a throw-away Kannel on 127.0.0.1: bearerbox with a "fake" SMSC that a
# test (or kannel-extras' fakesmsc) plays by connecting to its port, and smsbox
# with a sendsms user for passerelle and a catch-all service posting every
# incoming SMS to passerelle's webhook. Delivery reports go wherever each
# sendsms request's dlr-url says.
# Env: KANNEL_ADMIN_PORT (13000), KANNEL_BOX_PORT (13001),
#      KANNEL_SENDSMS_PORT (13013), KANNEL_SMSC_PORT (10000, binds 0.0.0.0 but
#      admits 127.0.0.1 only), KANNEL_USER (bridge), KANNEL_PASSWORD (bridgepw),
#      KANNEL_POST_URL (http://127.0.0.1:29444/kannel/mo?from=%p&id=%I&ts=%T&token=kannel-webhook-token),
#      KANNEL_DENIED_PREFIX (none: numbers starting with it are refused by
#      sendsms, to test refusals).
set -euo pipefail
# shellcheck source=scripts/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ADMIN_PORT=${KANNEL_ADMIN_PORT:-13000}
BOX_PORT=${KANNEL_BOX_PORT:-13001}
SENDSMS_PORT=${KANNEL_SENDSMS_PORT:-13013}
SMSC_PORT=${KANNEL_SMSC_PORT:-10000}
USER_NAME=${KANNEL_USER:-bridge}
PASSWORD=${KANNEL_PASSWORD:-bridgepw}
POST_URL=${KANNEL_POST_URL:-http://127.0.0.1:29444/kannel/mo?from=%p&id=%I&ts=%T&token=kannel-webhook-token}
DENIED_PREFIX=${KANNEL_DENIED_PREFIX:-}
DIR=$PEERS_DIR/kannel
CFG=$DIR/kannel.conf

command -v bearerbox >/dev/null && command -v smsbox >/dev/null ||
  die "kannel not installed: run install-peers.sh kannel"
for name in bearerbox smsbox; do
  if pid=$(recorded_pid "$name") && is_alive "$pid"; then
    die "$name already running (pid $pid); stop it with stop-peers.sh smsbox bearerbox"
  fi
done
for port in "$ADMIN_PORT" "$BOX_PORT" "$SENDSMS_PORT" "$SMSC_PORT"; do
  port_in_use "$port" && die "127.0.0.1:$port already accepts connections"
done

# Kannel config values are double-quoted strings.
kq() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

rm -rf "$DIR" && mkdir -p "$DIR"
denied=''
[[ -n $DENIED_PREFIX ]] && denied="denied-prefix = $(kq "$DENIED_PREFIX")"
cat >"$CFG" <<CONF
# Written by start-kannel.sh; rewritten on every start.
group = core
admin-port = $ADMIN_PORT
admin-interface = 127.0.0.1
admin-password = adminpw
status-password = adminpw
admin-allow-ip = "127.0.0.1"
smsbox-port = $BOX_PORT
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
log-file = $(kq "$DIR/bearerbox.log")
log-level = 1
access-log = $(kq "$DIR/bearerbox-access.log")
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
host = 127.0.0.1
port = $SMSC_PORT
connect-allow-ip = 127.0.0.1
$denied

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $BOX_PORT
sendsms-port = $SENDSMS_PORT
sendsms-interface = 127.0.0.1
mo-recode = true
http-request-retry = 3
http-queue-delay = 1
log-file = $(kq "$DIR/smsbox.log")
log-level = 1
access-log = $(kq "$DIR/smsbox-access.log")

group = sendsms-user
username = $(kq "$USER_NAME")
password = $(kq "$PASSWORD")
user-allow-ip = "127.0.0.1"
max-messages = 10
concatenation = true

# Every incoming SMS goes to passerelle; max-messages = 0: no SMS reply.
group = sms-service
keyword = default
catch-all = true
max-messages = 0
concatenation = true
post-url = $(kq "$POST_URL")
CONF

t0=$(now_us)
start_bg bearerbox "$DIR/bearerbox.out" bearerbox "$CFG"
bb=$BG_PID
if ! wait_port "$BOX_PORT" "$bb" 10 "$DIR/bearerbox.out"; then
  log_tail "$DIR/bearerbox.log"
  "$REPO/scripts/peers/stop-peers.sh" bearerbox >/dev/null
  exit 1
fi
start_bg smsbox "$DIR/smsbox.out" smsbox "$CFG"
sb=$BG_PID
if ! wait_port "$SENDSMS_PORT" "$sb" 10 "$DIR/smsbox.out"; then
  log_tail "$DIR/smsbox.log"
  "$REPO/scripts/peers/stop-peers.sh" smsbox bearerbox >/dev/null
  exit 1
fi
echo "kannel bearerbox pid=$bb smsbox pid=$sb ready in $(elapsed "$t0")s (sendsms $SENDSMS_PORT, fake SMSC $SMSC_PORT)"

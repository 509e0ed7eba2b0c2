#!/usr/bin/env bash
# Starts a throw-away Prosody on 127.0.0.1: c2s for the host "localhost"
# (plain TCP, SASL PLAIN), a MUC service "conference.localhost" and an
# XEP-0114 external component port. No TLS, no s2s, no offline storage.
# Env: PROSODY_C2S_PORT (5222), PROSODY_COMPONENT_PORT (5347),
#      PROSODY_COMPONENT_DOMAIN (matrix.localhost),
#      PROSODY_COMPONENT_SECRET (componentsecret),
#      PROSODY_USERS ("alice:alicepw bob:bobpw carol:carolpw"),
#      PROSODY_MAM: message archives, which add XEP-0359 stanza-ids:
#        muc (default) in rooms only; all: rooms and accounts (then a chat
#        to an offline user is archived instead of bounced); none.
#      KEEP_DATA=1 (keep accounts, rooms, archives).
set -euo pipefail
# shellcheck source=scripts/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

C2S_PORT=${PROSODY_C2S_PORT:-5222}
COMPONENT_PORT=${PROSODY_COMPONENT_PORT:-5347}
COMPONENT_DOMAIN=${PROSODY_COMPONENT_DOMAIN:-matrix.localhost}
COMPONENT_SECRET=${PROSODY_COMPONENT_SECRET:-componentsecret}
USERS=${PROSODY_USERS:-alice:alicepw bob:bobpw carol:carolpw}
MAM=${PROSODY_MAM:-muc}
DIR=$PEERS_DIR/prosody
CFG=$DIR/prosody.cfg.lua
LOGF=$DIR/prosody.log

command -v prosody >/dev/null || die "prosody not installed: run install-peers.sh prosody"
if pid=$(recorded_pid prosody) && is_alive "$pid"; then
  die "prosody already running (pid $pid); use restart-prosody.sh or stop-peers.sh prosody"
fi
for port in "$C2S_PORT" "$COMPONENT_PORT"; do
  port_in_use "$port" && die "127.0.0.1:$port already accepts connections"
done
case $MAM in muc|all|none) ;; *) die "PROSODY_MAM must be muc, all or none" ;; esac

# Double-quoted Lua string.
lua_str() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

[[ ${KEEP_DATA:-0} == 1 ]] || rm -rf "$DIR/data"
mkdir -p "$DIR/data" "$DIR/certs"

host_mam='' muc_mam=''
[[ $MAM == all ]] && host_mam='"mam";'
[[ $MAM == none ]] || muc_mam='modules_enabled = { "muc_mam" }'


cat >"$CFG" <<LUA
-- Written by start-prosody.sh; rewritten on every start.
run_as_root = true
pidfile = $(lua_str "$DIR/data/prosody.pid")
data_path = $(lua_str "$DIR/data")
-- Empty: no certificates, so no TLS.
certificates = $(lua_str "$DIR/certs")
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { $C2S_PORT }
component_ports = { $COMPONENT_PORT }
component_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
s2s_ports = { }
http_ports = { }
https_ports = { }
-- presence, message, iq and c2s load implicitly; messages are routed with
-- whatever children they carry (receipts, markers, reactions, ...).
modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "register"; "posix"; "vcard"; $host_mam }
-- No offline storage: a chat to a user without resources bounces
-- (unless mod_mam archives it).
modules_disabled = { "s2s"; "tls"; "offline"; }
allow_registration = true
min_seconds_between_registrations = 0
authentication = "internal_plain"
storage = "internal"
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
log = { { levels = { min = "info" }, to = "console" } }

VirtualHost "localhost"

Component "conference.localhost" "muc"
  restrict_room_creation = false
  -- A new room is usable at once; by default it stays locked until its
  -- owner submits a configuration.
  muc_room_locking = false
  $muc_mam

Component $(lua_str "$COMPONENT_DOMAIN")
  component_secret = $(lua_str "$COMPONENT_SECRET")
LUA

t0=$(now_us)
start_bg prosody "$LOGF" prosody --config "$CFG" -F
pid=$BG_PID

# Accounts, in parallel with the start (prosodyctl writes the data files).
reg_pids=()
for u in $USERS; do
  [[ $u == *:* ]] || die "PROSODY_USERS: '$u' is not user:password"
  prosodyctl --config "$CFG" register "${u%%:*}" localhost "${u#*:}" \
    >>"$DIR/register.log" 2>&1 &
  reg_pids+=("$!")
done
reg_ok=1
for p in "${reg_pids[@]}"; do wait "$p" || reg_ok=0; done

if (( ! reg_ok )) || ! wait_port "$COMPONENT_PORT" "$pid" 10 "$LOGF" ||
   ! wait_port "$C2S_PORT" "$pid" 10 "$LOGF"; then
  (( reg_ok )) || { log "error: prosodyctl register failed"; log_tail "$DIR/register.log"; }
  "$REPO/scripts/peers/stop-peers.sh" prosody >/dev/null
  exit 1
fi
echo "prosody pid=$pid ready in $(elapsed "$t0")s (c2s $C2S_PORT, component $COMPONENT_DOMAIN on $COMPONENT_PORT)"

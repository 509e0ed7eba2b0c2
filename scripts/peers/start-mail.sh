#!/usr/bin/env bash
# Starts the mail peers on 127.0.0.1: dovecot (IMAP + LMTP, the bridge's
# inbound mailbox; users in a passwd-file, mail in Maildirs owned by
# 65534) and smtp_sink.py (SMTP for the bridge's outbound mail: stores every
# message in $PEERS_DIR/mail/sink and relays it to dovecot over LMTP).
# TLS with a throw-away CA written to $PEERS_DIR/mail/tls/ca.pem on every start (clients that
# should trust it: SSL_CERT_FILE=that file): STARTTLS on the IMAP and SMTP ports, implicit TLS
# on the IMAPS and SMTPS ports; plain login stays allowed. Pid files: dovecot, smtp-sink.
# Env: MAIL_IMAP_PORT (1143), MAIL_LMTP_PORT (2424), MAIL_SMTP_PORT (2525),
#      MAIL_IMAPS_PORT (1993), MAIL_SMTPS_PORT (2465),
#      MAIL_USERS ("bridge:bridgepw alice:alicepw bob:bobpw"),
#      HELPERS_VENV (python with aiosmtpd),
#      KEEP_DATA=1 (keep the maildirs and the sink's Maildir).
set -euo pipefail
# shellcheck source=scripts/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAP_PORT=${MAIL_IMAP_PORT:-1143}
LMTP_PORT=${MAIL_LMTP_PORT:-2424}
SMTP_PORT=${MAIL_SMTP_PORT:-2525}
IMAPS_PORT=${MAIL_IMAPS_PORT:-1993}
SMTPS_PORT=${MAIL_SMTPS_PORT:-2465}
USERS=${MAIL_USERS:-bridge:bridgepw alice:alicepw bob:bobpw}
DIR=$PEERS_DIR/mail
CFG=$DIR/dovecot.conf
DOVECOT_LOG=$DIR/dovecot.log
SINK_LOG=$DIR/smtp-sink.log
# dovecot refuses uid 0 for mail: nobody/nogroup owns the maildirs.
MAIL_UID=65534
PY=$HELPERS_VENV/bin/python

if ! command -v dovecot >/dev/null || [[ ! -x /usr/lib/dovecot/lmtp ]]; then
  die "dovecot not installed: run install-peers.sh dovecot"
fi
"$PY" -c 'import aiosmtpd' 2>/dev/null ||
  die "no aiosmtpd in $HELPERS_VENV: run install-peers.sh helpers"
for name in dovecot smtp-sink; do
  if pid=$(recorded_pid "$name") && is_alive "$pid"; then
    die "$name already running (pid $pid); use restart-mail.sh or stop-peers.sh dovecot smtp-sink"
  fi
done
command -v openssl >/dev/null || die "openssl not installed: apt-get install openssl"
for port in "$IMAP_PORT" "$LMTP_PORT" "$SMTP_PORT" "$IMAPS_PORT" "$SMTPS_PORT"; do
  port_in_use "$port" && die "127.0.0.1:$port already accepts connections"
done
# Unix sockets under base_dir have a 108-byte path limit.
(( ${#DIR} < 60 )) || log "warning: $DIR is long; dovecot's socket paths may exceed 108 bytes"

if [[ ${KEEP_DATA:-0} != 1 ]]; then
  rm -rf "$DIR/maildirs" "$DIR/sink" "$DIR/state"
fi
rm -rf "$DIR/run"  # dovecot's base_dir: sockets of the last run
mkdir -p "$DIR/maildirs" "$DIR/state" "$DIR/run"

# A CA and a server certificate for 127.0.0.1 / localhost, new on every start.
tls=$DIR/tls
rm -rf "$tls" && mkdir -p "$tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=passerelle test CA" -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null ||
  die "openssl could not make the test CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tls/ext"
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
  -CAcreateserial -days 30 -extfile "$tls/ext" -out "$tls/server.pem" 2>/dev/null ||
  die "openssl could not sign the test server certificate"
chmod 644 "$tls/server.key"

# Users file, mode 644: user:{PLAIN}password::::::
users_tmp=$DIR/users.tmp
: >"$users_tmp"
for u in $USERS; do
  [[ $u == *:* && $u != *[[:space:]]* ]] || die "MAIL_USERS: '$u' is not user:password"
  name=${u%%:*}
  [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || die "MAIL_USERS: bad user name '$name'"
  printf '%s:{PLAIN}%s::::::\n' "$name" "${u#*:}" >>"$users_tmp"
  mkdir -p "$DIR/maildirs/$name"
done
chmod 644 "$users_tmp"
mv "$users_tmp" "$DIR/users"
chown -R "$MAIL_UID:$MAIL_UID" "$DIR/maildirs"

# One setting per line, in blocks too.
cat >"$CFG" <<CONF
# Written by start-mail.sh; rewritten on every start.
instance_name = peers-dovecot
base_dir = $DIR/run
state_dir = $DIR/state
protocols = imap lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <$tls/server.pem
ssl_key = <$tls/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %n
# A wrong password fails at once (default: 2 s), for quick negative tests.
auth_failure_delay = 0
log_path = /dev/stderr
info_log_path = /dev/stderr
postmaster_address = postmaster@localhost
mail_location = maildir:$DIR/maildirs/%n
first_valid_uid = 100

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $DIR/users
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_UID home=$DIR/maildirs/%n
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}

# All tests connect from 127.0.0.1; the default of 10 is too low.
protocol imap {
  mail_max_userip_connections = 100
}
CONF

t0=$(now_us)
start_bg dovecot "$DOVECOT_LOG" dovecot -F -c "$CFG"
dovecot_pid=$BG_PID
start_bg smtp-sink "$SINK_LOG" "$PY" "$REPO/scripts/peers/smtp_sink.py" \
  --listen "127.0.0.1:$SMTP_PORT" --listen-tls "127.0.0.1:$SMTPS_PORT" \
  --tls-cert "$tls/server.pem" --tls-key "$tls/server.key" \
  --maildir "$DIR/sink" --lmtp "127.0.0.1:$LMTP_PORT"
sink_pid=$BG_PID

fail() {
  "$REPO/scripts/peers/stop-peers.sh" smtp-sink dovecot >/dev/null
  exit 1
}
wait_port "$IMAP_PORT" "$dovecot_pid" 10 "$DOVECOT_LOG" || fail
wait_port "$LMTP_PORT" "$dovecot_pid" 10 "$DOVECOT_LOG" || fail
wait_port "$SMTP_PORT" "$sink_pid" 10 "$SINK_LOG" || fail
wait_port "$IMAPS_PORT" "$dovecot_pid" 10 "$DOVECOT_LOG" || fail
wait_port "$SMTPS_PORT" "$sink_pid" 10 "$SINK_LOG" || fail
# A config error can kill a process just after it bound its port.
sleep 0.2
for p in "$dovecot_pid:$DOVECOT_LOG" "$sink_pid:$SINK_LOG"; do
  if ! is_alive "${p%%:*}"; then
    log "error: pid ${p%%:*} exited after binding its port"
    log_tail "${p#*:}"
    fail
  fi
done
echo "mail pid=$dovecot_pid sink_pid=$sink_pid ready in $(elapsed "$t0")s (imap $IMAP_PORT, imaps $IMAPS_PORT, lmtp $LMTP_PORT, smtp $SMTP_PORT, smtps $SMTPS_PORT; CA $tls/ca.pem)"

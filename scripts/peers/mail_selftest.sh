#!/usr/bin/env bash
# Self-test of the mail peers: starts dovecot and the SMTP sink on their own
# ports and state directory, proves with smtplib/imaplib (mail_selftest.py)
# that mail sent to the sink lands in its Maildir and in alice's INBOX, and
# that an LMTP delivery is UNSEEN in the bridge's INBOX with IDLE offered;
# then stops both and checks that no process or port is left behind.
# Needs: install-peers.sh helpers dovecot.
# Env: MAIL_SELFTEST_IMAP_PORT (1153), MAIL_SELFTEST_LMTP_PORT (2434),
#      MAIL_SELFTEST_SMTP_PORT (2535), MAIL_SELFTEST_IMAPS_PORT (1183),
#      MAIL_SELFTEST_SMTPS_PORT (2565),
#      HELPERS_VENV (default: the one of target/peers, shared).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PEERS_DIR=$repo/target/peers-mail-selftest
export HELPERS_VENV=${HELPERS_VENV:-$repo/target/peers/helpers}
export MAIL_IMAP_PORT=${MAIL_SELFTEST_IMAP_PORT:-1153}
export MAIL_LMTP_PORT=${MAIL_SELFTEST_LMTP_PORT:-2434}
export MAIL_SMTP_PORT=${MAIL_SELFTEST_SMTP_PORT:-2535}
export MAIL_IMAPS_PORT=${MAIL_SELFTEST_IMAPS_PORT:-1183}
export MAIL_SMTPS_PORT=${MAIL_SELFTEST_SMTPS_PORT:-2565}
unset KEEP_DATA MAIL_USERS
# shellcheck source=scripts/peers/lib.sh
source "$repo/scripts/peers/lib.sh"

py=$HELPERS_VENV/bin/python
[[ -x $py ]] || die "no helpers venv at $HELPERS_VENV: run install-peers.sh helpers dovecot"

t0=$(now_us)
trap '"$REPO/scripts/peers/stop-peers.sh" smtp-sink dovecot >&2' EXIT
"$REPO/scripts/peers/start-mail.sh"

# Every process to be gone after the stop: both recorded pids and dovecot's
# children (log, config, anvil, imap-login, lmtp, ...).
watched=()
for name in dovecot smtp-sink; do
  pid=$(recorded_pid "$name") || die "no recorded pid for $name"
  watched+=("$pid")
  [[ $name == dovecot ]] || continue
  while read -r child; do
    [[ -n $child ]] && watched+=("$child")
  done < <(ps -o pid= --ppid "$pid" 2>/dev/null || true)
done

rc=0
"$py" "$REPO/scripts/peers/mail_selftest.py" \
  --smtp "127.0.0.1:$MAIL_SMTP_PORT" --imap "127.0.0.1:$MAIL_IMAP_PORT" \
  --lmtp "127.0.0.1:$MAIL_LMTP_PORT" --sink-maildir "$PEERS_DIR/mail/sink" || rc=$?
if (( rc )); then
  log_tail "$PEERS_DIR/mail/dovecot.log"
  log_tail "$PEERS_DIR/mail/smtp-sink.log"
fi
"$REPO/scripts/peers/stop-peers.sh" smtp-sink dovecot
trap - EXIT

left=()
for pid in "${watched[@]}"; do
  is_alive "$pid" && left+=("$pid")
done
for port in "$MAIL_IMAP_PORT" "$MAIL_LMTP_PORT" "$MAIL_SMTP_PORT" "$MAIL_IMAPS_PORT" "$MAIL_SMTPS_PORT"; do
  port_in_use "$port" && left+=("port $port")
done
if (( ${#left[@]} )); then
  log "error: still running after stop: ${left[*]}"
  rc=1
else
  echo "ok   stop: ${#watched[@]} processes gone, ports $MAIL_IMAP_PORT $MAIL_LMTP_PORT $MAIL_SMTP_PORT free"
fi
echo "mail self-test $( (( rc )) && echo FAILED || echo passed) in $(elapsed "$t0")s"
exit "$rc"

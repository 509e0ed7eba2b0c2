#!/usr/bin/env bash
# Restarts the mail peers (dovecot and the SMTP sink) keeping their data
# (maildirs, the sink's Maildir). Same env as start-mail.sh.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
"$here/stop-peers.sh" smtp-sink dovecot
KEEP_DATA=1 exec "$here/start-mail.sh"

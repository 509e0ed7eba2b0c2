#!/usr/bin/env bash
# Restarts Prosody keeping its data (accounts, rooms, archives). Same env as
# start-prosody.sh.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
"$here/stop-peers.sh" prosody
KEEP_DATA=1 exec "$here/start-prosody.sh"

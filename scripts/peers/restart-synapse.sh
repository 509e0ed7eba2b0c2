#!/usr/bin/env bash
# Restarts Synapse keeping its database, e.g. after an appservice
# registration changed (Synapse reads them only at startup). Same env as
# start-synapse.sh.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
"$here/stop-peers.sh" synapse
KEEP_DATA=1 exec "$here/start-synapse.sh"

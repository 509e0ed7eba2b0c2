#!/usr/bin/env bash
# Starts a throw-away Synapse on 127.0.0.1:${SYNAPSE_PORT:-8008}, server name
# "localhost", SQLite, no federation, open registration, rate limits off.
# Env: SYNAPSE_PORT, KEEP_DATA=1 (keep the database),
#      SYNAPSE_APPSERVICE_FILES (colon-separated absolute paths of
#      appservice registrations; read by Synapse only at startup),
#      SYNAPSE_ADMIN_USER / SYNAPSE_ADMIN_PASSWORD (create an admin user).
set -euo pipefail
# shellcheck source=scripts/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=${SYNAPSE_PORT:-8008}
DIR=$PEERS_DIR/synapse
CFG=$DIR/homeserver.yaml
LOGF=$DIR/synapse.log
PY=$SYNAPSE_VENV/bin/python
KEY=$REPO/scripts/peers/synapse-signing.key
URL=http://127.0.0.1:$PORT

[[ -x $PY ]] || die "no Synapse venv at $SYNAPSE_VENV: run install-peers.sh synapse"
if pid=$(recorded_pid synapse) && is_alive "$pid"; then
  die "synapse already running (pid $pid); use restart-synapse.sh or stop-peers.sh synapse"
fi
port_in_use "$PORT" && die "127.0.0.1:$PORT already accepts connections"

appservices=()
IFS=: read -r -a files <<<"${SYNAPSE_APPSERVICE_FILES:-}"
for f in "${files[@]}"; do
  [[ -n $f ]] || continue
  [[ $f == /* ]] || die "SYNAPSE_APPSERVICE_FILES: '$f' is not an absolute path"
  [[ -r $f ]] || die "SYNAPSE_APPSERVICE_FILES: cannot read '$f'"
  appservices+=("$f")
done

[[ ${KEEP_DATA:-0} == 1 ]] || rm -rf "$DIR/data"
mkdir -p "$DIR/data/media_store"
cp "$KEY" "$DIR/signing.key"
chmod 600 "$DIR/signing.key"

# Every client-facing rate limiter of Synapse 1.163, set out of reach.
nolimit='{per_second: 100000, burst_count: 1000000}'
{
  cat <<YAML
server_name: "localhost"
public_baseurl: "$URL/"
pid_file: $(yaml_str "$DIR/data/homeserver.pid")
signing_key_path: $(yaml_str "$DIR/signing.key")
media_store_path: $(yaml_str "$DIR/data/media_store")
database:
  name: sqlite3
  args:
    database: $(yaml_str "$DIR/data/homeserver.db")
listeners:
  - port: $PORT
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
registration_shared_secret: "test_shared_secret"
macaroon_secret_key: "test_macaroon_secret_key"
form_secret: "test_form_secret"
report_stats: false
enable_metrics: false
suppress_key_server_warning: true
trusted_key_servers: []
federation_domain_whitelist: []
enable_registration: true
enable_registration_without_verification: true
presence:
  enabled: false
# Cheapest bcrypt: registrations and logins cost ~0.3 s each at the default 12.
bcrypt_rounds: 4
url_preview_enabled: false
rc_message: $nolimit
rc_registration: $nolimit
rc_registration_token_validity: $nolimit
rc_login:
  address: $nolimit
  account: $nolimit
  failed_attempts: $nolimit
rc_joins:
  local: $nolimit
  remote: $nolimit
rc_joins_per_room: $nolimit
rc_invites:
  per_room: $nolimit
  per_user: $nolimit
  per_issuer: $nolimit
rc_3pid_validation: $nolimit
rc_admin_redaction: $nolimit
rc_media_create: $nolimit
rc_presence:
  per_user: $nolimit
rc_delayed_event_mgmt: $nolimit
rc_room_creation: $nolimit
rc_reports: $nolimit
rc_user_directory: $nolimit
rc_profile: $nolimit
rc_key_requests: $nolimit
rc_third_party_invite: $nolimit
YAML
  if (( ${#appservices[@]} )); then
    echo "app_service_config_files:"
    for f in "${appservices[@]}"; do echo "  - $(yaml_str "$f")"; done
  else
    echo "app_service_config_files: []"
  fi
} >"$CFG"

t0=$(now_us)
# No log_config: Synapse logs at INFO to stderr, i.e. into $LOGF.
start_bg synapse "$LOGF" "$PY" -m synapse.app.homeserver -c "$CFG"
pid=$BG_PID
if ! wait_http "$URL/health" "$pid" 90 "$LOGF"; then
  "$REPO/scripts/peers/stop-peers.sh" synapse >/dev/null
  exit 1
fi
echo "synapse pid=$pid ready in $(elapsed "$t0")s"

if [[ -n ${SYNAPSE_ADMIN_USER:-} ]]; then
  "$SYNAPSE_VENV/bin/register_new_matrix_user" -c "$CFG" --exists-ok -a \
    -u "$SYNAPSE_ADMIN_USER" -p "${SYNAPSE_ADMIN_PASSWORD:-adminpw}" "$URL" >/dev/null
  echo "synapse admin user @$SYNAPSE_ADMIN_USER:localhost"
fi

#!/usr/bin/env bash
# Runs every test: unit tests, then integration tests against a real Synapse and the real
# passerelle binary. Installs Synapse (PyPI) into target/peers on first use.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

# The tests' own peers directory and ports, so a running demo (scripts/demo.sh) is left alone;
# the Python virtualenvs are shared.
export SYNAPSE_VENV=${SYNAPSE_VENV:-$repo/target/peers/venv}
export HELPERS_VENV=${HELPERS_VENV:-$repo/target/peers/helpers}
# PASSERELLE_IT_PORT_OFFSET shifts every port, so two checkouts can run their tests at once.
export PEERS_DIR=$repo/target/peers-it
off=${PASSERELLE_IT_PORT_OFFSET:-0}
[[ $off =~ ^[0-9]+$ ]] || { echo "PASSERELLE_IT_PORT_OFFSET must be a number" >&2; exit 2; }
export SYNAPSE_PORT=$((8018 + off))
export PROSODY_C2S_PORT=$((5242 + off)) PROSODY_COMPONENT_PORT=$((5367 + off))
as_port=$((29343 + off)) control_port=$((29565 + off))
export PASSERELLE_IT_METRICS_PORT=$((29677 + off))
export MAIL_IMAP_PORT=$((1163 + off)) MAIL_LMTP_PORT=$((2444 + off)) MAIL_SMTP_PORT=$((2545 + off))
export MAIL_IMAPS_PORT=$((1173 + off)) MAIL_SMTPS_PORT=$((2555 + off))
# The bridge's mailbox, one more per email test (bridge1…), and the correspondents'.
MAIL_USERS="bridge:bridgepw alice:alicepw bob:bobpw carol:carolpw"
for i in 1 2 3 4 5 6 7 8 9; do MAIL_USERS+=" bridge$i:bridge${i}pw"; done
export MAIL_USERS
export PROSODY_COMPONENT_DOMAIN=matrix.localhost PROSODY_COMPONENT_SECRET=it-component-secret
export PASSERELLE_IT_XMPP_HOST=localhost PASSERELLE_IT_XMPP_DOMAIN=$PROSODY_COMPONENT_DOMAIN
export KANNEL_ADMIN_PORT=$((13020 + off)) KANNEL_BOX_PORT=$((13021 + off))
export KANNEL_SENDSMS_PORT=$((13033 + off)) KANNEL_SMSC_PORT=$((10020 + off))
sms_port=$((29454 + off)) sms_token=it-kannel-token
export KANNEL_POST_URL="http://127.0.0.1:$sms_port/kannel/mo?from=%p&id=%I&ts=%T&token=$sms_token"
# Kannel refuses (no route) numbers with this prefix, so a refusal can be tested.
export KANNEL_DENIED_PREFIX=+447911
# The SMPP simulator; it answers this prefix with an UNDELIV receipt.
export SMSC_SMPP_PORT=$((2795 + off)) SMSC_HTTP_PORT=$((2796 + off)) SMSC_FAIL_PREFIX=+447911
scripts/peers/install-peers.sh synapse prosody kannel helpers dovecot
cargo build --locked --bins --tests

# A configuration for the tests; generate-registration fills in fresh tokens.
it=$repo/target/it
rm -rf "$it" && mkdir -p "$it"
cat >"$it/config.yaml" <<YAML
homeserver:
  url: "http://127.0.0.1:$SYNAPSE_PORT"
  server_name: "localhost"
  max_backoff: "10s"
appservice:
  id: "passerelle-it"
  bind: "127.0.0.1:$as_port"
  url: "http://127.0.0.1:$as_port"
  as_token: "CHANGE_ME"
  hs_token: "CHANGE_ME"
  bot_localpart: "passerelle"
permissions:
  "localhost": "user"
  "@blocked:localhost": "block"
connectors:
  - type: "test"
    ghost_template: "_test_{id}"
    control_bind: "127.0.0.1:$control_port"
    echo: true
  - type: "xmpp"
    server: "127.0.0.1:$PROSODY_COMPONENT_PORT"
    domain: "$PROSODY_COMPONENT_DOMAIN"
    secret: "$PROSODY_COMPONENT_SECRET"
    muc_services: ["conference.localhost"]
  - type: "email"
    inbound:
      invite: []
    address: "bridge@localhost"
    display_name: "Mairie de Test"
    imap:
      host: "127.0.0.1"
      port: $MAIL_IMAP_PORT
      security: "plain"
      username: "bridge"
      password: "bridgepw"
      poll_interval: "5s"
    smtp:
      host: "127.0.0.1"
      port: $MAIL_SMTP_PORT
      security: "plain"
  - type: "sms"
    number: "+33100000000"
    default_region: "FR"
    webhook_bind: "127.0.0.1:$sms_port"
    webhook_url: "http://127.0.0.1:$sms_port"
    provider:
      type: "kannel"
      sendsms_url: "http://127.0.0.1:$KANNEL_SENDSMS_PORT/cgi-bin/sendsms"
      username: "bridge"
      password: "bridgepw"
      webhook_token: "$sms_token"
YAML
target/debug/passerelle generate-registration -c "$it/config.yaml" -o "$it/registration.yaml"

export SYNAPSE_APPSERVICE_FILES=$it/registration.yaml
export PASSERELLE_IT_CONFIG=$it/config.yaml
trap 'scripts/peers/stop-peers.sh' EXIT
scripts/peers/stop-peers.sh >/dev/null 2>&1 || true
scripts/peers/start-synapse.sh
scripts/peers/start-prosody.sh
scripts/peers/start-mail.sh
scripts/peers/start-kannel.sh
scripts/peers/start-smsc.sh

log=$it/cargo-test.log
status=0
cargo test --locked "$@" 2>&1 | tee "$log" || status=$?
scripts/peers/stop-peers.sh
trap - EXIT
# One closing line for every test binary together.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"

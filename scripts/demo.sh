#!/usr/bin/env bash
# A local demo of passerelle: builds it, starts a throw-away Synapse, a throw-away Prosody, a
# throw-away Kannel and passerelle with its built-in test network, its XMPP connector and its
# SMS connector, runs `passerelle doctor` and scripted round trips (Matrix ↔ test network,
# Matrix ↔ XMPP, Matrix ↔ SMS), then keeps everything running for a Matrix client, an XMPP
# client and a scripted phone until Ctrl-C.
#
# Usage: scripts/demo.sh [--check]
#   --check (or DEMO_CHECK=1): stop after the round trip; exit 0 if it all worked, else 1.
#
# State (config, registration, database, logs, Synapse's and Prosody's data, pid files) lives
# in target/demo and is recreated on every run; only the venvs of Synapse (target/peers/venv)
# and of the test helpers (target/peers/helpers) are shared with scripts/test.sh, which uses
# its own directories and ports.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

usage() { echo "usage: scripts/demo.sh [--check]   (or DEMO_CHECK=1)"; }
check=${DEMO_CHECK:-0}
for arg in "$@"; do
  case $arg in
    --check) check=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[[ $check == 1 ]] || check=0

hs_port=8008 as_port=29333 control_port=29555 c2s_port=5222 component_port=5347
# Kannel (the SMS gateway) and passerelle's SMS webhook.
kannel_admin=13000 kannel_box=13001 kannel_sendsms=13013 kannel_smsc=10000 sms_port=29444
sms_token='demo-kannel-token'
hs_url=http://127.0.0.1:$hs_port
control=http://127.0.0.1:$control_port
demo=$repo/target/demo
export SYNAPSE_VENV=${SYNAPSE_VENV:-$repo/target/peers/venv}
export HELPERS_VENV=${HELPERS_VENV:-$repo/target/peers/helpers}
export PEERS_DIR=$demo/peers
# shellcheck source=scripts/peers/lib.sh
source "$repo/scripts/peers/lib.sh"

bin=$repo/target/debug/passerelle
config=$demo/config.yaml
registration=$demo/registration.yaml
plog=$demo/passerelle.log
xmpp_domain=matrix.localhost
imap_port=1143 lmtp_port=2424 smtp_port=2525 imaps_port=1993 smtps_port=2465
# Prosody and passerelle share it; both listen on 127.0.0.1 only.
xmpp_secret='demo-component-secret'

bold='' plain=''
if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; fi
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }

# Stops passerelle (TERM, up to 15 s for its 10 s drain, then KILL), then Synapse and Prosody.
stop_all() {
  local pid i
  if pid=$(recorded_pid passerelle) && is_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < 150; i++ )); do is_alive "$pid" || break; sleep 0.1; done
    if is_alive "$pid"; then
      log "passerelle (pid $pid) still running after 15 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "stopped passerelle"
  fi
  forget_pid passerelle
  scripts/peers/stop-peers.sh smsbox bearerbox synapse prosody dovecot smtp-sink
}

cleaned=0
cleanup() {
  local rc=$?
  trap '' INT TERM
  (( cleaned )) && return
  cleaned=1
  [[ -z ${sleeper:-} ]] || kill "$sleeper" 2>/dev/null || true
  say "Stopping"
  stop_all || true
  forget_pid demo
  exit "$rc"
}

if pid=$(recorded_pid demo) && is_alive "$pid"; then
  die "a demo is already running (pid $pid); stop it with Ctrl-C or: kill $pid"
fi
# Leftovers of a demo that was killed outright (its own pid files only).
if compgen -G "$RUN_DIR/*.pid" >/dev/null; then
  log "stopping what a previous demo left running"
  stop_all || true
fi

for port in "$hs_port" "$as_port" "$control_port" "$c2s_port" "$component_port" \
  "$kannel_admin" "$kannel_box" "$kannel_sendsms" "$kannel_smsc" "$sms_port" \
  "$imap_port" "$lmtp_port" "$smtp_port" "$imaps_port" "$smtps_port"; do
  if port_in_use "$port"; then
    die "127.0.0.1:$port is already in use; stop what listens there (ss -ltnp 'sport = :$port') and retry"
  fi
done

# Fresh state on every run (logs of the last run stay until then).
rm -rf "$demo"
mkdir -p "$RUN_DIR"
echo "$$" >"$(pid_file demo)"
proc_start "$$" >"$RUN_DIR/demo.start"

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t_start=$(now_us)

say "Building passerelle and installing Synapse, Prosody and the XMPP test client"
# Debug build: from scratch on 2 cores it takes ~3 min, --release ~7-10 min; it
# shares target/debug with scripts/test.sh, and a demo does not need the speed.
cargo build --locked --bins
scripts/peers/install-peers.sh synapse prosody kannel helpers dovecot

say "Writing $config"
cat >"$config" <<YAML
# passerelle demo configuration (written by scripts/demo.sh on every run).
homeserver:
  url: "$hs_url"
  server_name: "localhost"
appservice:
  id: "passerelle-demo"
  bind: "127.0.0.1:$as_port"
  url: "http://127.0.0.1:$as_port"
  as_token: "CHANGE_ME"
  hs_token: "CHANGE_ME"
  bot_localpart: "passerelle"
database:
  path: "passerelle.db"
permissions:
  "localhost": "admin"
connectors:
  - type: "test"
    ghost_template: "_test_{id}"
    inbound:
      invite: ["@demo:localhost"]
    control_bind: "127.0.0.1:$control_port"
    echo: true
  - type: "xmpp"
    ghost_template: "_xmpp_{id}"
    server: "127.0.0.1:$component_port"
    domain: "$xmpp_domain"
    secret: "$xmpp_secret"
  - type: "email"
    inbound:
      invite: ["@demo:localhost"]
    address: "bridge@localhost"
    display_name: "Mairie (demo)"
    imap:
      host: "127.0.0.1"
      port: $imap_port
      security: "plain"
      username: "bridge"
      password: "bridgepw"
    smtp:
      host: "127.0.0.1"
      port: $smtp_port
      security: "plain"
  - type: "sms"
    inbound:
      invite: ["@demo:localhost"]
    number: "+33100000000"
    default_region: "FR"
    webhook_bind: "127.0.0.1:$sms_port"
    webhook_url: "http://127.0.0.1:$sms_port"
    provider:
      type: "kannel"
      sendsms_url: "http://127.0.0.1:$kannel_sendsms/cgi-bin/sendsms"
      username: "bridge"
      password: "bridgepw"
      webhook_token: "$sms_token"
YAML
"$bin" generate-registration -c "$config" -o "$registration"

say "Starting Synapse on $hs_url"
SYNAPSE_PORT=$hs_port SYNAPSE_APPSERVICE_FILES=$registration SYNAPSE_ADMIN_USER=demo SYNAPSE_ADMIN_PASSWORD=demo \
  scripts/peers/start-synapse.sh

say "Starting Prosody (c2s 127.0.0.1:$c2s_port, component $xmpp_domain on 127.0.0.1:$component_port)"
PROSODY_C2S_PORT=$c2s_port PROSODY_COMPONENT_PORT=$component_port \
  PROSODY_COMPONENT_DOMAIN=$xmpp_domain PROSODY_COMPONENT_SECRET=$xmpp_secret \
  PROSODY_USERS="alice:alicepw bob:bobpw carol:carolpw" PROSODY_MAM=muc KEEP_DATA=0 \
  scripts/peers/start-prosody.sh

say "Starting the mail servers (dovecot IMAP 127.0.0.1:$imap_port, SMTP 127.0.0.1:$smtp_port)"
MAIL_IMAP_PORT=$imap_port MAIL_LMTP_PORT=$lmtp_port MAIL_SMTP_PORT=$smtp_port \
  MAIL_IMAPS_PORT=$imaps_port MAIL_SMTPS_PORT=$smtps_port \
  MAIL_USERS="bridge:bridgepw alice:alicepw bob:bobpw" KEEP_DATA=0 scripts/peers/start-mail.sh

say "Starting Kannel (sendsms 127.0.0.1:$kannel_sendsms, fake operator port 127.0.0.1:$kannel_smsc)"
KANNEL_ADMIN_PORT=$kannel_admin KANNEL_BOX_PORT=$kannel_box KANNEL_SENDSMS_PORT=$kannel_sendsms \
  KANNEL_SMSC_PORT=$kannel_smsc KANNEL_DENIED_PREFIX= \
  KANNEL_POST_URL="http://127.0.0.1:$sms_port/kannel/mo?from=%p&id=%I&ts=%T&token=$sms_token" \
  scripts/peers/start-kannel.sh

# Before passerelle starts: Prosody takes one connection per component domain and refuses
# doctor's own test connection while passerelle holds it. doctor answers the homeserver's
# ping itself when passerelle is not running.
say "passerelle doctor"
if ! "$bin" doctor -c "$config" -r "$registration"; then
  die "passerelle doctor found problems (see above)"
fi

say "Starting passerelle (log: $plog)"
t0=$(now_us)
# NO_COLOR: no ANSI escapes in the log file.
start_bg passerelle "$plog" env NO_COLOR=1 "$bin" run -c "$config"
pas_pid=$BG_PID
wait_http "http://127.0.0.1:$as_port/ready" "$pas_pid" 60 "$plog" \
  || die "passerelle did not become ready"
echo "passerelle pid=$pas_pid ready in $(elapsed "$t0")s"
# The XMPP link comes up on its own, a moment after: the round trip needs it.
poll_until "$pas_pid" 30 "$plog" "passerelle's XMPP link" grep -qF 'Connected to the XMPP server' "$plog" \
  || die "passerelle did not connect to Prosody's component port 127.0.0.1:$component_port"
echo "passerelle connected to Prosody as $xmpp_domain in $(elapsed "$t0")s"

say "Round trip: a Matrix user, the test network and an XMPP user"
if ! python3 scripts/demo_roundtrip.py --homeserver "$hs_url" --control "$control" \
  --user demo --password demo \
  --xmpp-python "$HELPERS_VENV/bin/python" --xmpp-client scripts/peers/xmpp_client.py \
  --xmpp-server "127.0.0.1:$c2s_port" --xmpp-domain "$xmpp_domain" \
  --xmpp-jid alice@localhost --xmpp-password alicepw --xmpp-log "$demo/xmpp-alice.log" \
  --mail-imap "127.0.0.1:$imap_port" --mail-smtp "127.0.0.1:$smtp_port"; then
  log_tail "$plog"
  die "the round trip failed; logs: $plog, $PEERS_DIR/synapse/synapse.log," \
    "$PEERS_DIR/prosody/prosody.log and $demo/xmpp-alice.log"
fi
say "SMS round trip: demo writes to a phone through Kannel, the phone answers"
if ! python3 scripts/demo_sms.py roundtrip --smsc "127.0.0.1:$kannel_smsc" \
  --admin "127.0.0.1:$kannel_admin" --homeserver "$hs_url" --user demo --password demo; then
  log_tail "$plog"
  die "the SMS round trip failed; logs: $plog and $PEERS_DIR/kannel/"
fi
echo "everything up and checked in $(elapsed "$t_start")s"

if (( check )); then
  say "Check passed"
  exit 0
fi

cat <<EOF

${bold}passerelle is running. Try it with any Matrix client:${plain}

  Homeserver   $hs_url   (choose "custom homeserver" / "other" in the client)
  Login        demo
  Password     demo

  Clients: Element desktop (element.io), or from Debian: apt install fractal  (or nheko)

  Start a chat with @_test_<anyname>:localhost, e.g. @_test_carol:localhost:
  it is a contact on passerelle's test network and answers every message with "echo: <text>".

  Play a remote contact writing first (you get invited to a new room):
    curl -sS -H 'Content-Type: application/json' $control/inbound \\
      -d '{"from": "dave", "name": "Dave", "text": "Hello from the test network"}'
  What passerelle sent to the network:  curl -sS $control/sent

${bold}Chat over XMPP too,${plain} with any XMPP client and an account on the local Prosody:

  Account      alice@localhost, password alicepw   (also bob@localhost / bobpw, carol@localhost / carolpw)
  Server       127.0.0.1, port $c2s_port, plain connection without TLS (this Prosody has no certificate):
    profanity  (apt install profanity), in a terminal:
                 /connect alice@localhost server 127.0.0.1 port $c2s_port tls disable   (then the password)
                 /msg demo=localhost@$xmpp_domain Bonjour !
    Gajim      (apt install gajim): Add Account, tick "Advanced", Log In; on the next page
               host 127.0.0.1, port $c2s_port, connection type PLAIN; accept the insecure-connection warning
    (Dino never connects without TLS: use one of those.)

  Write to demo=localhost@$xmpp_domain: it is @demo:localhost, who reads and answers in Matrix.
  From Matrix, start a chat with @_xmpp_bob=40localhost:localhost to write to bob@localhost
  (sign bob in first: this Prosody keeps no offline messages, so one to an absent user bounces
  and the Matrix room gets a notice saying so).

  Or play an XMPP user from a script (JSON lines in and out; commands at the top of the script):
    $HELPERS_VENV/bin/python scripts/peers/xmpp_client.py \\
      --jid bob@localhost --password bobpw --server 127.0.0.1:$c2s_port
    {"cmd": "send", "to": "demo=localhost@$xmpp_domain", "body": "Hello from XMPP"}

${bold}And by email,${plain} with any mail program (IMAP 127.0.0.1:$imap_port, SMTP 127.0.0.1:$smtp_port, no TLS):

  Accounts     alice / alicepw, bob / bobpw (addresses alice@localhost, bob@localhost)
  Write to     bridge@localhost: a room opens for demo with the sender's ghost; each mail thread
               is a Matrix thread, and an answer in the thread goes back as a reply mail.
  From Matrix, start a chat with @_email_bob=40localhost:localhost to write to bob@localhost.
  Or from a terminal:
    printf 'From: bob@localhost\nTo: bridge@localhost\nSubject: Hello\n\nHello by mail\n' |
      $HELPERS_VENV/bin/python scripts/peers/mail_client.py send --smtp 127.0.0.1:$smtp_port \
        --from bob@localhost --to bridge@localhost

${bold}And SMS,${plain} through the local Kannel: passerelle's number is +33100000000, and you play
  the phones and their operator from a terminal (SMS passerelle sends are printed there; each
  line you type is an SMS to passerelle from --phone):
    python3 scripts/demo_sms.py phone --phone +33612345678
  From Matrix, start a chat with @_sms_+33612345678:localhost (or any valid number) to text it;
  an SMS from a number nobody has talked to yet opens a new room for demo. STOP from a phone
  opts it out (passerelle then refuses to text it, saying so), START opts it back in.

  Logs:   $plog
          $PEERS_DIR/synapse/synapse.log
          $PEERS_DIR/prosody/prosody.log
          $PEERS_DIR/kannel/
  Config: $config

Press Ctrl-C to stop.
EOF

# Wait for a signal; stop if passerelle, Synapse or Prosody dies on its own.
while true; do
  if ! is_alive "$pas_pid"; then
    log_tail "$plog"
    die "passerelle exited"
  fi
  if ! spid=$(recorded_pid synapse) || ! is_alive "$spid"; then
    log_tail "$PEERS_DIR/synapse/synapse.log"
    die "Synapse exited"
  fi
  if ! xpid=$(recorded_pid prosody) || ! is_alive "$xpid"; then
    log_tail "$PEERS_DIR/prosody/prosody.log"
    die "Prosody exited"
  fi
  sleep 1 &
  sleeper=$!
  wait "$sleeper" || true
  sleeper=
done

#!/usr/bin/env bash
# Installs the test peers (default: synapse). Idempotent: installs only what
# is missing. Usage: install-peers.sh [synapse|helpers|prosody|dovecot|kannel|postfix]...
set -euo pipefail
# shellcheck source=scripts/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SYNAPSE_VERSION=1.163.2
VENV=$SYNAPSE_VENV
# Test-helper clients: XMPP, SMTP sink, SMPP.
HELPER_PKGS=(slixmpp==1.17.0 aiosmtpd==1.4.6 smpplib==2.2.4)

t0=$(now_us)
peers=("$@")
(( ${#peers[@]} )) || peers=(synapse)

apt_pkgs=()
want_postfix=0

# need_apt PKGS... -- FILES... : queue PKGS unless every FILE exists
# (a name without a slash is looked up on PATH).
need_apt() {
  local pkgs=() f missing=0
  while [[ $1 != -- ]]; do pkgs+=("$1"); shift; done
  shift
  for f in "$@"; do
    if [[ $f == */* ]]; then [[ -e $f ]] || missing=1
    else command -v "$f" >/dev/null || missing=1
    fi
  done
  (( missing )) && apt_pkgs+=("${pkgs[@]}")
  return 0
}

# make_venv DIR : creates a venv at DIR; one whose interpreter no longer
# runs is rebuilt.
make_venv() {
  if ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt_install python3-venv
  fi
  if [[ -e $1 ]] && ! "$1/bin/python" -c '' 2>/dev/null; then
    rm -rf "$1"
  fi
  [[ -x $1/bin/python ]] || python3 -m venv "$1"
}

install_synapse() {
  local py=$VENV/bin/python
  # The distribution's version: synapse.__version__ gains git details of
  # whatever repository the venv sits in.
  if [[ -x $py ]] && "$py" -c "import sys, synapse, importlib.metadata as m
sys.exit(m.version('matrix-synapse') != '$SYNAPSE_VERSION')" 2>/dev/null; then
    log "synapse $SYNAPSE_VERSION: already installed"
    return
  fi
  make_venv "$VENV"
  log "synapse $SYNAPSE_VERSION: pip install into $VENV"
  PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$VENV/bin/pip" install -q "matrix-synapse==$SYNAPSE_VERSION"
}

install_helpers() {
  local venv=$HELPERS_VENV py=$HELPERS_VENV/bin/python
  # Installed distribution versions must match the pins exactly.
  if [[ -x $py ]] && "$py" - "${HELPER_PKGS[@]}" 2>/dev/null <<'PY'
import sys, importlib.metadata as m
sys.exit(any(m.version(n) != v for n, v in (a.split("==") for a in sys.argv[1:])))
PY
  then
    log "helpers ${HELPER_PKGS[*]}: already installed"
    return
  fi
  make_venv "$venv"
  log "helpers: pip install ${HELPER_PKGS[*]} into $venv"
  PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$venv/bin/pip" install -q "${HELPER_PKGS[@]}"
}

apt_updated=0
apt_install() {
  local policy=/usr/sbin/policy-rc.d backup=
  export DEBIAN_FRONTEND=noninteractive
  if (( ! apt_updated )); then
    apt-get update -qq
    apt_updated=1
  fi
  # Packaged daemons must not start and take the test ports: exit 101 for
  # the duration of the install, then restore whatever was there.
  if [[ -e $policy ]]; then
    backup=$(mktemp)
    cp -p "$policy" "$backup"
  fi
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  local rc=0
  apt-get install -y -qq --no-install-recommends "$@" || rc=$?
  if [[ -n $backup ]]; then
    cp -p "$backup" "$policy"
    rm -f "$backup"
  else
    rm -f "$policy"
  fi
  return "$rc"
}

for p in "${peers[@]}"; do
  case $p in
    synapse|helpers) ;;
    prosody) need_apt prosody lua-unbound -- prosody prosodyctl ;;
    dovecot) need_apt dovecot-imapd dovecot-lmtpd openssl -- dovecot /usr/lib/dovecot/lmtp openssl ;;
    kannel)  need_apt kannel kannel-extras -- bearerbox smsbox /usr/lib/kannel/test/fakesmsc ;;
    postfix) need_apt postfix -- /usr/lib/postfix/sbin/master; want_postfix=1 ;;
    *) die "unknown peer '$p' (known: synapse helpers prosody dovecot kannel postfix)" ;;
  esac
done

if (( ${#apt_pkgs[@]} )); then
  if (( want_postfix )); then
    # No debconf dialog and no /etc/postfix/main.cf: the start script brings its own.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  fi
  log "apt: installing ${apt_pkgs[*]}"
  apt_install "${apt_pkgs[@]}"
fi

for p in "${peers[@]}"; do
  case $p in
    synapse) install_synapse ;;
    helpers) install_helpers ;;
  esac
done

log "install-peers: ${peers[*]} done in $(elapsed "$t0")s"

# shellcheck shell=bash
# Helpers sourced by the peer scripts: paths, pid files, readiness polling.
# Every peer binds to 127.0.0.1; state lives under $PEERS_DIR.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PEERS_DIR=${PEERS_DIR:-$REPO/target/peers}
case $PEERS_DIR in
  /*) ;;
  *) PEERS_DIR=$PWD/$PEERS_DIR ;;  # config files need absolute paths
esac
RUN_DIR=$PEERS_DIR/run
# Synapse's virtualenv; several PEERS_DIRs (tests, demo) may share one.
SYNAPSE_VENV=${SYNAPSE_VENV:-$PEERS_DIR/venv}
# Test-helper clients (slixmpp, aiosmtpd, smpplib); shareable the same way.
HELPERS_VENV=${HELPERS_VENV:-$PEERS_DIR/helpers}
export PEERS_DIR SYNAPSE_VENV HELPERS_VENV
mkdir -p "$RUN_DIR"

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Microseconds since the epoch (EPOCHREALTIME, any locale's decimal mark).
now_us() { local t=$EPOCHREALTIME; printf '%s' "${t/[.,]/}"; }

# Seconds (integer or decimal, e.g. 90 or 0.5) to microseconds.
secs_to_us() {
  [[ $1 =~ ^([0-9]+)?(\.([0-9]{0,6}))?$ && -n $1 ]] || die "bad duration '$1'"
  local frac=${BASH_REMATCH[3]}000000
  printf '%d' $(( 10#${BASH_REMATCH[1]:-0} * 1000000 + 10#${frac:0:6} ))
}

# Seconds elapsed since a now_us value, as X.XX.
elapsed() {
  local d=$(( $(now_us) - $1 ))
  printf '%d.%02d' $(( d / 1000000 )) $(( d % 1000000 / 10000 ))
}

# True if the process exists and is not a zombie (late reaping makes
# `kill -0` succeed on dead daemons).
is_alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  st=${st//[[:space:]]/}
  [[ -n $st && $st != Z* ]]
}

# True if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Start time of a process in clock ticks since boot (field 22 of stat).
proc_start() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  printf '%s' "${20}"
}

pid_file() { printf '%s/%s.pid' "$RUN_DIR" "$1"; }

# Prints the recorded pid of NAME if that very process still exists (zombie
# included). A start-time record guards against a reused pid.
recorded_pid() {
  local f pid want got
  f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  got=$(proc_start "$pid") || return 1
  want=$(cat "$RUN_DIR/$1.start" 2>/dev/null) || want=$got
  [[ $got == "$want" ]] || return 1
  printf '%s' "$pid"
}

forget_pid() { rm -f "$(pid_file "$1")" "$RUN_DIR/$1.start"; }

# start_bg NAME LOG CMD... : run CMD detached (own session, stdin closed,
# output to LOG), record its pid; the pid is left in BG_PID.
start_bg() {
  local name=$1 logf=$2 old
  shift 2
  if old=$(recorded_pid "$name") && is_alive "$old"; then
    die "$name already running (pid $old); stop it with stop-peers.sh $name"
  fi
  forget_pid "$name"
  mkdir -p "$(dirname "$logf")"
  if [[ $- != *m* ]] && command -v setsid >/dev/null; then
    # Without job control the child is no group leader, so setsid execs in
    # place and $! stays the daemon's pid.
    nohup setsid "$@" >"$logf" 2>&1 </dev/null &
  else
    nohup "$@" >"$logf" 2>&1 </dev/null &
  fi
  BG_PID=$!
  printf '%s\n' "$BG_PID" >"$(pid_file "$name")"
  proc_start "$BG_PID" >"$RUN_DIR/$name.start" || true
}

# Prints the end of a log to stderr.
log_tail() {
  [[ -f $1 ]] || return 0
  log "---- last lines of $1 ----"
  tail -n 40 "$1" >&2
  log "----"
}

# poll_until PID TIMEOUT LOG WHAT CMD... : run CMD every 50 ms until it
# succeeds; fail early if PID died, or after TIMEOUT seconds.
poll_until() {
  local pid=$1 timeout=$2 logf=$3 what=$4 t0 limit
  shift 4
  limit=$(secs_to_us "$timeout") || return 1
  t0=$(now_us)
  while ! "$@"; do
    if ! is_alive "$pid"; then
      log "error: pid $pid exited while waiting for $what"
      log_tail "$logf"
      return 1
    fi
    if (( $(now_us) - t0 > limit )); then
      log "error: $what not ready after ${timeout}s"
      log_tail "$logf"
      return 1
    fi
    sleep 0.05
  done
}

# wait_port PORT PID TIMEOUT LOG
wait_port() {
  poll_until "$2" "$3" "$4" "port $1" port_in_use "$1"
}

http_200() {
  [[ $(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null) == 200 ]]
}

# wait_http URL PID TIMEOUT LOG : waits for GET URL to answer 200.
wait_http() {
  poll_until "$2" "$3" "$4" "$1" http_200 "$1"
}

# Single-quoted YAML scalar.
yaml_str() { local s=${1//\'/\'\'}; printf "'%s'" "$s"; }

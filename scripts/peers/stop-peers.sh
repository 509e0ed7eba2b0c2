#!/usr/bin/env bash
# Stops peers started by the start-*.sh scripts, by recorded pid only:
# TERM, wait up to 10 s, then KILL. Usage: stop-peers.sh [NAME]... (default: all)
set -euo pipefail
# shellcheck source=scripts/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Stopped in an earlier round than the rest: smsbox (and fakesmsc) re-exec
# themselves under a new pid if bearerbox goes first.
FIRST=(fakesmsc smsbox)

names=("$@")
if (( ! ${#names[@]} )); then
  for f in "$RUN_DIR"/*.pid; do
    [[ -e $f ]] || continue
    f=${f##*/}
    names+=("${f%.pid}")
  done
fi

# stop_round NAME... : TERM all at once, poll every 0.1 s, KILL after 10 s.
stop_round() {
  local name pid pids=() left i
  (( $# )) || return 0
  for name in "$@"; do
    if pid=$(recorded_pid "$name") && is_alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      stopped+=("$name")
    fi
  done
  for (( i = 0; i < 100; i++ )); do
    left=()
    for pid in "${pids[@]}"; do is_alive "$pid" && left+=("$pid"); done
    (( ${#left[@]} )) || break
    sleep 0.1
  done
  for pid in "${left[@]}"; do
    log "pid $pid still alive after 10s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  done
  for name in "$@"; do forget_pid "$name"; done
}

t0=$(now_us)
stopped=() early=() late=()
for n in "${names[@]}"; do
  if [[ " ${FIRST[*]} " == *" $n "* ]]; then early+=("$n"); else late+=("$n"); fi
done
stop_round "${early[@]}"
stop_round "${late[@]}"
if (( ${#stopped[@]} )); then
  echo "stopped ${stopped[*]} in $(elapsed "$t0")s"
else
  echo "no recorded peer running${names[*]:+ (${names[*]})}"
fi

#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for a bounded time with libFuzzer, starting from
# the seeds in fuzz/seeds and the corpus of earlier runs (fuzz/corpus, not committed).
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET (60)] [TARGET...]
# A crash stops with a non-zero exit; its input is in fuzz/artifacts/<target>/. Reproduce with
#   cargo fuzz run <target> fuzz/artifacts/<target>/<file>
# then turn it into a regression test next to the code that crashed.
# cargo fuzz needs nightly features: on a stable toolchain RUSTC_BOOTSTRAP=1 unlocks them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-60}
shift || true
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2; }
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
targets=("$@")
if (( ! ${#targets[@]} )); then
  mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi
for t in "${targets[@]}"; do
  (cd fuzz && cargo fuzz build "$t" >/dev/null 2>&1) || { echo "fuzz target $t does not build: run (cd fuzz && cargo fuzz build $t)" >&2; exit 1; }
done
failed=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  echo "==> $t for ${seconds}s"
  rc=0
  (cd fuzz && cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -max_len=1048576 -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1) >"fuzz/$t.log" 2>&1 || rc=$?
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^Done [0-9]+ runs" "fuzz/$t.log" || true
  if (( rc )); then
    failed+=("$t")
    grep -E "panicked at|^==[0-9]+==ERROR|^SUMMARY|Test unit written" "fuzz/$t.log" | head -5 >&2 || true
  fi
done
if (( ${#failed[@]} )); then
  echo "crashes in: ${failed[*]} (inputs under fuzz/artifacts/, logs fuzz/<target>.log)" >&2
  exit 1
fi
echo "no crash in ${#targets[@]} targets, ${seconds}s each"

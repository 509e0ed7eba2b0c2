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
failed=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  echo "==> $t for ${seconds}s"
  if ! cargo fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$seconds" -max_len=1048576 -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 2>&1 | tee "fuzz/$t.log" | grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY)"; then
    :
  fi
  if grep -qE "^==[0-9]+== ?ERROR|panicked at|deadly signal|SUMMARY: libFuzzer" "fuzz/$t.log"; then
    failed+=("$t")
  fi
done
if (( ${#failed[@]} )); then
  echo "crashes in: ${failed[*]} (inputs under fuzz/artifacts/, logs fuzz/<target>.log)" >&2
  exit 1
fi
echo "no crash in ${#targets[@]} targets, ${seconds}s each"

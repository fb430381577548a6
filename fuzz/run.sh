#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), LANES at a time (default 2), on the
# stable toolchain (cargo-fuzz with --sanitizer none). New inputs go to corpus/<target>/ (not
# committed); a finding stops its target and is left in artifacts/<target>/.
#
#   fuzz/run.sh [SECONDS] [LANES] [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
lanes="${2:-2}"
shift $(( $# > 2 ? 2 : $# )) || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo fuzz build --sanitizer none
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
# cargo-fuzz builds into CARGO_TARGET_DIR when set (relative to fuzz/, where it runs), else
# fuzz/target.
bin="${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release"
mkdir -p logs
run() {
  local t=$1
  mkdir -p "corpus/$t" "artifacts/$t"
  if "$bin/$t" "corpus/$t" "seeds/$t" -max_total_time="$seconds" -artifact_prefix="artifacts/$t/" \
      -print_final_stats=1 > "logs/$t.log" 2>&1; then
    echo "$t: no finding in ${seconds}s ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$') runs)"
  else
    echo "$t: FINDING, see logs/$t.log and artifacts/$t/"
    return 1
  fi
}
status=0
pids=()
for t in "${targets[@]}"; do
  run "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$lanes" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit "$status"

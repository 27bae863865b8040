#!/usr/bin/env bash
# Benchmark: resident memory of an idle `oc-goal` (empty embedded board, polling).
# Run: bench/idle_rss.sh   (builds the release binary; results in docs/benchmarks.md)
# Samples VmRSS of 5 fresh lane processes after their first cycles and prints the median.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin oc-goal
bin="$root/target/release/oc-goal"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'board: {backend: local}\nagent: {backend: command, command: [/bin/true]}\n' > "$work/config.yaml"

samples=()
for i in 1 2 3 4 5; do
    OPERATIONS_CENTER_CONFIG="$work/config.yaml" OPERATIONS_CENTER_STATE_DIR="$work/state" \
    OPERATIONS_CENTER_WATCH_INTERVAL_GOAL_SECONDS=5 \
        "$bin" --slot "bench$i" 2>/dev/null &
    pid=$!
    # Idle = after startup housekeeping and a couple of polls.
    sleep 12
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
    kill -TERM "$pid"
    wait "$pid" || true
    samples+=("$rss")
    echo "run $i: VmRSS ${rss} KiB (peak ${hwm} KiB)"
done
median=$(printf '%s\n' "${samples[@]}" | sort -n | sed -n 3p)
echo "median idle VmRSS: ${median} KiB ($(awk -v k="$median" 'BEGIN {printf "%.2f", k/1024}') MiB)"

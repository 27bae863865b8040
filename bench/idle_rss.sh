#!/usr/bin/env bash
# Benchmark: resident memory of idle lanes (`oc-goal`, `oc-review`) on an empty embedded
# board, polling every 5 s.
# Run: bench/idle_rss.sh [DIR...]   (results in docs/benchmarks.md)
# Each DIR holds an `oc-goal` and an `oc-review` binary (default: this tree's release build,
# built first); with several DIRs the rounds alternate between them, so builds are compared
# side by side under the same load. Each round starts a fresh lane, reads VmRSS and Pss
# after 12 s (start-up housekeeping and a couple of polls), and stops it. Prints medians.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dirs=("$@")
if [[ ${#dirs[@]} -eq 0 ]]; then
    cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin oc-goal --bin oc-review
    dirs=("$root/target/release")
fi
rounds=${ROUNDS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The review lane needs a GitHub token and API root; with no await_review repo it never
# calls them.
printf 'board: {backend: local}\nagent: {backend: command, command: [/bin/true]}\ngit: {token_env: OC_BENCH_TOKEN, api_base_url: "http://127.0.0.1:9"}\n' \
    > "$work/config.yaml"

declare -A rss pss
for round in $(seq 1 "$rounds"); do
    for dir in "${dirs[@]}"; do
        for lane in oc-goal oc-review; do
            args=()
            [[ $lane == oc-goal ]] && args=(--slot "bench$round")
            rm -rf "$work/state"
            OC_BENCH_TOKEN=unused OPERATIONS_CENTER_CONFIG="$work/config.yaml" \
            OPERATIONS_CENTER_STATE_DIR="$work/state" \
            OPERATIONS_CENTER_WATCH_INTERVAL_GOAL_SECONDS=5 \
            OPERATIONS_CENTER_WATCH_INTERVAL_REVIEW_SECONDS=5 \
                "$dir/$lane" "${args[@]}" 2>/dev/null &
            pid=$!
            sleep 12
            r=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
            p=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
            kill -TERM "$pid"
            wait "$pid" || true
            rss[$dir/$lane]+="$r "
            pss[$dir/$lane]+="$p "
            echo "round $round: $dir/$lane VmRSS $r KiB, Pss $p KiB"
        done
    done
done

median() { printf '%s\n' $1 | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo
echo "| binary | lane | VmRSS median | Pss median | VmRSS range |"
echo "|---|---|---:|---:|---:|"
for dir in "${dirs[@]}"; do
    for lane in oc-goal oc-review; do
        m=$(median "${rss[$dir/$lane]}")
        p=$(median "${pss[$dir/$lane]}")
        lo=$(printf '%s\n' ${rss[$dir/$lane]} | sort -n | head -1)
        hi=$(printf '%s\n' ${rss[$dir/$lane]} | sort -n | tail -1)
        printf '| %s | %s | %s KiB (%s MiB) | %s KiB | %s–%s KiB |\n' "$dir" "$lane" "$m" \
            "$(awk -v k="$m" 'BEGIN {printf "%.2f", k/1024}')" "$p" "$lo" "$hi"
    done
done

#!/bin/bash
# A signed delivery's latency at oc-ci-webhook while 2,000 idle connections are open
# (issue 15 item 6), before and after the eviction of idle connections, side by side in one
# run: both release binaries are built from their commits (the baseline in a temporary git
# worktree, same target directory), then bench/idle_connections.rs alternates them.
# Settings (environment): BASE (baseline commit, default: the commit before the eviction),
# IDLE (default 2000), ROUNDS (default 5), SOURCES (default 8). A baseline round can take
# ~80 s (it answers only after the idle connections ahead of it hit the 10 s header
# timeout, 256 at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BASE:-$(git log --format=%H -1 --grep='idle connections no longer starve')^}
OUT=target/bench/idle
mkdir -p "$OUT"

cargo build --release --quiet --bin oc-ci-webhook
cp target/release/oc-ci-webhook "$OUT/oc-ci-webhook.after"

SRC=$PWD/target/bench/idle-baseline-src
git worktree remove --force "$SRC" 2>/dev/null || true
git worktree add --detach --quiet "$SRC" "$BASE"
trap 'git worktree remove --force "$SRC"' EXIT
# Same target directory: the dependencies are built once for both.
(cd "$SRC" && CARGO_TARGET_DIR="$PWD/../../../target" cargo build --release --quiet --bin oc-ci-webhook)
cp target/release/oc-ci-webhook "$OUT/oc-ci-webhook.before"

cargo bench --quiet --bench idle_connections -- \
    "before=$OUT/oc-ci-webhook.before" "after=$OUT/oc-ci-webhook.after"

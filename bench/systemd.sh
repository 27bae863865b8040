#!/usr/bin/env bash
# Benchmark: the installed suite idle under a real systemd (shared/tools/oc-sandbox).
# Builds and installs the .deb, enables three goal lanes on an empty board, and after
# 20 s reads each unit's VmRSS (MemoryCurrent when the sandbox has a memory controller),
# then prints `systemd-analyze security` exposure for every service unit.
# Run as root: bench/systemd.sh   (results in docs/benchmarks.md)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SB=${OC_SANDBOX_TOOL:-$root/../shared/tools/oc-sandbox}
export OC_SANDBOX_NAME=oc-bench OC_SANDBOX_EXTRA_PACKAGES=${OC_SANDBOX_EXTRA_PACKAGES:-git}
X() { "$SB" exec "$@"; }
trap '"$SB" down >/dev/null 2>&1 || true' EXIT

"$root/packaging/build-deb.sh" >/dev/null
deb=$(ls -t "$root"/target/debian/operations-center_*.deb | head -n1)
"$SB" create >/dev/null
"$SB" down >/dev/null 2>&1 || true
"$SB" up >/dev/null
"$SB" install-deb "$deb" >/dev/null
X systemctl enable --now oc-goal@slot1 oc-goal@slot2 oc-goal@slot3 2>/dev/null
sleep 20

echo "idle RSS under systemd ($(basename "$deb"), empty embedded board, 20 s after start)"
printf '%-26s %8s %14s %12s\n' UNIT PID "VmRSS (KiB)" MemoryCurrent
total=0
for unit in oc-goal@slot1.service oc-goal@slot2.service oc-goal@slot3.service; do
    pid=$(X systemctl show -p MainPID --value "$unit")
    rss=$(X awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    mem=$(X systemctl show -p MemoryCurrent --value "$unit")
    total=$((total + rss))
    printf '%-26s %8s %14s %12s\n' "$unit" "$pid" "$rss" "$mem"
done
printf '%-26s %8s %14s\n' "total (3 lanes)" "" "$total"
echo "(oc.target and oc-janitor.timer hold no process; oc-janitor.service is a oneshot)"
echo
echo "systemd-analyze security (exposure: 0 = locked down … 10 = unprotected)"
for unit in oc-goal@slot1.service oc-review.service oc-janitor.service oc-ci-webhook.service oc-ingest.service oc-ingest-tail.service; do
    X systemd-analyze security --no-pager "$unit" | tail -n1
done

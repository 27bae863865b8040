# Shared helpers for the end-to-end tests under a real systemd (sourced, not run).
# X = run inside the sandbox; waitfor = poll with a deadline; check = record PASS/FAIL.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SB=${OC_SANDBOX_TOOL:-$ROOT/../shared/tools/oc-sandbox}
export OC_SANDBOX_NAME=${OC_SANDBOX_NAME:-oc-e2e}
# The .deb depends on git; the sandbox has no network, so git is baked into the image.
export OC_SANDBOX_EXTRA_PACKAGES=${OC_SANDBOX_EXTRA_PACKAGES:-git}
PASS=0 FAIL=0

X()       { "$SB" exec "$@"; }
XS()      { "$SB" exec /bin/sh -c "$1"; }
prop()    { X systemctl show --value -p "$2" "$1"; }
section() { printf '\n=== %s\n' "$*"; }
ok()      { echo "PASS: $*"; PASS=$((PASS + 1)); }
bad()     { echo "FAIL: $*"; FAIL=$((FAIL + 1)); }
check()   { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
waitfor() { local t=$1; shift; local end=$((SECONDS + t))
            until "$@" >/dev/null 2>&1; do ((SECONDS < end)) || return 1; sleep 0.3; done; }
task_state() { X oc task show "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
state_is()   { [ "$(task_state "$1")" = "$2" ]; }
comments_of(){ X oc task show "$1" --json | python3 -c 'import json,sys; print("\n".join(c["body"] for c in json.load(sys.stdin)["comments"]))'; }

# Helpers are used inside `bash -c` checks too.
export SB
export -f X XS prop waitfor task_state state_is comments_of

finish() {
  echo
  echo "$PASS passed, $FAIL failed"
  ((FAIL == 0))
}

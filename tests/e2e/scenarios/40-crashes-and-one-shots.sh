# Issue 15, items 4 and 17, under systemd: a lane killed -9 three times mid-run (restarted
# by systemd each time) leaves three interrupted, uncharged executions and no retry-cap
# block; a one-shot `oc run-next` is no dead lane for heartbeat-check.
section "three kill -9 mid-run are no attempts; one-shot runs are not dead lanes"
# The Plane section left a revoked key: back to the embedded board.
"$SB" cp "$ROOT/tests/e2e/config.yaml" /etc/operations-center/config.yaml
X systemctl reset-failed oc-goal@slot1 >/dev/null 2>&1
X systemctl restart oc-goal@slot1
check "slot1 back on the embedded board" waitfor 30 X systemctl is-active --quiet oc-goal@slot1
crashy=$(X oc task add --repo demo --title "Crashes thrice" --body "SLOW: a note the lane dies over three times.")
for n in 1 2 3; do
  check "crash $n: the agent runs" waitfor 60 X test -e "/srv/git/slow-$crashy.pid"
  pid=$(prop oc-goal@slot1 MainPID); restarts=$(prop oc-goal@slot1 NRestarts)
  X kill -9 "$pid"
  # The agent stalls while its marker is missing: two more crashes, then let it finish.
  [ "$n" = 3 ] || X rm -f "/srv/git/slow-$crashy.pid"
  check "crash $n: systemd restarted the lane" \
    waitfor 30 bash -c "[ \$(X systemctl show --value -p NRestarts oc-goal@slot1) -gt $restarts ]"
done
check "after three crashes the task still runs to Review (not Blocked retry_cap_exceeded)" \
  waitfor 90 state_is "$crashy" Review
executions_of() { X oc task show "$1" --json | python3 -c 'import json,sys; print("\n".join("%s %s" % (e["outcome"], e["charged"]) for e in json.load(sys.stdin)["executions"]))'; }
execs=$(executions_of "$crashy")
echo "$execs"
check "three executions interrupted and not charged, then the real one" \
  [ "$execs" = "$(printf 'interrupted False\ninterrupted False\ninterrupted False\nsuccess True')" ]
# Disabled, not just stopped: an enabled lane that is down is rightly a dead lane.
X systemctl disable --now oc-goal@slot1 >/dev/null 2>&1

by_hand=$(X oc task add --repo demo --title "By hand" --body "Write a note by hand.")
check "oc run-next runs it" bash -c "X oc run-next | grep -q '^executed $by_hand: Review'"
hb=$(X runuser -u nobody -- oc heartbeat-check); rc=$?
echo "$hb"
check "heartbeat-check exits 0 after a one-shot run" [ "$rc" = 0 ]
check "and does not name the one-shot lane" bash -c "! grep -q 'goal@cli' <<<'$hb'"
check "oc status shows it as a finished run" \
  bash -c "X runuser -u nobody -- oc status | grep -Eq '^goal@cli +- +finished'"

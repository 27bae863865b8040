# Issue 15 items 9 and 12 under systemd: a wrong Plane project is a configuration error
# (exit 78, no restart, the setting named in the journal), and a rate-limit wait shows in
# the unit's status while the watchdog keeps the lane alive.
section "Plane in real life: a wrong project id (78), a rate-limit wait in STATUS="
XS 'cp /etc/operations-center/config.yaml /root/config.before-40 && cp /etc/operations-center/credentials/plane-token /root/plane-token.before-40'
# A fake Plane of its own, with a tight budget: 6 requests a minute (the wrong-project
# checks below use them all).
X systemd-run --quiet --unit=fake-plane-40 /usr/local/bin/fake-plane 127.0.0.1:8701 6
check "the tight fake Plane answers" waitfor 15 XS 'curl -s -o /dev/null http://127.0.0.1:8701/'
XS "printf '%s\n' plane_api_0123456789abcdef0123456789abcdef > /etc/operations-center/credentials/plane-token"
board40() {
  XS "sed 's|^board: .*|board: {backend: plane, base_url: \"http://127.0.0.1:8701\", workspace_slug: oc-demo, project_id: $1, credential: plane-token, claim_settle_ms: 200}|' -i /etc/operations-center/config.yaml"
}
board40 0f0f0f0f-1111-4222-8333-444455556666
X systemctl reset-failed oc-goal@slot1 >/dev/null 2>&1
restarts=$(prop oc-goal@slot1 NRestarts)
X systemctl restart oc-goal@slot1
check "a wrong project id stops the lane with status 78 (not 77)" \
  waitfor 30 XS 'test "$(systemctl show --value -p ExecMainStatus oc-goal@slot1)" = 78 && test "$(systemctl is-active oc-goal@slot1)" = failed'
sleep 3
check "and systemd does not restart it (RestartPreventExitStatus=78)" \
  XS "test \"\$(systemctl show --value -p NRestarts oc-goal@slot1)\" = $restarts"
check "the journal names board.project_id (EVENT=config_invalid)" \
  bash -c "X journalctl -u oc-goal@slot1 -o cat --no-pager EVENT=config_invalid | grep -q 'board.project_id is wrong'"
X oc doctor >"$WORK/doctor-40.txt"
check "oc doctor: key accepted, workspace found, board.project_id wrong" \
  bash -c "grep -q 'key accepted' '$WORK/doctor-40.txt' && grep -q 'ok    workspace oc-demo' '$WORK/doctor-40.txt' && grep -q 'FAIL  board.project_id is wrong' '$WORK/doctor-40.txt'"

# The right project: the budget is spent, so Plane throttles it.
board40 2d7c9e41-5a3b-4c6d-8e9f-0a1b2c3d4e5f
X systemctl reset-failed oc-goal@slot1 >/dev/null 2>&1
X systemctl restart oc-goal@slot1
check "a rate-limit wait shows in the unit's status" \
  waitfor 40 bash -c "X systemctl show --value -p StatusText oc-goal@slot1 | grep -q \"waiting [0-9]*s for Plane's rate limit (Retry-After)\""
check "and once in the journal with its length (EVENT=plane_rate_limited)" \
  bash -c "X journalctl -u oc-goal@slot1 -o json --no-pager EVENT=plane_rate_limited | grep -q '\"WAIT_SECONDS\":\"[0-9]'"
check "the lane stays up through the wait (watchdog pinged)" \
  waitfor 90 bash -c "X systemctl show --value -p StatusText oc-goal@slot1 | grep -q '^cycle [0-9]* · idle'"
check "without a restart" XS "test \"\$(systemctl show --value -p NRestarts oc-goal@slot1)\" = $restarts && systemctl is-active --quiet oc-goal@slot1"

X systemctl stop oc-goal@slot1 fake-plane-40 >/dev/null 2>&1
XS 'cp /root/config.before-40 /etc/operations-center/config.yaml && cp /root/plane-token.before-40 /etc/operations-center/credentials/plane-token'
X systemctl reset-failed oc-goal@slot1 >/dev/null 2>&1

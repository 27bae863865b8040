# A repository outside the unit's ReadWritePaths= is read-only for the lane (ProtectSystem=
# strict): the push fails, and the task's result names the path and the drop-in that fixes it.
section "push into a repository outside ReadWritePaths="
XS 'set -e; mkdir -p /srv/ro && cd /srv/ro && git init -q --bare -b main ro.git &&
    git clone -q ro.git /tmp/seed-ro 2>/dev/null && cd /tmp/seed-ro && echo ro > README.md &&
    git add README.md && git -c user.name=e2e -c user.email=e2e@example.com commit -qm init &&
    git push -q origin main && rm -rf /tmp/seed-ro && chown -R oc:oc /srv/ro'
# The embedded board again (an earlier section left the lane on a stopped fake Plane), and a
# repo under /srv/ro, which the e2e drop-in does not make writable (only /srv/git).
"$SB" cp "$ROOT/tests/e2e/config.yaml" /etc/operations-center/config.yaml
XS 'printf "  ro:\n    clone_url: /srv/ro/ro.git\n    validation_commands: [\"ls note-*.txt\"]\n" >> /etc/operations-center/config.yaml'
check "oc config validate accepts the ro repo" X oc config validate
X systemctl reset-failed oc-goal@slot1 >/dev/null 2>&1
X systemctl restart oc-goal@slot1
ro_task=$(X oc task add --repo ro --title "Note in a read-only repo" --body "Write a note file.")
check "the task is Blocked after the push fails" waitfor 60 state_is "$ro_task" Blocked
ro_result=$(comments_of "$ro_task")
echo "$ro_result" | grep -E '^- (summary|blocked_classification):' || true
check "classified repo_not_writable, not infra_tooling" \
  grep -q '^- blocked_classification: repo_not_writable$' <<<"$ro_result"
check "the result names the read-only path and the drop-in" \
  grep -qF 'cannot push: /srv/ro/ro.git is read-only for this lane (Read-only file system); a unit may write only under its ReadWritePaths=. Allow it with `systemctl edit oc-goal@.service` → `[Service] ReadWritePaths=/srv/ro/ro.git`' <<<"$ro_result"
check "nothing reached the read-only repo (its only branch is still main)" \
  bash -c "[ \"\$(X runuser -u oc -- git -C /srv/ro/ro.git for-each-ref --format='%(refname)' refs/heads/)\" = refs/heads/main ]"
X systemctl stop oc-goal@slot1

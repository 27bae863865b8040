#!/usr/bin/env bash
# End-to-end tests under a real systemd (PID 1 in a throwaway container, shared/tools/oc-sandbox):
# build the .deb, lint it and its units, install it with dpkg -i, and drive the goal lane
# through systemctl/journalctl: two slots sharing a queue, journald fields, the watchdog
# killing a frozen lane, kill -9 recovery, a broken config (78, no restart loop), the
# janitor timer, the review lane against a fake GitHub, oc status / heartbeat-check,
# upgrade, the board on a (fake) Plane with a refused key (77, no restart), remove and purge.
# Needs root. Usage: tests/e2e/run.sh [ARTIFACT_DIR]
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ART=${1:-$ROOT/target/e2e-artifacts}
WORK=$(mktemp -d /tmp/oc-e2e.XXXXXX)

if [[ $EUID -ne 0 ]]; then echo "tests/e2e/run.sh needs root (systemd-nspawn)"; exit 1; fi
[[ -x $SB ]] || { echo "oc-sandbox not found at $SB"; exit 1; }

cleanup() {
  local rc=$?
  "$SB" collect "$ART" >/dev/null 2>&1 || true
  "$SB" down >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------
section "build, lint"
command -v lintian >/dev/null || { apt-get update -qq && apt-get install -y -qq lintian >/dev/null; }
"$ROOT/packaging/build-deb.sh" --deb-version 0.1.0-1 >/dev/null || { echo "FAIL: .deb build"; exit 1; }
deb1=$(ls "$ROOT"/target/debian/operations-center_0.1.0-1_*.deb)
cp "$deb1" "$WORK/"
(cd "$ROOT" && cargo deb --no-build --locked --deb-version 0.1.0-2 >/dev/null) || { echo "FAIL: second .deb"; exit 1; }
deb2=$(ls "$ROOT"/target/debian/operations-center_0.1.0-2_*.deb)
(cd "$ROOT" && cargo build --quiet --release --example fake_plane) || { echo "FAIL: fake_plane example"; exit 1; }
deb1="$WORK/$(basename "$deb1")"
check "lintian reports no errors" lintian --fail-on error "$deb1"
# oc-sandbox lint on the units as shipped, with ExecStart= pointing at the built binaries
# (verify needs them to exist on the host).
# Documentation= man pages are looked up too: point MANPATH at the ones built for the .deb.
mkdir -p "$WORK/units" "$WORK/man/man1" "$WORK/man/man8"
for u in "$ROOT"/systemd/*; do
  sed "s|/usr/bin/|$ROOT/target/release/|" "$u" > "$WORK/units/$(basename "$u")"
done
cp "$ROOT"/target/man/*.1.gz "$WORK/man/man1/"; cp "$ROOT"/target/man/*.8.gz "$WORK/man/man8/"
check "every unit passes oc-sandbox lint" env MANPATH="$WORK/man" "$SB" lint "$WORK"/units/*
(cd "$ROOT" && cargo build --release --locked --example fake_github >/dev/null 2>&1) || { echo "FAIL: fake GitHub build"; exit 1; }
check "oc-review and its unit and man page are in the .deb" \
  bash -c "dpkg-deb -c '$deb1' | grep -q 'usr/bin/oc-review$' && dpkg-deb -c '$deb1' | grep -q 'system/oc-review.service$' && dpkg-deb -c '$deb1' | grep -q 'man8/oc-review.8.gz'"
check "man pages for oc and every unit binary are in the .deb" \
  bash -c "dpkg-deb -c '$deb1' | grep -q 'usr/share/man/man1/oc.1.gz' && dpkg-deb -c '$deb1' | grep -q 'man8/oc-goal.8.gz' && dpkg-deb -c '$deb1' | grep -q 'man8/oc-janitor.8.gz'"

# ---------------------------------------------------------------------------------------
section "install"
"$SB" create >/dev/null || { echo "FAIL: sandbox image"; exit 1; }
"$SB" down >/dev/null 2>&1 || true
"$SB" up >/dev/null || { echo "FAIL: sandbox did not boot"; exit 1; }
"$SB" install-deb "$deb1" >/dev/null; rc=$?
check "dpkg -i exits 0" [ "$rc" = 0 ]
check "oc system user exists" X id oc
check "config is a conffile at /etc/operations-center/config.yaml" \
  XS 'test -f /etc/operations-center/config.yaml && grep -qx /etc/operations-center/config.yaml /var/lib/dpkg/info/operations-center.conffiles'
check "oc.target enabled and active" XS 'systemctl is-enabled oc.target && systemctl is-active oc.target'
check "janitor timer active (pulled in by oc.target)" X systemctl is-active --quiet oc-janitor.timer
check "janitor timer listed by list-timers" XS 'systemctl list-timers --all --no-pager | grep -q oc-janitor.timer'
check "no lane enabled by the package" XS '! systemctl list-units --all --plain --no-legend "oc-goal@*" | grep -q .'
check "units verify inside the sandbox" XS 'out=$(systemd-analyze verify --man=no /usr/lib/systemd/system/oc.target /usr/lib/systemd/system/oc-*.service /usr/lib/systemd/system/oc-*.socket /usr/lib/systemd/system/oc-*.timer 2>&1); [ -z "$out" ] || { echo "$out"; false; }'
check "shipped lane unit has a start limit and keeps 77 and 78 from restarting" \
  XS 'f=/usr/lib/systemd/system/oc-goal@.service; grep -qx "StartLimitBurst=5" $f && grep -qx "RestartPreventExitStatus=77 78" $f && grep -qx "Type=notify" $f'
check "oc config validate accepts the shipped config" X oc config validate

# ---------------------------------------------------------------------------------------
section "two goal lanes share one queue"
XS 'set -e; mkdir -p /srv/git && cd /srv/git && git init -q --bare -b main demo.git &&
    git clone -q demo.git /tmp/seed 2>/dev/null && cd /tmp/seed && echo demo > README.md &&
    git add README.md && git -c user.name=e2e -c user.email=e2e@example.com commit -qm init &&
    git push -q origin main && rm -rf /tmp/seed && chown -R oc:oc /srv/git'
check "demo repo has main" X runuser -u oc -- git -C /srv/git/demo.git rev-parse --verify -q refs/heads/main
"$SB" cp "$ROOT/tests/e2e/agent.sh" /usr/local/bin/e2e-agent
X chmod 755 /usr/local/bin/e2e-agent
"$SB" cp "$ROOT/tests/e2e/config.yaml" /etc/operations-center/config.yaml
X mkdir -p /etc/systemd/system/oc-goal@.service.d
"$SB" cp "$ROOT/tests/e2e/fast-lane.conf" /etc/systemd/system/oc-goal@.service.d/e2e.conf
X systemctl daemon-reload
ids=()
for i in $(seq 1 10); do ids+=("$(X oc task add --repo demo --title "Add note $i" --body "Write a note file number $i.")"); done
check "oc task add created 10 tasks as root, owned by oc" XS 'test "$(stat -c %U /var/lib/operations-center/operations-center.db)" = oc'
X systemctl enable --now oc-goal@slot1 oc-goal@slot2
check "both lanes active (READY=1 sent)" waitfor 20 XS 'systemctl is-active --quiet oc-goal@slot1 && systemctl is-active --quiet oc-goal@slot2'
all_review() { for id in "${ids[@]}"; do state_is "$id" Review || return 1; done; }
check "all 10 tasks reach Review" waitfor 120 all_review
log=$(X cat /srv/git/executed.log)
check "each task executed exactly once" [ "$(awk '{print $1}' <<<"$log" | sort | uniq -d | wc -l)" = 0 ] 
check "the agent ran 10 times" [ "$(wc -l <<<"$log")" = 10 ]
check "both slots executed tasks" bash -c "grep -q 'oc-goal@slot1' <<<'$log' && grep -q 'oc-goal@slot2' <<<'$log'"
echo "distribution: $(awk '{print $2}' <<<"$log" | sort | uniq -c | tr '\n' ' ')"
check "task branches pushed to the bare repo" [ "$(X runuser -u oc -- git -C /srv/git/demo.git for-each-ref refs/heads/oc/ | wc -l)" = 10 ]
json=$(X journalctl -u oc-goal@slot1 -o json --no-pager)
check "journal carries EVENT fields (watch_start)" grep -q '"EVENT":"watch_start"' <<<"$json"
check "journal carries EVENT fields (run_end)" bash -c "grep -q '\"EVENT\":\"run_end\"' <<<\"\$(X journalctl -u oc-goal@slot1 -u oc-goal@slot2 -o json --no-pager)\""
check "journal EVENT query works" bash -c "[ -n \"\$(X journalctl -u oc-goal@slot2 EVENT=watch_start -o cat --no-pager)\" ]"
check "STATUS= shown by systemctl" bash -c "X systemctl show -p StatusText --value oc-goal@slot1 | grep -q '^cycle '"

XS 'umask 077; printf "## Goal\nA note written from a root-only file.\n" > /root/goal.md'
from_file=$(X oc task add --repo demo --title "From a root-only file" --body-file /root/goal.md)
check "sudo oc task add --body-file reads a file only root can read" \
  bash -c "X oc task show '$from_file' | grep -q 'root-only file'"
check "that task is executed too" waitfor 60 state_is "$from_file" Review

# ---------------------------------------------------------------------------------------
section "oc status and heartbeat-check, without root"
status=$(X runuser -u nobody -- oc status)
echo "$status"
check "oc status (as nobody) lists both lanes as active" \
  bash -c "grep -E '^goal@slot1 +active/running' <<<'$status' >/dev/null && grep -E '^goal@slot2 +active/running' <<<'$status' >/dev/null"
check "oc status shows the timer" grep -q 'oc-janitor.timer' <<<"$status"
check "heartbeat-check (as nobody) exits 0 with healthy lanes" X runuser -u nobody -- oc heartbeat-check
X systemctl stop oc-goal@slot2
hb=$(X runuser -u nobody -- oc heartbeat-check); rc=$?
echo "$hb"
check "heartbeat-check exits 1 when an enabled lane is dead" [ "$rc" = 1 ]
check "heartbeat-check names the dead lane" grep -q 'DEAD.*goal@slot2' <<<"$hb"
status=$(X runuser -u nobody -- oc status)
check "oc status reports what systemd reports (slot2 inactive)" grep -Eq '^goal@slot2 +inactive/dead' <<<"$status"
X systemctl disable --now oc-goal@slot2 >/dev/null 2>&1

# ---------------------------------------------------------------------------------------
section "watchdog kills a frozen lane; its task goes back to Ready for AI"
slow=$(X oc task add --repo demo --title "Slow one" --body "SLOW: take your time with this note.")
check "lane claims the slow task" waitfor 30 state_is "$slow" Running
check "agent started" waitfor 20 X test -e "/srv/git/slow-$slow.pid"
pid=$(prop oc-goal@slot1 MainPID); restarts=$(prop oc-goal@slot1 NRestarts)
X kill -STOP "$pid"
check "watchdog restarts the lane" waitfor 40 bash -c "[ \$(X systemctl show --value -p NRestarts oc-goal@slot1) -gt $restarts ] && X systemctl is-active --quiet oc-goal@slot1"
check "journal shows the watchdog timeout" bash -c "X journalctl -u oc-goal@slot1 --no-pager -o cat | grep -qi 'watchdog timeout'"
check "frozen lane's task re-queued and then finished" waitfor 60 state_is "$slow" Review
check "re-queue comment explains it" bash -c "comments_of '$slow' | grep -q 'Re-queued after interrupted execution'"
check "old agent process is gone" bash -c "! X kill -0 \$(X cat /srv/git/slow-$slow.pid) 2>/dev/null"

section "kill -9 mid-run: restarted, task recovered, workspace removed"
slow2=$(X oc task add --repo demo --title "Slow two" --body "SLOW: another careful note.")
check "lane claims it" waitfor 30 state_is "$slow2" Running
check "agent started" waitfor 20 X test -e "/srv/git/slow-$slow2.pid"
ws=$(XS 'ls -d /var/lib/operations-center/workspaces/oc-* | head -n1')
pid=$(prop oc-goal@slot1 MainPID); restarts=$(prop oc-goal@slot1 NRestarts)
X kill -9 "$pid"
check "lane restarted after kill -9" waitfor 30 bash -c "[ \$(X systemctl show --value -p NRestarts oc-goal@slot1) -gt $restarts ] && X systemctl is-active --quiet oc-goal@slot1"
check "task recovered and finished" waitfor 60 state_is "$slow2" Review
check "recovery comment" bash -c "comments_of '$slow2' | grep -q 'Re-queued after interrupted execution'"
check "the killed run's workspace is removed" bash -c "! X test -e '$ws'"
check "no workspace left behind" XS '[ -z "$(ls /var/lib/operations-center/workspaces)" ]'

# ---------------------------------------------------------------------------------------
section "broken config: exit 78, no restart loop"
X cp /etc/operations-center/config.yaml /etc/operations-center/config.yaml.good
XS 'printf "board: {backend: local}\nagent:\n  backend: command\n  command: [/bin/true]\n  timout_seconds: 5\n" > /etc/operations-center/config.yaml'
X systemctl restart oc-goal@slot1
check "unit fails" waitfor 20 XS 'test "$(systemctl show -p ActiveState --value oc-goal@slot1)" = failed'
check "exit status 78" [ "$(prop oc-goal@slot1 ExecMainStatus)" = 78 ]
restarts=$(prop oc-goal@slot1 NRestarts); sleep 5
check "no restart after 5 s (RestartPreventExitStatus=78)" [ "$(prop oc-goal@slot1 NRestarts)" = "$restarts" ]
check "still failed" [ "$(prop oc-goal@slot1 ActiveState)" = failed ]
check "journal names file:line:column" bash -c "X journalctl -u oc-goal@slot1 --no-pager -o cat | grep -q 'config.yaml:5:3: agent: unknown field .timout_seconds.'"
out=$(X oc config validate 2>&1); rc=$?
check "oc config validate exits 78" [ "$rc" = 78 ]
check "oc config validate names the line" grep -q '/etc/operations-center/config.yaml:5:3:' <<<"$out"
X mv /etc/operations-center/config.yaml.good /etc/operations-center/config.yaml
X systemctl reset-failed oc-goal@slot1
X systemctl start oc-goal@slot1
check "lane back after fixing the config" waitfor 20 X systemctl is-active --quiet oc-goal@slot1

# ---------------------------------------------------------------------------------------
section "janitor"
X systemctl start oc-janitor.service
check "janitor run shows in the journal" bash -c "X journalctl -u oc-janitor.service -o json --no-pager | grep -q '\"EVENT\":\"janitor_run\"'"
check "janitor left the live lane alone" X systemctl is-active --quiet oc-goal@slot1
check "janitor left the lane's status file" X test -f /run/operations-center/lanes/goal@slot1.json

# ---------------------------------------------------------------------------------------
section "review lane: PR opened by the goal lane, self-reviewed and merged by oc-review"
XS 'set -e; cd /srv/git && git init -q --bare -b main reviewed.git &&
    git clone -q reviewed.git /tmp/seed 2>/dev/null && cd /tmp/seed && echo reviewed > README.md &&
    git add README.md && git -c user.name=e2e -c user.email=e2e@example.com commit -qm init &&
    git push -q origin main && rm -rf /tmp/seed && chown -R oc:oc /srv/git'
# A GitHub for the sandbox: the tests' fake as a program, running as oc (it runs git in the
# bare repo, which git refuses to do as another user).
"$SB" cp "$ROOT/target/release/examples/fake_github" /usr/local/bin/fake-github
X chmod 755 /usr/local/bin/fake-github
X systemd-run --quiet --unit=fake-github --uid=oc --gid=oc /usr/local/bin/fake-github 127.0.0.1:8900 acme/reviewed=/srv/git/reviewed.git
check "fake GitHub answers (401 without a token, as GitHub does)" \
  waitfor 20 XS 'test "$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:8900/repos/acme/reviewed/pulls)" = 401'
token=$(sed -n 's/^pub const TOKEN: &str = "\(.*\)";$/\1/p' "$ROOT/tests/support_github/mod.rs")
XS "umask 077; printf '%s\n' '$token' > /etc/operations-center/credentials/github-token"
# Credentials are loaded when a unit starts: the running goal lane needs a restart to see it.
X systemctl restart oc-goal@slot1
check "goal lane back with the GitHub credential" waitfor 20 X systemctl is-active --quiet oc-goal@slot1
X mkdir -p /etc/systemd/system/oc-review.service.d
"$SB" cp "$ROOT/tests/e2e/review-lane.conf" /etc/systemd/system/oc-review.service.d/e2e.conf
X systemctl daemon-reload
check "the package does not enable oc-review" bash -c "[ \"\$(X systemctl is-enabled oc-review)\" = disabled ]"
reviewed=$(X oc task add --repo reviewed --title "A reviewed note" --body "Write a note for review.")
check "the goal lane opens a PR and hands the task to review (In Review)" waitfor 60 state_is "$reviewed" "In Review"
check "the goal comment links the PR" bash -c "comments_of '$reviewed' | grep -q 'pr_url: https://github.com/acme/reviewed/pull/1'"
comments_of "$reviewed" | grep -E 'result_status|pr_url|summary' || true
X systemctl enable --now oc-review
check "oc-review active (READY=1 sent)" waitfor 20 X systemctl is-active --quiet oc-review
check "the PR is self-reviewed and merged; the task is Done" waitfor 60 state_is "$reviewed" Done
check "the squash merge is on main in the bare repo" \
  bash -c "X runuser -u oc -- git -C /srv/git/reviewed.git ls-tree --name-only main | grep -q '^note-'"
phases=$(X journalctl -u oc-review EVENT=review_phase -o cat --no-pager)
echo "$phases"
check "journalctl -u oc-review shows the phase transitions" \
  bash -c "grep -q 'self_review → awaiting_ci' <<<'$phases' && grep -q 'awaiting_ci → merged' <<<'$phases'"
check "the transitions carry EVENT and phase fields" \
  bash -c "X journalctl -u oc-review EVENT=review_phase -o json --no-pager | grep -q '\"TO\":\"merged\"'"
check "STATUS= of oc-review" bash -c "X systemctl show -p StatusText --value oc-review | grep -q '^cycle '"
check "oc status lists the review lane" bash -c "X runuser -u nobody -- oc status | grep -Eq '^review +active/running'"
check "feedback record for the merge" bash -c "X oc feedback show '$reviewed' | grep -q '\"outcome\": \"merged\"'"
X systemctl disable --now oc-review >/dev/null 2>&1
X systemctl stop fake-github

# ---------------------------------------------------------------------------------------
section "socket-activated receivers: CI webhook and error ingest"
# The secret the GitHub fixtures were signed with (shared/testdata/github/README.md).
XS 'printf "oc-test-secret\n" > /etc/operations-center/credentials/webhook-secret && chmod 600 /etc/operations-center/credentials/webhook-secret'
"$SB" cp "$ROOT/../shared/testdata/github/webhooks/check_run.completed.json" /tmp/check_run.json
X mkdir -p /etc/systemd/system/oc-ci-webhook.service.d /etc/systemd/system/oc-ingest.service.d
"$SB" cp "$ROOT/tests/e2e/quick-idle.conf" /etc/systemd/system/oc-ci-webhook.service.d/e2e.conf
"$SB" cp "$ROOT/tests/e2e/quick-idle.conf" /etc/systemd/system/oc-ingest.service.d/e2e.conf
X systemctl daemon-reload
X systemctl enable --now oc-ci-webhook.socket oc-ingest.socket
check "sockets listening" XS 'systemctl is-active --quiet oc-ci-webhook.socket && systemctl is-active --quiet oc-ingest.socket'
check "services not started before the first connection" \
  XS 'test "$(systemctl is-active oc-ci-webhook.service)" = inactive && test "$(systemctl is-active oc-ingest.service)" = inactive'
deliver() { # delivery-id → HTTP status of a signed check_run delivery
  X curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @/tmp/check_run.json \
    -H 'X-GitHub-Event: check_run' -H "X-GitHub-Delivery: $1" \
    -H 'X-Hub-Signature-256: sha256=7c1e7382a40eaf6df986cd30bc4f335939a1ceb3c95dc8ccf9588f22c45ec468' \
    http://127.0.0.1:8765/webhook
}
check "first signed check_run is answered 200 (service socket-activated)" [ "$(deliver e2e-1)" = 200 ]
check "the service was started by its socket (LISTEN_FDS)" \
  bash -c "X journalctl -u oc-ci-webhook.service EVENT=http_listening -o json --no-pager | grep -q '\"ACTIVATED\":\"true\"'"
check "the event is recorded" bash -c "X oc ci-events --json | grep -q '\"delivery_id\": *\"e2e-1\"'"
redelivery=$(deliver e2e-1)
check "a redelivery is answered 200" [ "$redelivery" = 200 ]
check "a redelivery is recorded once" [ "$(X oc ci-events --json | grep -c '"e2e-1"')" = 1 ]
check "the journal has a line for the event and one for its redelivery" waitfor 10 XS \
  'test "$(journalctl -u oc-ci-webhook.service EVENT=ci_event_recorded DELIVERY=e2e-1 -o cat --no-pager | wc -l)" = 1 &&
   test "$(journalctl -u oc-ci-webhook.service EVENT=ci_event_duplicate DELIVERY=e2e-1 -o cat --no-pager | wc -l)" = 1'
check "a wrong signature is refused with 401" \
  [ "$(X curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @/tmp/check_run.json -H 'X-GitHub-Event: check_run' -H 'X-GitHub-Delivery: e2e-2' -H 'X-Hub-Signature-256: sha256=00' http://127.0.0.1:8765/webhook)" = 401 ]
code=$(X curl -s -o /tmp/ingest.out -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data '{"text": "ERROR payment worker crashed: KeyError customer_id\nTraceback ...", "repo_key": "demo"}' \
  http://127.0.0.1:9000/ingest)
check "ingest POST creates a task (201)" [ "$code" = 201 ]
check "the ingested task is on the board" \
  bash -c "X oc task list --json | grep -q 'payment worker crashed'"
check "ingest service idles out and exits" waitfor 30 XS 'test "$(systemctl is-active oc-ingest.service)" = inactive'
check "its socket keeps listening" X systemctl is-active --quiet oc-ingest.socket
code=$(X curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data '{"text": "ERROR payment worker crashed: KeyError customer_id\nTraceback ...", "repo_key": "demo"}' \
  http://127.0.0.1:9000/ingest)
check "the next request starts it again; the same error is a duplicate (200)" [ "$code" = 200 ]
check "CI webhook idles out too" waitfor 30 XS 'test "$(systemctl is-active oc-ci-webhook.service)" = inactive'
check "and comes back for the next delivery" [ "$(deliver e2e-3)" = 200 ]

# ---------------------------------------------------------------------------------------
section "oc stop / oc start wrap systemctl"
out=$(X oc stop --role goal --slot slot1)
check "oc stop --role goal --slot slot1 says what it runs" grep -q 'systemctl stop oc-goal@slot1.service' <<<"$out"
check "lane stopped" waitfor 20 XS 'test "$(systemctl is-active oc-goal@slot1)" = inactive'
X oc start >/dev/null
check "oc start brings back the suite and its enabled lanes" waitfor 20 XS 'systemctl is-active --quiet oc.target && systemctl is-active --quiet oc-goal@slot1'

# ---------------------------------------------------------------------------------------
section "upgrade restarts running units"
pid=$(prop oc-goal@slot1 MainPID)
"$SB" install-deb "$deb2" >/dev/null; rc=$?
check "upgrade dpkg -i exits 0" [ "$rc" = 0 ]
check "lane restarted on the new version" waitfor 30 bash -c "p=\$(X systemctl show --value -p MainPID oc-goal@slot1); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ]"
check "lane still enabled after upgrade" [ "$(X systemctl is-enabled oc-goal@slot1)" = enabled ]
check "board kept across the upgrade" state_is "$slow2" Review

# ---------------------------------------------------------------------------------------
section "the board on Plane (the test suite's fake Plane, inside the sandbox)"
"$SB" cp "$ROOT/target/release/examples/fake_plane" /usr/local/bin/fake-plane
X chmod 755 /usr/local/bin/fake-plane
X systemd-run --quiet --unit=fake-plane /usr/local/bin/fake-plane 127.0.0.1:8700 600
check "fake Plane answers" waitfor 15 XS 'curl -s -o /dev/null http://127.0.0.1:8700/'
PLANE_KEY=plane_api_0123456789abcdef0123456789abcdef
XS "printf '%s\n' $PLANE_KEY > /etc/operations-center/credentials/plane-token && chmod 600 /etc/operations-center/credentials/plane-token"
XS "sed 's|^board: .*|board: {backend: plane, base_url: \"http://127.0.0.1:8700\", workspace_slug: oc-demo, project_id: 2d7c9e41-5a3b-4c6d-8e9f-0a1b2c3d4e5f, credential: plane-token, claim_settle_ms: 200}|' -i /etc/operations-center/config.yaml"
check "oc config validate accepts the Plane board" X oc config validate
doctor=$(X oc doctor); rc=$?
check "oc doctor: Plane reachable, key accepted, states present (exit 0)" \
  bash -c "[ $rc = 0 ] && grep -q 'key accepted' <<<'$doctor' && grep -q 'every state the lanes use exists' <<<'$doctor'"
X systemctl restart oc-goal@slot1
plane_task=$(X oc task add --repo demo --title "Note on Plane" --body "Write a note file from a Plane work item.")
check "oc task add returns a Plane work-item id" [ "${#plane_task}" = 36 ]
check "the lane runs the Plane item to Review" waitfor 90 state_is "$plane_task" Review
check "its claim and run are in the journal" \
  bash -c "X journalctl -u oc-goal@slot1 -o cat --no-pager EVENT=task_claimed | grep -q '$plane_task'"
check "oc plane-status counts the requests" bash -c "X oc plane-status | grep -q 'API: '"
check "oc status shows the Plane budget" bash -c "X oc status | grep -q '^board: Plane'"
XS "printf 'plane_api_revoked\n' > /etc/operations-center/credentials/plane-token"
restarts=$(prop oc-goal@slot1 NRestarts)
X systemctl restart oc-goal@slot1
check "a refused key stops the lane with status 77" \
  waitfor 30 XS 'test "$(systemctl show --value -p ExecMainStatus oc-goal@slot1)" = 77 && test "$(systemctl is-active oc-goal@slot1)" = failed'
sleep 5
check "and systemd does not restart it (RestartPreventExitStatus=77)" \
  XS "test \"\$(systemctl show --value -p NRestarts oc-goal@slot1)\" = $restarts && test \"\$(systemctl is-active oc-goal@slot1)\" = failed"
check "the journal names the cause (EVENT=board_auth_failed)" \
  bash -c "X journalctl -u oc-goal@slot1 -o cat --no-pager EVENT=board_auth_failed | grep -q 'API key is not valid'"
X systemctl stop fake-plane >/dev/null 2>&1

# ---------------------------------------------------------------------------------------
# Further scenarios, one file each (sourced in name order, sharing this boot and install):
# each starts with `section`, uses the helpers of lib.sh, and leaves the units it started
# stopped again.
for scenario in "$(dirname "${BASH_SOURCE[0]}")"/scenarios/*.sh; do
  [[ -e $scenario ]] || continue
  # shellcheck source=/dev/null
  source "$scenario"
done

# ---------------------------------------------------------------------------------------
section "remove and purge"
X dpkg -r operations-center >/dev/null; rc=$?
check "dpkg -r exits 0" [ "$rc" = 0 ]
check "dpkg -r stops every unit" XS '! systemctl list-units --plain --no-legend --state=active "oc*" | grep -q .'
X dpkg --purge operations-center >/dev/null; rc=$?
check "dpkg --purge exits 0" [ "$rc" = 0 ]
check "no unit files left" XS '! ls /usr/lib/systemd/system/oc* /lib/systemd/system/oc* 2>/dev/null | grep -q .'
check "no enablement symlinks left" XS '! find /etc/systemd/system -name "oc*" | grep -q .'
check "no config left" X test ! -e /etc/operations-center
check "no state left" X test ! -e /var/lib/operations-center
check "no service user left" XS '! id oc 2>/dev/null'

finish

# Sourced by tests/e2e/run.sh. An agent, a bootstrap and a validation command run by a lane
# as user oc, with the lane's secrets in place as LoadCredential= files and in its
# environment, try to get them every way (their environment, /proc of our processes, the
# credential files) and get nothing but the variable the repo passes on by name; what the
# agent detaches with setsid ends with the run; and with namespaces forbidden by a drop-in
# the lane refuses to run the agent rather than run it next to the credentials.
section "agents cannot obtain the lane's secrets (LoadCredential=, user oc)"
SECRET_PLANE=plane-cred-secret-e2e-4b7d1a
SECRET_GITHUB=github-cred-secret-e2e-9c2e5f
SECRET_WEBHOOK=webhook-cred-secret-e2e-0a8b3c
ENV_SECRETS="plane-env-secret-e2e-71c0 github-env-secret-e2e-3d9a webhook-env-secret-e2e-5e1f"
CREDS=/etc/operations-center/credentials
X systemctl stop oc-goal@slot1 oc-goal@slot2 >/dev/null 2>&1
XS "mkdir -p /root/e2e-secrets-backup && cp -a $CREDS/. /root/e2e-secrets-backup/ && cp /etc/operations-center/config.yaml /root/e2e-secrets-backup/config.yaml"
XS "umask 077; printf '%s\n' $SECRET_PLANE > $CREDS/plane-token; printf '%s\n' $SECRET_GITHUB > $CREDS/github-token; printf '%s\n' $SECRET_WEBHOOK > $CREDS/webhook-secret"
XS 'cat > /usr/local/bin/e2e-probe <<"PROBE"
#!/bin/sh
# Tries every way to the lane'"'"'s secrets and records what it got in /srv/git/probe-$1.
f=/srv/git/probe-$1
{
  echo "== own environment"; env
  echo "== /proc/self/environ"; tr "\0" "\n" < /proc/self/environ
  echo "== the lane (pid $(cat /srv/git/lane.pid))"; tr "\0" "\n" < /proc/$(cat /srv/git/lane.pid)/environ
  echo "== /proc/*/environ"; for e in /proc/[0-9]*/environ; do tr "\0" "\n" < "$e"; done
  echo "== credential files"; ls -la /run/credentials/ /run/credentials/*/
  cat /run/credentials/*/* /etc/operations-center/credentials/*
} > "$f" 2>&1
echo done >> "$f"
if [ "$1" = agent ]; then
  cd / && setsid sh -c "read -r p _ < /proc/self/stat; echo \$p > /srv/git/detached.tmp; mv /srv/git/detached.tmp /srv/git/detached.pid; exec sleep 300" &
  while [ ! -f /srv/git/detached.pid ]; do sleep 0.1; done
  cd "$OC_WORKSPACE" && echo probed > note-probe.txt
fi
PROBE
chmod 755 /usr/local/bin/e2e-probe; rm -f /srv/git/probe-* /srv/git/detached.pid'
XS 'cat > /etc/operations-center/config.yaml <<"CFG"
board: {backend: local}
agent:
  backend: command
  command: [/usr/local/bin/e2e-probe, agent]
  timeout_seconds: 120
max_concurrent_kodo: 0
min_kodo_available_mb: 0
limits:            # the earlier sections already ran more than the default hourly budget
  max_exec_per_hour: 1000
  max_exec_per_day: 1000
repos:
  demo:
    clone_url: /srv/git/demo.git
    bootstrap_commands: ["/usr/local/bin/e2e-probe bootstrap"]
    validation_commands: ["/usr/local/bin/e2e-probe validation", "ls note-probe.txt"]
    pass_env: [DEMO_PASSED_ON]
CFG'
X mkdir -p /etc/systemd/system/oc-goal@secrets.service.d
XS "printf '[Service]\nEnvironment=PLANE_API_TOKEN=plane-env-secret-e2e-71c0 GITHUB_TOKEN=github-env-secret-e2e-3d9a OPERATIONS_CENTER_WEBHOOK_SECRET=webhook-env-secret-e2e-5e1f DEMO_PASSED_ON=passed-by-name-e2e-6f2a\n' > /etc/systemd/system/oc-goal@secrets.service.d/secrets.conf"
X systemctl daemon-reload
X systemctl start oc-goal@secrets
check "the lane with secrets is active" waitfor 20 X systemctl is-active --quiet oc-goal@secrets
check "it runs as user oc with the credentials loaded" \
  XS 'p=$(systemctl show --value -p MainPID oc-goal@secrets); grep -q "^Uid:.*\b$(id -u oc)\b" /proc/$p/status && test -s /run/credentials/oc-goal@secrets.service/oc_plane-token'
check "its /proc/<pid>/environ is root's (not dumpable): user oc cannot read it" \
  XS 'p=$(systemctl show --value -p MainPID oc-goal@secrets); test "$(stat -c %U /proc/$p/environ)" = root && ! runuser -u oc -- cat /proc/$p/environ >/dev/null 2>&1'
XS 'systemctl show --value -p MainPID oc-goal@secrets > /srv/git/lane.pid'
probe_task=$(X oc task add --repo demo --title "Try to obtain the lane's secrets" --body "Probe everything.")
check "the probing task runs to Review" waitfor 90 state_is "$probe_task" Review
for who in agent bootstrap validation; do
  got=$(X cat /srv/git/probe-$who)
  check "the $who probe ran to its end" bash -c "tail -n1 <<<'$got' | grep -qx done"
  check "the $who could read /proc environments (its own)" grep -q '^OC_\|^DEMO_PASSED_ON=' <<<"$(sed -n '/^== \/proc\/self\/environ/,/^== the lane/p' <<<"$got")"
  check "the $who got the variable its repo passes on by name" grep -q '^DEMO_PASSED_ON=passed-by-name-e2e-6f2a$' <<<"$got"
  leaked=""
  for s in $SECRET_PLANE $SECRET_GITHUB $SECRET_WEBHOOK $ENV_SECRETS; do
    grep -q "$s" <<<"$got" && leaked="$leaked $s"
  done
  check "the $who obtained no secret of the lane (env, /proc, credential files)${leaked:+: got$leaked}" [ -z "$leaked" ]
done
detached=$(X cat /srv/git/detached.pid)
check "the agent detached a process (pid ${detached:-none})" [ -n "$detached" ]
check "what the agent detached with setsid ended with the run (unit still running)" \
  waitfor 20 XS "! kill -0 $detached 2>/dev/null && systemctl is-active --quiet oc-goal@secrets"

# Namespaces forbidden: the agent must not run next to the credentials.
XS "printf '[Service]\nRestrictNamespaces=yes\n' > /etc/systemd/system/oc-goal@secrets.service.d/no-namespaces.conf"
X systemctl daemon-reload
X systemctl restart oc-goal@secrets
XS 'systemctl show --value -p MainPID oc-goal@secrets > /srv/git/lane.pid; rm -f /srv/git/probe-*'
refused=$(X oc task add --repo demo --title "Run without namespaces" --body "Probe again.")
check "without namespaces the task is Blocked, not run" waitfor 60 state_is "$refused" Blocked
check "the agent did not run" X test ! -e /srv/git/probe-agent
check "the reason names the fix (RestrictNamespaces=)" bash -c "comments_of '$refused' | grep -q 'RestrictNamespaces='"

X systemctl stop oc-goal@secrets
X rm -rf /etc/systemd/system/oc-goal@secrets.service.d
X systemctl daemon-reload
XS "rm -f $CREDS/*; cp -a /root/e2e-secrets-backup/. $CREDS/ && mv $CREDS/config.yaml /etc/operations-center/config.yaml && rm -rf /root/e2e-secrets-backup"

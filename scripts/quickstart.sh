#!/usr/bin/env bash
# Quickstart on the embedded board: no Plane, no GitHub, no root.
# Builds the binaries, creates a demo git repository, adds a goal task and lets the goal
# lane execute it with a scripted `command` agent. Everything lands in ./quickstart/
# (or $OC_QUICKSTART_DIR); run it again to start over. $OC_BIN_DIR may name a directory
# with already built binaries (the test suite uses that) instead of building here.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${OC_QUICKSTART_DIR:-$PWD/quickstart}

if [[ -n ${OC_BIN_DIR:-} ]]; then
    oc="$OC_BIN_DIR/oc"
else
    echo "==> building operations-center"
    cargo build --release --quiet --manifest-path "$repo_root/Cargo.toml" --bins
    oc="$repo_root/target/release/oc"
fi

echo "==> preparing $dir"
rm -rf "$dir"
mkdir -p "$dir"
git init --quiet --bare --initial-branch=main "$dir/demo.git"
git clone --quiet "$dir/demo.git" "$dir/seed" 2>/dev/null
printf '# Demo\n\nA repository the quickstart agent works on.\n' > "$dir/seed/README.md"
git -C "$dir/seed" add README.md
git -C "$dir/seed" -c user.name=quickstart -c user.email=quickstart@example.com \
    commit --quiet -m "Initial commit"
git -C "$dir/seed" push --quiet origin main
rm -rf "$dir/seed"

# The agent: any program. It runs inside the task's clone with the goal in $OC_GOAL_FILE.
install -m 0755 "$repo_root/examples/quickstart-agent.sh" "$dir/agent.sh"

cat > "$dir/config.yaml" <<YAML
board:
  backend: local
agent:
  backend: command
  command: [./agent.sh]
  timeout_seconds: 120
# The quickstart agent is not kodo; do not wait for other kodo runs on this machine.
max_concurrent_kodo: 0
repos:
  demo:
    clone_url: $dir/demo.git
    default_branch: main
    validation_commands:
      - test -s CHANGELOG.md
YAML

export OPERATIONS_CENTER_CONFIG="$dir/config.yaml"
export OPERATIONS_CENTER_STATE_DIR="$dir/state"

"$oc" config validate
task=$("$oc" task add --repo demo --title "Start a changelog" \
    --body $'## Goal\nCreate CHANGELOG.md with an "Unreleased" section.\n\n## Constraints\n- Touch nothing else.')
echo "==> added goal task $task"

echo "==> running the goal lane once (oc run-next)"
"$oc" run-next

echo
echo "==> the task on the board (oc task show $task)"
"$oc" task show "$task"

branch=$(git -C "$dir/demo.git" for-each-ref --format='%(refname:short)' "refs/heads/oc/")
echo
echo "==> branch $branch in $dir/demo.git"
git -C "$dir/demo.git" log --oneline --stat "main..$branch"

echo
echo "Done. Try:  OPERATIONS_CENTER_CONFIG=$dir/config.yaml OPERATIONS_CENTER_STATE_DIR=$dir/state $oc task list"

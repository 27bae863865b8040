#!/bin/sh
# A stand-in for a coding agent, used by the quickstart: it reads the goal and makes the
# change a real agent would make for the demo task. Any program can be an agent this way:
#   OC_GOAL_FILE  the goal text (Markdown), outside the repository
#   OC_WORKSPACE  the clone on the task branch (also the working directory)
#   OC_TASK_ID    the board's task id
set -eu
echo "quickstart agent: task $OC_TASK_ID"
echo "goal:"
sed 's/^/  | /' "$OC_GOAL_FILE"
cat > CHANGELOG.md <<'MD'
# Changelog

## Unreleased

- Started a changelog.
MD
echo "wrote CHANGELOG.md"

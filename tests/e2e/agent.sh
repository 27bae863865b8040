#!/bin/sh
# Scripted agent for the end-to-end tests: records who ran which task, optionally stalls
# once (goal text containing SLOW) so a test can freeze or kill the lane mid-run; answers
# the review lane's self-review with LGTM.
set -eu
# The review lane (oc-review.service): a self-review answers LGTM, a revision adds a line.
if [ "${OC_TASK_KIND:-}" = review ]; then
    if grep -q '^# Self-review' "$OC_GOAL_FILE"; then
        printf 'LGTM\n' > "$OC_VERDICT_FILE"
    else
        echo "revised" >> REVISION.md
    fi
    exit 0
fi
slot=$(grep -o 'oc-goal@[^/]*\.service' /proc/self/cgroup | head -n1 || true)
echo "$OC_TASK_ID $slot" >> /srv/git/executed.log
if grep -q SLOW "$OC_GOAL_FILE" && [ ! -e "/srv/git/slow-$OC_TASK_ID.pid" ]; then
    # Our pid as the tests see it: $$ is a pid in the run's own PID namespace.
    read -r pid _ < /proc/self/stat
    echo "$pid" > "/srv/git/slow-$OC_TASK_ID.pid"
    sleep 300
fi
echo "note for $OC_TASK_ID" > "note-$OC_TASK_ID.txt"
sleep 1

#!/bin/bash
# oc-ci-webhook verifying signed 8 KB check_run deliveries vs Debian's nginx answering 204,
# side by side in one run on loopback, same load generators:
#   1. throughput: wrk (Lua script: a unique X-GitHub-Delivery per request, so every
#      request takes the verify + record path, not the duplicate path)
#   2. latency at a fixed rate: bench/paced_load.rs (wrk cannot pace), p50/p99/max
#   3. socket-activated cold start to first response: systemd-socket-activate + curl
# Needs: wrk, nginx-light (or nginx), curl, openssl, python3, systemd (systemd-socket-activate).
#   apt-get install -y wrk nginx-light
# Settings (environment): DURATION (s, default 10), RATE (default 1000), CONNECTIONS (wrk,
# default 64), NGINX_WORKERS (default 1), ROUNDS (throughput rounds per server, alternating,
# default 3; medians are compared), RUNS (cold starts, default 9). Results: one JSON line
# per measurement on stdout and in bench/results/webhook_vs_nginx-<time>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
RATE=${RATE:-1000}
CONNECTIONS=${CONNECTIONS:-64}
NGINX_WORKERS=${NGINX_WORKERS:-1}
RUNS=${RUNS:-9}
ROUNDS=${ROUNDS:-3}
OC_PORT=18765
NGINX_PORT=18080
COLD_PORT=18766
SECRET=bench-secret

for tool in wrk nginx curl openssl python3 systemd-socket-activate; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y wrk nginx-light)" >&2; exit 1; }
done

cargo build --release --quiet --bin oc-ci-webhook --bin oc
mkdir -p target/bench bench/results
rustc --edition 2024 -O bench/paced_load.rs -o target/bench/paced_load
BIN=$PWD/target/release/oc-ci-webhook
PACED=$PWD/target/bench/paced_load

WORK=$(mktemp -d /tmp/oc-bench-XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
RESULTS=bench/results/webhook_vs_nginx-$(date -u +%Y%m%dT%H%M%SZ).txt
emit() { echo "$1" | tee -a "$RESULTS"; }

# An 8 KB check_run delivery: the real payload, compacted, the repository object trimmed
# to its identifying fields, then padded inside a JSON field to exactly 8192 bytes.
python3 - "$WORK/body.json" <<'EOF'
import json, sys
p = json.load(open("../shared/testdata/github/webhooks/check_run.completed.json"))
# The compact original is ~11.5 KB; keep the repository's identifying fields only.
r = p["repository"]
p["repository"] = {k: r[k] for k in ("id", "node_id", "name", "full_name", "private", "html_url", "default_branch")}
p["padding"] = ""
base = len(json.dumps(p, separators=(",", ":")).encode())
p["padding"] = "x" * (8192 - base)
data = json.dumps(p, separators=(",", ":")).encode()
assert len(data) == 8192, len(data)
open(sys.argv[1], "wb").write(data)
EOF
SIG="sha256=$(openssl dgst -sha256 -hmac "$SECRET" -r < "$WORK/body.json" | cut -d' ' -f1)"

cat > "$WORK/config.yaml" <<EOF
ci_webhook:
  host: 127.0.0.1
  port: $OC_PORT
EOF
export OPERATIONS_CENTER_CONFIG=$WORK/config.yaml
export OPERATIONS_CENTER_STATE_DIR=$WORK/state
export OPERATIONS_CENTER_WEBHOOK_SECRET=$SECRET
unset OPERATIONS_CENTER_WEBHOOK_TRIGGER NOTIFY_SOCKET JOURNAL_STREAM

mkdir -p "$WORK/nginx/logs"
cat > "$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes $NGINX_WORKERS;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
events { worker_connections 1024; }
http {
    access_log $WORK/nginx/logs/access.log;
    client_body_temp_path $WORK/nginx/body;
    client_max_body_size 1m;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / { return 204; }
    }
}
EOF

wait_port() { # until something listens (without connecting: that would activate)
    local hex; hex=$(printf ':%04X' "$1")
    for _ in $(seq 200); do
        grep -q "0100007F$hex 00000000:0000 0A" /proc/net/tcp && return 0
        sleep 0.02
    done
    echo "nothing listens on $1" >&2; return 1
}

"$BIN" 2>"$WORK/oc.log" & PIDS+=($!); OC_PID=$!
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" & PIDS+=($!)
wait_port $OC_PORT; wait_port $NGINX_PORT

check=$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data-binary @"$WORK/body.json" \
    -H "X-GitHub-Event: check_run" -H "X-GitHub-Delivery: warmup" -H "X-Hub-Signature-256: $SIG" \
    http://127.0.0.1:$OC_PORT/webhook)
[ "$check" = 200 ] || { echo "receiver answered $check to a signed delivery" >&2; exit 1; }

cat > "$WORK/post.lua" <<'EOF'
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "check_run"
wrk.headers["X-Hub-Signature-256"] = os.getenv("SIG")
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
local n = 0
function request()
    n = n + 1
    wrk.headers["X-GitHub-Delivery"] = string.format("wrk-%s-%d-%d", os.getenv("RUN"), tid, n)
    return wrk.format()
end
EOF

throughput() { # name url → requests/s
    local out
    out=$(BODY=$WORK/body.json SIG=$SIG RUN=$1-$$ wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        -s "$WORK/post.lua" "$2")
    echo "$out" >>"$WORK/wrk-$1.txt"
    local rps p99 non2xx
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    emit "{\"measure\": \"throughput\", \"server\": \"$1\", \"tool\": \"wrk -t2 -c$CONNECTIONS -d${DURATION}s\", \"requests_per_s\": $rps, \"p99\": \"$p99\", \"non_2xx\": ${non2xx:-0}}"
    echo "$rps"
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Rounds alternate the two servers so that a slow spell of the machine (seen: nginx from
# 52k to 65k req/s between runs minutes apart) does not land on one side only.
echo "== throughput (wrk, ${DURATION}s, $CONNECTIONS connections, 8 KB signed bodies, $ROUNDS rounds)" >&2
NGINX_ALL=(); OC_ALL=()
for _ in $(seq "$ROUNDS"); do
    NGINX_ALL+=("$(throughput nginx "http://127.0.0.1:$NGINX_PORT/" | tail -1)")
    OC_ALL+=("$(throughput oc-ci-webhook "http://127.0.0.1:$OC_PORT/webhook" | tail -1)")
done
NGINX_RPS=$(median "${NGINX_ALL[@]}")
OC_RPS=$(median "${OC_ALL[@]}")
emit "{\"measure\": \"throughput_ratio\", \"rounds\": $ROUNDS, \"nginx_median\": $NGINX_RPS, \"oc_median\": $OC_RPS, \"oc_over_nginx\": $(python3 -c "print(round($OC_RPS / $NGINX_RPS, 3))"), \"goal\": 0.5}"

echo "== latency at a fixed $RATE requests/s (${DURATION}s)" >&2
paced() { # name url [extra args]
    local name=$1 url=$2; shift 2
    local out
    out=$("$PACED" --url "$url" --rate "$RATE" --seconds "$DURATION" --connections 16 \
        --body "$WORK/body.json" --header "Content-Type: application/json" \
        --header "X-GitHub-Event: check_run" --header "X-Hub-Signature-256: $SIG" "$@")
    emit "{\"measure\": \"paced\", \"server\": \"$name\", \"rate\": $RATE, \"result\": $out}"
}
paced nginx "http://127.0.0.1:$NGINX_PORT/"
paced oc-ci-webhook "http://127.0.0.1:$OC_PORT/webhook" --unique-header X-GitHub-Delivery

RECORDED=$(OPERATIONS_CENTER_STATE_DIR=$WORK/state target/release/oc ci-events --json --limit 1000000 | grep -c '"delivery_id"')
emit "{\"measure\": \"memory\", \"server\": \"oc-ci-webhook\", \"vm_hwm_kib\": $(awk '/VmHWM/ {print $2}' /proc/$OC_PID/status), \"vm_rss_kib\": $(awk '/VmRSS/ {print $2}' /proc/$OC_PID/status), \"events_recorded\": $RECORDED}"
kill "$OC_PID"

echo "== socket-activated cold start to first response ($RUNS runs)" >&2
COLD=()
for i in $(seq "$RUNS"); do
    systemd-socket-activate --listen 127.0.0.1:$COLD_PORT \
        -E OPERATIONS_CENTER_CONFIG -E OPERATIONS_CENTER_STATE_DIR -E OPERATIONS_CENTER_WEBHOOK_SECRET \
        "$BIN" 2>>"$WORK/cold.log" &
    SA=$!
    wait_port $COLD_PORT
    t=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -X POST --data-binary @"$WORK/body.json" \
        -H "X-GitHub-Event: check_run" -H "X-GitHub-Delivery: cold-$$-$i" -H "X-Hub-Signature-256: $SIG" \
        http://127.0.0.1:$COLD_PORT/webhook)
    [ "${t%% *}" = 200 ] || { echo "cold start answered ${t%% *}" >&2; exit 1; }
    COLD+=("$(python3 -c "print(round(${t#* } * 1000, 2))")")
    kill "$SA"; wait "$SA" 2>/dev/null || true
done
emit "{\"measure\": \"cold_start\", \"runs_ms\": [$(IFS=,; echo "${COLD[*]}")], \"median_ms\": $(median "${COLD[@]}"), \"goal_ms\": 50}"
echo "results: $RESULTS" >&2

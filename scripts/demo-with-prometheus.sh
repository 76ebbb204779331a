#!/usr/bin/env bash
# End-to-end check of the demo service against a real Prometheus: the tutorial's
# queries, answered from what Prometheus scraped off promhttp-demo.
#
#   scripts/demo-with-prometheus.sh
#
# 1. installs Prometheus if missing (scripts/install-test-deps.sh, idempotent);
# 2. builds promhttp-demo (release) and starts it on free loopback ports, starts
#    /usr/bin/prometheus on another free port with its own temporary directory
#    (config scraping the demo every second, TSDB, log; native histograms on, so
#    it scrapes protobuf), sends some app traffic;
# 3. waits until the target is up, then polls the HTTP API until the two tutorial
#    queries and the native-histogram one return a finite value, and prints them:
#      histogram_quantile(0.90, sum(rate(response_time_bucket{env="testing"}[2m])) by (le))
#      sum(increase(response_code_total{env="testing"}[5m])) by (type)
#      histogram_quantile(0.90, sum(rate(work_duration_seconds[2m])))
#    (the last has a value only if work_duration_seconds was stored as a native
#    histogram: its classic series would need `_bucket` and `le`);
# 4. stops what it started (by PID, also on failure or interrupt) and removes its
#    temporary directory. Exits 0 only if every query returned a number; otherwise
#    prints the last API answers and the tails of the Prometheus and demo logs.
#
# Everything after the build is bounded by DEMO_PROM_DEADLINE seconds (default 90).
# Needs bash, python3, curl, cargo; talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

DEADLINE_SECS=${DEMO_PROM_DEADLINE:-90}
PROMETHEUS=/usr/bin/prometheus
JOB=promhttp-demo
QUERIES=(
    'histogram_quantile(0.90, sum(rate(response_time_bucket{env="testing"}[2m])) by (le))'
    'sum(increase(response_code_total{env="testing"}[5m])) by (type)'
    'histogram_quantile(0.90, sum(rate(work_duration_seconds[2m])))'
)

log() { printf 'demo-with-prometheus: %s\n' "$*" >&2; }

tmp=""
demo_pid=""
prom_pid=""
failed=1 # cleared only when every query answered

# Stops a process this script started: SIGTERM, up to 10 s, then SIGKILL.
stop_pid() {
    local pid=$1 name=$2 i
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) did not stop on SIGTERM, killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

tail_file() {
    local title=$1 file=$2
    echo "---- $title ($file, last 40 lines) ----" >&2
    if [[ -s "$file" ]]; then tail -n 40 "$file" >&2; else echo "(empty or missing)" >&2; fi
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if ((failed)) && [[ -n "$tmp" ]]; then
        echo >&2
        log "FAILED; diagnostics follow"
        local f
        for f in "$tmp"/answer.*.json "$tmp"/targets.json; do
            [[ -e "$f" ]] || continue
            echo "---- last API answer: $(basename "$f") ----" >&2
            head -c 4000 "$f" >&2
            echo >&2
        done
        tail_file "Prometheus log" "$tmp/prometheus.log"
        tail_file "promhttp-demo log" "$tmp/demo.log"
    fi
    stop_pid "$prom_pid" prometheus
    stop_pid "$demo_pid" promhttp-demo
    if [[ -n "$tmp" ]]; then rm -rf -- "$tmp"; fi
    if ((failed)) && ((rc == 0)); then rc=1; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

for cmd in python3 curl cargo; do
    command -v "$cmd" >/dev/null 2>&1 || { log "$cmd not found"; exit 1; }
done

# 1. Prometheus.
if [[ ! -x "$PROMETHEUS" ]]; then
    log "$PROMETHEUS missing, running scripts/install-test-deps.sh"
    bash scripts/install-test-deps.sh
fi
[[ -x "$PROMETHEUS" ]] || { log "$PROMETHEUS still missing"; exit 1; }

# 2. Build, then start everything.
log "cargo build --release --bin promhttp-demo"
cargo build --release --bin promhttp-demo
DEMO_BIN="${CARGO_TARGET_DIR:-target}/release/promhttp-demo"
[[ -x "$DEMO_BIN" ]] || { log "$DEMO_BIN not built"; exit 1; }

start=$SECONDS
deadline=$((SECONDS + DEADLINE_SECS))
past_deadline() { ((SECONDS >= deadline)); }

tmp=$(mktemp -d -t promhttp-demo-prom.XXXXXX)

# Three distinct free loopback ports: bind them all to port 0 at once, then release.
read -r app_port web_port prom_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
')
[[ "${prom_port:-}" =~ ^[0-9]+$ ]] || { log "could not pick free ports"; exit 1; }
app_addr=127.0.0.1:$app_port
web_addr=127.0.0.1:$web_port
prom_addr=127.0.0.1:$prom_port
metrics_path=/metrics
log "demo app http://$app_addr/some, metrics http://$web_addr$metrics_path; prometheus http://$prom_addr"

NO_COLOR=1 "$DEMO_BIN" --app.listen-address "$app_addr" --web.listen-address "$web_addr" \
    --web.telemetry-path "$metrics_path" >"$tmp/demo.log" 2>&1 &
demo_pid=$!

# Waits (bounded by the deadline) for a URL to answer 2xx while the process lives.
wait_http() {
    local url=$1 pid=$2 name=$3
    until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before answering $url"
            return 1
        fi
        if past_deadline; then
            log "$name did not answer $url within ${DEADLINE_SECS}s"
            return 1
        fi
        sleep 0.2
    done
}
wait_http "http://$web_addr$metrics_path" "$demo_pid" promhttp-demo

cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: $JOB
    metrics_path: $metrics_path
    static_configs:
      - targets: ['$web_addr']
EOF

"$PROMETHEUS" \
    --config.file="$tmp/prometheus.yml" \
    --storage.tsdb.path="$tmp/data" \
    --storage.tsdb.retention.time=1h \
    --web.listen-address="$prom_addr" \
    --enable-feature=native-histograms \
    --log.level=info >"$tmp/prometheus.log" 2>&1 &
prom_pid=$!
wait_http "http://$prom_addr/-/ready" "$prom_pid" prometheus
log "prometheus ready after $((SECONDS - start)) s"

# Some app traffic (counted by incoming_requests_total).
for _ in 1 2 3 4 5; do
    curl -fsS --max-time 2 -o /dev/null "http://$app_addr/some"
done

# 3. Poll the API. parse_vector prints an answer's samples and exits 0 only if at
# least one has a finite value.
parse_vector() { python3 "$tmp/parse_vector.py" "$1"; }
cat >"$tmp/parse_vector.py" <<'EOF'
import json, math, sys

try:
    with open(sys.argv[1]) as f:
        doc = json.load(f)
except Exception as e:
    print(f"  (no JSON answer: {e})")
    sys.exit(1)
if doc.get("status") != "success":
    print(f"  (error {doc.get('errorType')}: {doc.get('error')})")
    sys.exit(1)
data = doc.get("data", {})
if data.get("resultType") == "scalar":
    rows = [({}, data.get("result"))]
else:
    rows = [(r.get("metric", {}), r.get("value")) for r in data.get("result", [])]
if not rows:
    print("  (empty result)")
ok = False
for labels, value in rows:
    raw = value[1] if value and len(value) > 1 else None
    try:
        v = float(raw)
    except (TypeError, ValueError):
        v = math.nan
    finite = math.isfinite(v)
    ok = ok or finite
    lbl = "{" + ", ".join(f'{k}="{labels[k]}"' for k in sorted(labels)) + "}"
    print(f"  {lbl} => {raw}" + ("" if finite else "  (not finite)"))
sys.exit(0 if ok else 1)
EOF

query() { # query INDEX EXPR -> writes $tmp/answer.INDEX.json
    curl -sS --max-time 5 -G "http://$prom_addr/api/v1/query" \
        --data-urlencode "query=$2" -o "$tmp/answer.$1.json" 2>>"$tmp/curl.err" || true
}

target_up() {
    curl -sS --max-time 5 "http://$prom_addr/api/v1/targets?state=active" \
        -o "$tmp/targets.json" 2>>"$tmp/curl.err" || return 1
    python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
ts = [t for t in doc["data"]["activeTargets"] if t["labels"].get("job") == sys.argv[2]]
sys.exit(0 if ts and all(t["health"] == "up" for t in ts) else 1)
' "$tmp/targets.json" "$JOB" 2>/dev/null
}

until target_up; do
    kill -0 "$prom_pid" 2>/dev/null || { log "prometheus exited"; exit 1; }
    kill -0 "$demo_pid" 2>/dev/null || { log "promhttp-demo exited"; exit 1; }
    if past_deadline; then log "target $JOB not up within ${DEADLINE_SECS}s"; exit 1; fi
    sleep 0.5
done
log "target $JOB up after $((SECONDS - start)) s"

attempts=0
while :; do
    attempts=$((attempts + 1))
    all_ok=1
    for i in "${!QUERIES[@]}"; do
        query "$i" "${QUERIES[$i]}"
        parse_vector "$tmp/answer.$i.json" >"$tmp/result.$i.txt" || all_ok=0
    done
    ((all_ok)) && break
    kill -0 "$prom_pid" 2>/dev/null || { log "prometheus exited"; exit 1; }
    kill -0 "$demo_pid" 2>/dev/null || { log "promhttp-demo exited"; exit 1; }
    if past_deadline; then
        log "queries did not return finite values within ${DEADLINE_SECS}s ($attempts attempts)"
        for i in "${!QUERIES[@]}"; do
            echo "${QUERIES[$i]}" >&2
            cat "$tmp/result.$i.txt" >&2
        done
        exit 1
    fi
    sleep 1
done

# Context: how many scrapes there were, and the app traffic Prometheus saw.
query samples "count_over_time(up{job=\"$JOB\"}[5m])"
query requests "incoming_requests_total{job=\"$JOB\"}"
samples=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["data"]["result"]; print(r[0]["value"][1] if r else "?")' "$tmp/answer.samples.json" 2>/dev/null || echo "?")
requests=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["data"]["result"]; print(r[0]["value"][1] if r else "?")' "$tmp/answer.requests.json" 2>/dev/null || echo "?")

echo
echo "Prometheus $("$PROMETHEUS" --version 2>&1 | head -n1 | awk '{print $3}') scraping promhttp-demo at http://$web_addr$metrics_path"
echo "(scrapes so far: $samples, incoming_requests_total: $requests, after $((SECONDS - start)) s, $attempts query round(s))"
for i in "${!QUERIES[@]}"; do
    echo
    echo "${QUERIES[$i]}"
    cat "$tmp/result.$i.txt"
done
echo
failed=0
log "OK: every query returned a number"

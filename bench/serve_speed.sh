#!/usr/bin/env bash
# Times `tracker serve` over a 10,000-run workspace (bench/report_speed_data.py's sweep, filled
# through `tracker import`; shared with bench/report_speed.sh): a page of the runs table (50
# runs: unsorted, sorted by a metric, filtered with --where, and a late page), and how long a
# metric logged by `tracker import` takes to reach an open /events stream (the stream watches
# that run with ?runs=ID). Targets: a runs-table page < 300 ms; a logged metric on the stream < 2 s.
# With chromium installed it also saves the README's screenshot of the compare view
# (bench/screenshots/dashboard-compare.png: 12 runs, 4 variants x 3 seeds, bands over seeds).
# Usage: bench/serve_speed.sh   (env: TRACKER_BIN to use a built binary, SCRATCH_PATH, BENCH_DIR,
# RUNS=10000, STEPS=200, REPEAT=20 requests per page, PORT=8799)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-/tmp/tracker-report-bench}
RUNS=${RUNS:-10000}
STEPS=${STEPS:-200}
REPEAT=${REPEAT:-20}
PORT=${PORT:-8799}
mkdir -p "$WORK"
source bench/lib.sh
use_release_binary

home="$WORK/tracker-$RUNS"
if [ ! -f "$home/tracker.sqlite" ]; then
    echo "filling $RUNS runs through tracker import..." >&2
    rm -rf "$WORK/jsonl-$RUNS" "$home"
    python3 bench/report_speed_data.py jsonl "$WORK/jsonl-$RUNS" "$RUNS" "$STEPS"
    "$TRACKER_BIN" import --home "$home" "$WORK"/jsonl-"$RUNS"/*.jsonl >/dev/null
    rm -rf "$WORK/jsonl-$RUNS"
fi

"$TRACKER_BIN" serve --home "$home" --port "$PORT" >"$WORK/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q "tracker serve: http" "$WORK/serve.log" 2>/dev/null && break
    sleep 0.1
done

echo "load: $(uptime | sed 's/.*load average/load average/')"
python3 - "$PORT" "$REPEAT" "$TRACKER_BIN" "$home" "$WORK" <<'PY'
import json, statistics, subprocess, sys, threading, time, urllib.parse, urllib.request

port, repeat, tracker, home, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
base = f"http://127.0.0.1:{port}"

def timed(path):
    t = []
    for i in range(repeat + 2):
        start = time.perf_counter()
        with urllib.request.urlopen(base + path) as r:
            body = r.read()
            assert r.status == 200, (path, r.status)
        if i >= 2:  # two warm-up requests
            t.append((time.perf_counter() - start) * 1000)
    return statistics.median(t), max(t), len(body)

where = urllib.parse.quote("model.attention.variant = 'stick_breaking' and val/loss.min < 3.3")
pages = [
    ("runs table, page 1 of 200", "/runs?experiment=sweep"),
    ("sorted by best val/loss", "/runs?experiment=sweep&sort=val%2Floss.min"),
    ("filtered with --where", f"/runs?experiment=sweep&where={where}"),
    ("page 150, sorted by train.lr desc", "/runs?experiment=sweep&sort=train.lr&desc=1&page=150"),
    ("experiments and queue", "/"),
]
print(f"{'view (10,000 runs)':40} {'median ms':>10} {'max ms':>8} {'KiB':>6}")
for name, path in pages:
    median, worst, size = timed(path)
    print(f"{name:40} {median:10.1f} {worst:8.1f} {size / 1024:6.0f}")

# Live: open /events watching a run of its own ("serve-bench-live", outside the sweep), log a step
# to it with tracker import (steps grow from run to run, so each is new), time its arrival.
seed = f"{work}/live-seed.jsonl"
with open(seed, "w") as f:
    f.write(json.dumps({"run": "serve-bench-live", "params": {"bench": "serve"}}) + "\n")
subprocess.run([tracker, "import", "--home", home, seed], check=True, capture_output=True)
query = urllib.parse.quote("run.name = 'serve-bench-live'")
rows = json.loads(urllib.request.urlopen(f"{base}/runs?format=json&where={query}").read())["sections"][0]["rows"]
live_id = rows[0]["id"]
latencies = []
for attempt in range(5):
    step = int(time.time() * 1000)
    got = threading.Event()
    ready = threading.Event()
    arrival = {}
    def listen():
        with urllib.request.urlopen(f"{base}/events?runs={live_id}", timeout=10) as stream:
            for raw in stream:
                line = raw.decode()
                if "tracker live feed" in line:
                    ready.set()
                if line.startswith("data:") and f"[{step}," in line:
                    arrival["t"] = time.time()
                    got.set()
                    return
    threading.Thread(target=listen, daemon=True).start()
    ready.wait(10)
    path = f"{work}/live-{attempt}.jsonl"
    with open(path, "w") as f:
        f.write(json.dumps({"run": "serve-bench-live", "step": step, "metrics": {"train/loss": 2.0}}) + "\n")
    logged = time.time()
    subprocess.run([tracker, "import", "--home", home, path], check=True, capture_output=True)
    if not got.wait(10):
        print("live: the metric did not arrive within 10 s")
        sys.exit(1)
    latencies.append((arrival["t"] - logged) * 1000)
print(f"live: a metric logged with tracker import reached /events in {statistics.median(latencies):.0f} ms median, "
      f"{max(latencies):.0f} ms max over {len(latencies)} tries (poll every 250 ms, tracker import's start included)")
PY

if command -v chromium >/dev/null; then
    mkdir -p bench/screenshots
    where=$(python3 -c "import urllib.parse; print(urllib.parse.quote(\"model.attention.variant != 'alibi' and train.lr = 0.003 and train.seed <= 3\"))")
    profile=$(mktemp -d)
    chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --hide-scrollbars \
        --user-data-dir="$profile" --window-size=1280,2700 --screenshot=bench/screenshots/dashboard-compare.png \
        "http://127.0.0.1:$PORT/compare?experiment=sweep&where=$where" >/dev/null 2>&1 || true
    rm -rf "$profile"
    echo "screenshot: bench/screenshots/dashboard-compare.png"
fi

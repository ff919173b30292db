#!/usr/bin/env bash
# Times this tree's metric store and `report --compare` against another tracker binary (e.g. the
# main branch's release build), side by side in one run, alternating the two binaries round by
# round so that both see the same machine load, and prints the medians and the ratios:
#   batched writes   - points/s, logMetrics in batches of 1000 (bench-store --mode batched)
#   8 writers        - points/s of 8 writer processes while one process reads, and lock errors
#   report --compare - whole-process time over a 10,000-run sweep (bench/report_speed_data.py),
#                      filled through `tracker import`; CPU time (user + sys) beside the wall time
# On a busy machine the wall rates drop for both binaries; the ratios are the figures to quote,
# with the load average printed at the end.
# Usage: bench/store_vs_baseline.sh BASELINE_BIN  (env: TRACKER_BIN to time a built binary,
# SCRATCH_PATH, BENCH_DIR, ROUNDS=3, POINTS=1000000, WRITER_POINTS=50000, RUNS=10000, STEPS=200,
# REPORT_RUNS=10 timed report processes per binary and round)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:?usage: bench/store_vs_baseline.sh BASELINE_BIN (a tracker release binary to compare with)}
[ -x "$BASE" ] || { echo "bench: no tracker binary at $BASE" >&2; exit 1; }
WORK=${BENCH_DIR:-/tmp/tracker-store-vs-baseline}
ROUNDS=${ROUNDS:-3}
POINTS=${POINTS:-1000000}
WRITER_POINTS=${WRITER_POINTS:-50000}
RUNS=${RUNS:-10000}
STEPS=${STEPS:-200}
REPORT_RUNS=${REPORT_RUNS:-10}
mkdir -p "$WORK"
source bench/lib.sh
use_release_binary

# The sweep is imported once, by the baseline; this tree reads a copy of the same file (so both
# read the same page layout). A copy of an older schema is upgraded by opening it for writing
# once (as a user's first command after an upgrade does; the time it took is printed); a binary
# that still cannot read it imports its own.
fill() {
    rm -rf "$2" "$WORK/jsonl"
    echo "filling $RUNS runs into $2 through $1 import..." >&2
    python3 bench/report_speed_data.py jsonl "$WORK/jsonl" "$RUNS" "$STEPS"
    "$1" import --home "$2" "$WORK"/jsonl/*.jsonl >/dev/null
    rm -rf "$WORK/jsonl"
}
readable() { [ -f "$2/tracker.sqlite" ] && "$1" report --home "$2" --limit 1 >/dev/null 2>&1; }
# Opens the store at $2 for writing with binary $1 (importing an empty file), which applies its
# pending migrations, and prints how long that took.
upgrade() {
    [ -f "$2/tracker.sqlite" ] || return 0
    : >"$WORK/empty.jsonl"
    local start=$(date +%s.%N)
    "$1" import --home "$2" "$WORK/empty.jsonl" >/dev/null 2>&1 || true
    echo "upgraded $2 with $1 in $(python3 -c "print('%.2f' % ($(date +%s.%N) - $start))") s" >&2
}
readable "$BASE" "$WORK/report-base-$RUNS" || upgrade "$BASE" "$WORK/report-base-$RUNS"
readable "$BASE" "$WORK/report-base-$RUNS" || fill "$BASE" "$WORK/report-base-$RUNS"
if ! readable "$TRACKER_BIN" "$WORK/report-ours-$RUNS"; then
    rm -rf "$WORK/report-ours-$RUNS" && cp -r "$WORK/report-base-$RUNS" "$WORK/report-ours-$RUNS"
    readable "$TRACKER_BIN" "$WORK/report-ours-$RUNS" || upgrade "$TRACKER_BIN" "$WORK/report-ours-$RUNS"
    readable "$TRACKER_BIN" "$WORK/report-ours-$RUNS" || fill "$TRACKER_BIN" "$WORK/report-ours-$RUNS"
fi

python3 - "$TRACKER_BIN" "$BASE" "$WORK" "$ROUNDS" "$POINTS" "$WRITER_POINTS" "$RUNS" "$REPORT_RUNS" "$WORK/figures.jsonl" <<'PY'
import json, os, resource, shutil, statistics, subprocess, sys, time
ours, base, work = sys.argv[1:4]
rounds, points, writer_points, runs, report_runs = map(int, sys.argv[4:9])
bins = {"ours": ours, "base": base}
res = {(side, m): [] for side in bins for m in ("batched", "batchedCPU", "writers", "locks", "report", "reportCPU")}

def store(side, mode, *args):
    home = f"{work}/store-{side}"
    shutil.rmtree(home, ignore_errors=True)
    out = subprocess.run([bins[side], "bench-store", "--home", home, "--mode", mode, *args],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)

def report(side):
    cmd = [bins[side], "report", "--home", f"{work}/report-{side}-{runs}", "--compare", "--experiment", "sweep"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)  # warm-up
    for _ in range(report_runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        res[(side, "report")].append((time.perf_counter() - t) * 1000)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        res[(side, "reportCPU")].append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000)

for i in range(rounds):
    for side in (("ours", "base") if i % 2 == 0 else ("base", "ours")):
        print(f"round {i + 1}/{rounds}: {side}...", file=sys.stderr)
        b = store(side, "batched", "--points", str(points), "--batch", "1000")
        res[(side, "batched")].append(b["pointsPerSecond"])
        res[(side, "batchedCPU")].append(b["pointsPerCPUSecond"])
        w = store(side, "writers", "--processes", "8", "--points", str(writer_points), "--batch", "1000")
        res[(side, "writers")].append(w["pointsPerSecond"])
        res[(side, "locks")].append(w["writerLockErrors"] + w["readerLockErrors"] + w["failedWriters"])
        report(side)

med = lambda side, m: statistics.median(res[(side, m)])
figures = open(sys.argv[9], "w")
rows = [
    ("batched writes (points/s, wall)", "batched", True),
    ("batched writes (points per CPU second)", "batchedCPU", True),
    ("8 writers + reader (points/s)", "writers", True),
    (f"report --compare, {runs:,} runs (ms, wall)", "report", False),
    (f"report --compare, {runs:,} runs (ms, CPU)", "reportCPU", False),
]
print(f"| measurement | this tree | baseline | ratio |\n|---|---:|---:|---:|")
for name, m, higher in rows:
    o, b = med("ours", m), med("base", m)
    fmt = (lambda v: f"{v:,.0f}") if o >= 1000 else (lambda v: f"{v:,.1f}")
    print(f"| {name} | {fmt(o)} | {fmt(b)} | {(o / b if higher else b / o):.2f}x |")
    print(json.dumps([f"against BASELINE_BIN: {name}", fmt(o), f"baseline {fmt(b)}", f"{(o / b if higher else b / o):.2f}x", "", ""]), file=figures)
print(f"| lock errors or failed writers, 8 writers + reader (all rounds) | {sum(res[('ours', 'locks')]):.0f} "
      f"| {sum(res[('base', 'locks')]):.0f} | |")
print(f"\nmedians over {rounds} rounds ({report_runs} report processes per binary and round); "
      f"ratio: how many times better this tree is. Load average at the end: {os.getloadavg()[0]:.1f} "
      f"(1 min), {os.getloadavg()[2]:.1f} (15 min).")
PY

# The figures for bench/all.sh's summary (bench/lib.sh: bench_results), written by the table above.
bench_results <"$WORK/figures.jsonl"

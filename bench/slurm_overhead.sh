#!/usr/bin/env bash
# tracker's own overhead per Slurm run, from tracker's own timestamps, on a single-node cluster
# (.ci/services/slurm.sh, started here unless SLURM_CONF names a running one; needs root):
# ROUNDS sweeps of RUNS tiny runs each (synthetic task t1, STEPS steps) through
# `tracker run FILE` with [executor] kind = "slurm", then the median and max of each interval:
#
#   sbatch        head calls sbatch -> sbatch answers            <sweep>/sbatch.jsonl (head)
#   slurm start   sbatch answers -> the task starts              sbatch.jsonl, spool `start` (task)
#   task set-up   the task starts -> training starts             spool `start`, `training` (task)
#   record        training ends -> the head records the result   spool `end`, the store's runEvent
#
# `slurm start` is Slurm's own latency (its scheduler, then slurmd launching the batch script
# and our binary); the other three are tracker's, with a target of under 2 s each. RUNS defaults
# to the CPU count, so no task waits for a CPU and `slurm start` is scheduling, not queueing.
# `record` is bounded by the head's spool look interval, [executor] poll_seconds (POLL, default 2
# as in tracker; the squeue poll backs off, the spool look does not). All timestamps are read on
# this one machine, so their clocks agree; on a real cluster, node clocks must be in sync (NTP)
# for `slurm start`, `task set-up` and `record` to mean this.
#
# Usage: bench/slurm_overhead.sh   (env: TRACKER_BIN to use a built binary, SCRATCH_PATH,
# SKIP_BUILD=1, BENCH_DIR, ROUNDS=6, RUNS=nproc, STEPS=20, POLL=2)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-/tmp/tracker-slurm-bench}
ROUNDS=${ROUNDS:-6}
RUNS=${RUNS:-$(nproc)}
STEPS=${STEPS:-20}
POLL=${POLL:-2}
source bench/lib.sh
use_release_binary

if [ -z "${SLURM_CONF:-}" ]; then
    env_file=$(mktemp)
    bash .ci/services/slurm.sh start >"$env_file"
    # shellcheck disable=SC1090
    source "$env_file"
    trap 'bash .ci/services/slurm.sh stop >/dev/null 2>&1 || true; rm -f "$env_file"' EXIT
fi
sched=$(scontrol show config | awk -F' = ' '/^SchedulerParameters/ {print $2}')

rm -rf "$WORK"
home="$WORK/home"
mkdir -p "$home"
seeds=$(seq -s, 1 "$RUNS")
for round in $(seq "$ROUNDS"); do
    cat >"$WORK/round$round.toml" <<TOML
[executor]
kind = "slurm"
cpus_per_task = 1
time = "10"
poll_seconds = $POLL

[data]
task = "t1"
eval_lengths = [16]
eval_episodes = 4

[model]
layers = 1
heads = 2
channels = 16
context = 16

[train]
steps = $STEPS
batch = 4
warmup = 2
eval_every = 0
log_every = 1
threads = 1

[eval]
final_batches = 1

[sweep]
seeds = [$seeds]
TOML
    "$TRACKER_BIN" run "$WORK/round$round.toml" --home "$home" >"$WORK/round$round.log" 2>&1 || {
        echo "bench: round $round failed: see $WORK/round$round.log" >&2
        exit 1
    }
done

echo "load: $(uptime | sed 's/.*load average/load average/'); $ROUNDS rounds of $RUNS runs, $(nproc) CPUs"
echo "Slurm: SchedulerParameters=$sched; head poll_seconds=$POLL"
python3 - "$home" "$WORK/intervals.json" <<'PY'
import datetime, json, sqlite3, statistics, sys

home = sys.argv[1]
db = sqlite3.connect(f"{home}/tracker.sqlite")

def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.endswith("\n")]

def unix(iso):
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()

intervals = {"sbatch": [], "slurm start": [], "task set-up": [], "record": []}
sweeps = set()
rows = db.execute(
    "SELECT s.runId, s.sweepDir, s.arrayJobId, r.state FROM slurmTask s JOIN run r ON r.id = s.runId").fetchall()
for run, sweep, array, state in rows:
    if state != "succeeded":
        sys.exit(f"bench: run {run} is {state}, not succeeded")
    calls = {c["job"]: c for c in lines(f"{sweep}/sbatch.jsonl")}
    if sweep not in sweeps:
        sweeps.add(sweep)
        intervals["sbatch"] += [c["answered"] - c["called"] for c in calls.values()]
    events = lines(f"{sweep}/spool/{run}.jsonl")
    first = lambda kind: next(e["time"] for e in events if e["kind"] == kind)
    end = [e for e in events if e["kind"] == "end"][-1]["time"]
    (recorded,) = db.execute(
        "SELECT time FROM runEvent WHERE runId = ? AND toState = 'succeeded'", (run,)).fetchone()
    intervals["slurm start"].append(first("start") - calls[array]["answered"])
    intervals["task set-up"].append(first("training") - first("start"))
    intervals["record"].append(unix(recorded) - end)

print(f"{'interval':<12} {'n':>3} {'median s':>9} {'max s':>7}  whose")
for name, values in intervals.items():
    whose = "Slurm's" if name == "slurm start" else "tracker's"
    print(f"{name:<12} {len(values):>3} {statistics.median(values):>9.3f} {max(values):>7.3f}  {whose}")
json.dump(intervals, open(sys.argv[2], "w"))
PY

# The figures for bench/all.sh's summary (bench/lib.sh: bench_results).
python3 - "$WORK/intervals.json" "$ROUNDS" "$RUNS" "$POLL" <<'PY' | bench_results
import json, statistics, sys
iv = json.load(open(sys.argv[1]))
cell = lambda name: f"{statistics.median(iv[name]):.3f} / {max(iv[name]):.3f} s"
ours = [name for name in iv if name != "slurm start"]
print(json.dumps([f"Slurm: tracker's own overhead per run ({sys.argv[2]} sweeps of {sys.argv[3]} tiny runs; median / max; poll_seconds = {sys.argv[4]})",
                  "; ".join(f"{name} {cell(name)}" for name in ours), f"Slurm's own start {cell('slurm start')}", "",
                  "< 2 s each", "yes" if all(max(iv[name]) < 2 for name in ours) else "no"]))
PY

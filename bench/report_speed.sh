#!/usr/bin/env bash
# Times `tracker report --compare --experiment sweep` over 100 and 10,000 runs (each with 11
# params, a tag, 200 steps x 4 metrics and 4 length/task metrics), side by side with MLflow's
# search_runs over the same runs in an MLflow SQLite store, and prints a table with the ratios.
# Our database is filled through `tracker import`, i.e. Store's batched metric write path.
# Targets: compare < 50 ms at 100 runs, < 100 ms at 10,000 runs (issue 16); CLI start < 20 ms.
# The stores are kept in BENCH_DIR between runs (filling 10,000 runs takes minutes) and upgraded
# or filled again when the binary's schema differs.
# Usage: bench/report_speed.sh   (env: TRACKER_BIN to use a built binary, SCRATCH_PATH,
# BENCH_DIR, SIZES="100 10000", STEPS=200, RUNS_HF=20 hyperfine runs, MLFLOW=0 to leave out the
# MLflow side, BASELINE_BIN another tracker binary, e.g. main's release build, timed side by side
# with this one on the same runs, in a store it filled itself (its schema may be older):
# ROUNDS_AB=20 rounds alternating the two binaries, medians
# of wall and CPU time (user + sys) per process, the ratios and the load average)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-/tmp/tracker-report-bench}
SIZES=${SIZES:-"100 10000"}
STEPS=${STEPS:-200}
RUNS_HF=${RUNS_HF:-20}
MLFLOW=${MLFLOW:-1}
BASE=${BASELINE_BIN:-}
ROUNDS_AB=${ROUNDS_AB:-20}
mkdir -p "$WORK"
[ -z "$BASE" ] || [ -x "$BASE" ] || { echo "bench: no tracker binary at BASELINE_BIN=$BASE" >&2; exit 1; }
[ -z "$BASE" ] || [ "$(realpath "$BASE")" != "$(realpath "${TRACKER_BIN:-/nonexistent}")" ] ||
    { echo "bench: BASELINE_BIN is TRACKER_BIN; copy one of them to compare a binary with itself" >&2; exit 1; }

[ "$MLFLOW" = 0 ] || python3 -c "import mlflow" 2>/dev/null || pip install -q mlflow
command -v hyperfine >/dev/null || (apt-get install -y -qq hyperfine >/dev/null 2>&1 || true)
source bench/lib.sh
use_release_binary
DATA() { python3 bench/report_speed_data.py "$@"; }

# Mean wall time in ms of a command (hyperfine when installed, else a Python loop).
mean_ms() {
    if command -v hyperfine >/dev/null; then
        hyperfine -N --warmup 3 --runs "$2" --export-json "$WORK/hf.json" "$1" >/dev/null 2>&1
        python3 -c "import json; print('%.1f' % (json.load(open('$WORK/hf.json'))['results'][0]['mean'] * 1000))"
    else
        python3 -c "
import subprocess, time, shlex
t = []
for _ in range($2):
    s = time.perf_counter(); subprocess.run(shlex.split('''$1'''), capture_output=True); t.append(time.perf_counter() - s)
print('%.1f' % (sum(t) / len(t) * 1000))"
    fi
}

# Interleaved rounds of this binary and BASELINE_BIN on one command line (a label, then the
# report's arguments): medians of wall and CPU time in ms per process, printed as a table row.
side_by_side() {
    python3 - "$TRACKER_BIN" "$BASE" "$ROUNDS_AB" "$@" <<'PY'
import resource, statistics, subprocess, sys, time
ours, base, rounds, label = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
cut = sys.argv.index("--")
args, homes = sys.argv[5:cut], dict(zip((ours, base), sys.argv[cut + 1:cut + 3]))
res = {ours: ([], []), base: ([], [])}
for r in range(rounds):
    for b in (ours, base) if r % 2 == 0 else (base, ours):
        r0, t = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run([b] + args + ["--home", homes[b]], stdout=subprocess.DEVNULL, check=True)
        wall, r1 = (time.perf_counter() - t) * 1000, resource.getrusage(resource.RUSAGE_CHILDREN)
        res[b][0].append(wall)
        res[b][1].append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000)
(ow, oc), (bw, bc) = ([statistics.median(v) for v in res[b]] for b in (ours, base))
print(f"| {label} | {' '.join(args[1:])} | {ow:.1f} / {oc:.1f} | {bw:.1f} / {bc:.1f} | {bw / ow:.2f}x / {bc / oc:.2f}x |")
PY
}

rows=()
ab_rows=()
# A store of N runs for BIN in HOME, kept from an earlier run of this script when BIN can use it:
# `status` (a write) upgrades a store of an older schema; a store BIN cannot open (a newer
# schema, or damaged) is filled again.
fill() { # BIN HOME N
    if [ -f "$2/tracker.sqlite" ] && ! err=$("$1" status --home "$2" 2>&1 >/dev/null); then
        echo "  $1 cannot open $2 ($err): filling it again" >&2
        rm -rf "$2"
    fi
    if [ ! -f "$2/tracker.sqlite" ]; then
        echo "filling $3 runs through $1 import..." >&2
        rm -rf "$WORK/jsonl-$3" "$2"
        DATA jsonl "$WORK/jsonl-$3" "$3" "$STEPS"
        start=$(date +%s.%N)
        "$1" import --home "$2" "$WORK"/jsonl-"$3"/*.jsonl >/dev/null
        echo "  import: $(python3 -c "print('%.1f' % ($(date +%s.%N) - $start))") s" >&2
        rm -rf "$WORK/jsonl-$3"
    fi
}

for n in $SIZES; do
    home="$WORK/tracker-$n" mlflow_db="$WORK/mlflow-$n.db"
    fill "$TRACKER_BIN" "$home" "$n"
    if [ -n "$BASE" ]; then
        # the baseline reads a store of its own (its schema may be older than this tree's)
        fill "$BASE" "$WORK/baseline-$n" "$n"
        echo "timing $n runs side by side with $BASE..." >&2
        ab_rows+=("$(side_by_side "$n" report --compare --experiment sweep -- "$home" "$WORK/baseline-$n")")
        ab_rows+=("$(side_by_side "$n" report --experiment sweep -- "$home" "$WORK/baseline-$n")")
    fi
    if [ "$MLFLOW" = 0 ]; then
        echo "timing $n runs..." >&2
        ours=$(mean_ms "$TRACKER_BIN report --home $home --compare --experiment sweep" "$RUNS_HF")
        ours_list=$(mean_ms "$TRACKER_BIN report --home $home --experiment sweep" "$RUNS_HF")
        rows+=("$n|$ours|$ours_list|nan|nan")
        continue
    fi
    if [ ! -f "$mlflow_db" ]; then
        echo "filling $n runs into an MLflow store..." >&2
        DATA mlflow "$mlflow_db" "$n" "$STEPS"
    fi
    echo "timing $n runs..." >&2
    ours=$(mean_ms "$TRACKER_BIN report --home $home --compare --experiment sweep" "$RUNS_HF")
    ours_list=$(mean_ms "$TRACKER_BIN report --home $home --experiment sweep" "$RUNS_HF")
    calls=()
    for _ in 1 2 3; do calls+=("$(DATA search "$mlflow_db" | python3 -c "import json,sys; print(json.load(sys.stdin)['seconds'] * 1000)")"); done
    theirs_call=$(python3 -c "import sys; v = sorted(map(float, sys.argv[1:])); print('%.1f' % v[len(v) // 2])" "${calls[@]}")
    theirs_proc=$(mean_ms "python3 bench/report_speed_data.py search $mlflow_db" 3)
    rows+=("$n|$ours|$ours_list|$theirs_call|$theirs_proc")
done
start_ms=$(mean_ms "$TRACKER_BIN --help" "$RUNS_HF")

echo
echo "| runs | tracker report --compare (whole process) | tracker report (run table) | MLflow search_runs (call only) | MLflow search_runs (python process) | MLflow call / ours |"
echo "|---:|---:|---:|---:|---:|---:|"
for r in "${rows[@]}"; do
    IFS='|' read -r n ours list call proc <<<"$r"
    ratio=$(python3 -c "c = float('$call'); print('not run' if c != c else '%.1fx' % (c / $ours))")
    echo "| $n | $ours ms | $list ms | $call ms | $proc ms | $ratio |"
done
echo
echo "CLI start (tracker --help): $start_ms ms (target < 20 ms)"
if [ -n "$BASE" ]; then
    echo
    echo "Side by side with $BASE ($ROUNDS_AB alternating rounds, medians; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end):"
    echo
    echo "| runs | tracker report ... | this binary (ms, wall / CPU) | baseline (ms, wall / CPU) | baseline / this |"
    echo "|---:|---|---:|---:|---:|"
    printf '%s\n' "${ab_rows[@]}"
fi

# The figures for bench/all.sh's summary (bench/lib.sh: bench_results); targets of issue 16.
python3 - "$start_ms" "${rows[@]}" <<'PY' | bench_results
import json, sys
for row in sys.argv[2:]:
    n, ours, listing, call, proc = row.split("|")
    n, ours, call, want = int(n), float(ours), float(call), 50 if int(n) <= 100 else 100
    mlflow = call == call  # NaN: MLFLOW=0
    print(json.dumps([f"report --compare, {n:,} runs, whole process", f"{ours:.1f} ms",
                      f"MLflow search_runs {call:.1f} ms (the call alone; {float(proc):.0f} ms as a Python process)"
                      if mlflow else "MLflow not run (MLFLOW=0)",
                      f"{call / ours:.1f}x faster" if mlflow else "", f"< {want} ms", "yes" if ours < want else "no"]))
start = float(sys.argv[1])
print(json.dumps(["CLI start (tracker --help)", f"{start:.1f} ms", "", "", "< 20 ms", "yes" if start < 20 else "no"]))
PY

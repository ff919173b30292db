#!/usr/bin/env bash
# One benchmark pass (issue 16): every script in bench/ that measures tracker against a reference,
# one after another with ONE release binary, then the README's Performance section written from
# the pass by bench/performance.py (between its two marker lines). Wants an otherwise idle machine.
#
#   bash bench/all.sh [--full] [--quick] [--only NAME,NAME] [--no-readme]
#
#   --full       ingest_scale at 10 GB as well as 1 GB (about 10 more minutes, 25 GB free disk)
#   --quick      tiny sizes, to check the machinery: its numbers mean nothing, and the section
#                it writes says so (never commit it); train_speed's 3 steps of each model take
#                most of it (35 minutes in all at a load average of 20 on 2 cores)
#   --only LIST  only these scripts (names without .sh, comma separated); the rest is not run
#   --no-readme  leave README.md alone; `python3 bench/performance.py PASS_DIR` writes it later
#
# The scripts, in this order: bpe (vs HF tokenizers and tiktoken), ingest_scale (1G; vs HF),
# store_speed (PostgreSQL vs SQLite; starts and stops its own PostgreSQL unless
# TRACKER_BENCH_DATABASE_URL names one), tracker_vs_mlflow, report_speed (vs MLflow), train_speed
# (vs PyTorch), slurm_overhead (starts and stops its own single-node Slurm unless SLURM_CONF names
# one; skipped while another Slurm cluster runs here), attention_speed (vs softmax_rope),
# archive_read and ingest (vs xz/gzip/unzip and the plain folder), and store_vs_baseline when
# BASELINE_BIN names another tracker binary (store_speed then adds its baseline columns too).
# The binary: bench/lib.sh's use_release_binary once (TRACKER_BIN, or a release build now unless
# SKIP_BUILD=1), then TRACKER_BIN and SKIP_BUILD=1 for every script.
# The pass goes to bench/out/pass-YYYYMMDD-HHMM/ (or $BENCH_PASS_DIR; git-ignored, the README
# holds each script's table): pass.json (commit, binary, machine, options), scripts.jsonl (per
# script: command, exit status, seconds, /proc/loadavg before and after), results.jsonl (the
# scripts' bench_result lines), NAME.out (the script's stdout) and NAME.log (its stderr). A script that fails or times
# out (BENCH_TIMEOUT seconds, default 5400) is reported as such and the pass goes on; the exit
# status is the number of scripts that failed.
set -uo pipefail
cd "$(dirname "$0")/.."
full=0 quick=0 readme=1 only=""
while (($#)); do
    case $1 in
        --full) full=1 ;;
        --quick) quick=1 ;;
        --no-readme) readme=0 ;;
        --only) only=${2:?--only needs a comma-separated list of script names}; shift ;;
        --only=*) only=${1#--only=} ;;
        *) echo "usage: bash bench/all.sh [--full] [--quick] [--only NAME,NAME] [--no-readme]" >&2; exit 2 ;;
    esac
    shift
done

scripts=(bpe ingest_scale store_speed tracker_vs_mlflow report_speed train_speed slurm_overhead attention_speed
    archive_read ingest store_vs_baseline)
for name in ${only//,/ }; do
    [[ " ${scripts[*]} " == *" $name "* ]] || { echo "bench/all.sh: no script '$name' in the pass; one of: ${scripts[*]}" >&2; exit 2; }
done

source bench/lib.sh
built=$([ -z "${TRACKER_BIN:-}" ] && [ "${SKIP_BUILD:-0}" != 1 ] && echo true || echo false)
use_release_binary || exit 1
export TRACKER_BIN SKIP_BUILD=1

PASS=${BENCH_PASS_DIR:-bench/out/pass-$(date -u +%Y%m%d-%H%M)}
mkdir -p "$PASS"
PASS=$(cd "$PASS" && pwd)
export BENCH_RESULTS=$PASS/results.jsonl
: >"$BENCH_RESULTS"
: >"$PASS/scripts.jsonl"
if ((quick)); then
    QUICK=$(mktemp -d /tmp/tracker-bench-quick.XXXXXX)
    trap 'rm -rf "$QUICK"' EXIT
    mkdir -p "$QUICK/bpe/corpus"
    cp /usr/share/common-licenses/* "$QUICK/bpe/corpus/" 2>/dev/null
fi

# pass.json: what the generator's header says about the pass.
python3 - "$PASS/pass.json" "$TRACKER_BIN" "$built" "$quick" "$full" "$only" <<'PY'
import json, os, subprocess, sys, time
git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True).stdout.strip()
mem = next(int(l.split()[1]) * 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal:"))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
json.dump({"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": git("rev-parse", "--short", "HEAD"),
           "dirty": bool(git("status", "--porcelain", "--untracked-files=no")), "binary": sys.argv[2],
           "binaryBuiltNow": sys.argv[3] == "true", "nproc": os.cpu_count(), "memoryBytes": mem, "cpu": cpu,
           "quick": sys.argv[4] == "1", "full": sys.argv[5] == "1", "only": sys.argv[6]},
          open(sys.argv[1], "w"), indent=1)
PY

# plan NAME: the environment and arguments of that script in this pass, one word a line
# (empty: the script is not run; "skip: REASON": reported as skipped).
plan() {
    local q=$quick
    case $1 in
        bpe) ((q)) && printf '%s\n' "BPE_BENCH_DIR=$QUICK/bpe" BPE_BENCH_VOCABS=512 BPE_BENCH_MEMORY=0 BPE_BENCH_ENCODE_RUNS=1 ;;
        ingest_scale)
            if ((q)); then printf '%s\n' "SCALE_BENCH_DIR=$QUICK/scale" -- 4M; else
                printf '%s\n' -- 1G; ((full)) && echo 10G; fi ;;
        store_speed) ((q)) && printf '%s\n' "BENCH_DIR=$QUICK/store" POINTS=20000 ROUNDS=1 ;;
        tracker_vs_mlflow)
            ((q)) && printf '%s\n' "BENCH_DIR=$QUICK/mlflow" ROUNDS=1 POINTS=20000 MLFLOW_POINTS=2000 STEPS=100 MLFLOW_STEPS=20 \
                WRITER_POINTS=25000 ;;
        report_speed) ((q)) && printf '%s\n' "BENCH_DIR=$QUICK/report" SIZES=100 STEPS=10 RUNS_HF=3 ;;
        train_speed) ((q)) && printf '%s\n' -- 3 ;;
        slurm_overhead)
            if [ -z "${SLURM_CONF:-}" ] && pgrep -x slurmctld >/dev/null; then
                echo "skip: another Slurm cluster runs on this machine (slurmctld pid $(pgrep -x slurmctld | head -1)); set SLURM_CONF to use it, or wait until it stops"
            else
                ((q)) && printf '%s\n' "BENCH_DIR=$QUICK/slurm" ROUNDS=1 RUNS=2 STEPS=5
            fi ;;
        attention_speed) ((q)) && printf '%s\n' CONTEXTS=256 -- 1 ;;
        archive_read | ingest) ((q)) && echo RUNS=1 ;;
        store_vs_baseline)
            [ -n "${BASELINE_BIN:-}" ] || { echo "skip: BASELINE_BIN is not set"; return; }
            ((q)) && printf '%s\n' "BENCH_DIR=$QUICK/baseline" ROUNDS=1 POINTS=20000 WRITER_POINTS=5000 RUNS=100 STEPS=10 \
                REPORT_RUNS=2
            printf '%s\n' -- "$BASELINE_BIN" ;;
    esac
    return 0
}

load() { cut -d' ' -f1-3 /proc/loadavg; }
failed=0
for name in "${scripts[@]}"; do
    [ -z "$only" ] || [[ ",$only," == *",$name,"* ]] || continue
    mapfile -t words < <(plan "$name")
    env=() args=()
    skip=""
    for w in "${words[@]}"; do
        case $w in
            "skip: "*) skip=${w#skip: } ;;
            --) args+=(--) ;;
            *) if ((${#args[@]})); then args+=("$w"); else env+=("$w"); fi ;;
        esac
    done
    args=("${args[@]:1}")
    before=$(load) start=$(date +%s.%N)
    if [ -n "$skip" ]; then
        status=skipped
        echo "== bench/all.sh: $name skipped: $skip" >&2
    else
        echo "== bench/all.sh: $name (load $before) ${env[*]} bench/$name.sh ${args[*]}" >&2
        env "${env[@]}" BENCH_SCRIPT="$name" timeout --kill-after=60 "${BENCH_TIMEOUT:-5400}" \
            bash "bench/$name.sh" "${args[@]}" >"$PASS/$name.out" 2>"$PASS/$name.log"
        rc=$?
        status=$([ $rc = 0 ] && echo ok || { [ $rc = 124 ] && echo "timed out after ${BENCH_TIMEOUT:-5400} s" || echo "exit $rc"; })
        [ $rc = 0 ] || { failed=$((failed + 1)); echo "== bench/all.sh: $name failed ($status): see $PASS/$name.log" >&2; }
    fi
    python3 - "$name" "$status" "$skip" "$start" "$(date +%s.%N)" "$before" "$(load)" "${env[*]} bench/$name.sh ${args[*]}" \
        >>"$PASS/scripts.jsonl" <<'PY'
import json, sys
name, status, skip, start, end, before, after, cmd = sys.argv[1:]
print(json.dumps({"script": name, "status": status, "skipped": skip, "seconds": round(float(end) - float(start), 1),
                  "loadBefore": before, "loadAfter": after, "command": cmd.strip()}))
PY
done

python3 - "$PASS/pass.json" <<'PY'
import json, sys, time
p = json.load(open(sys.argv[1]))
p["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
json.dump(p, open(sys.argv[1], "w"), indent=1)
PY
echo "== bench/all.sh: pass in $PASS; $failed script(s) failed" >&2
((readme)) && python3 bench/performance.py "$PASS"
exit "$failed"

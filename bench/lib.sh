# Shared by the bench scripts, sourced from the repository root.

# Sets (and exports) TRACKER_BIN, the release binary to time: the one already named by
# $TRACKER_BIN, else a release build in $SCRATCH_PATH (default .build-release), built now unless
# SKIP_BUILD=1 (then the last build is reused).
use_release_binary() {
    if [ -z "${TRACKER_BIN:-}" ]; then
        local scratch=${SCRATCH_PATH:-.build-release}
        if [ "${SKIP_BUILD:-0}" != 1 ]; then
            echo "== release build ($scratch)" >&2
            swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product tracker >&2
        fi
        case $scratch in
            /*) TRACKER_BIN=$scratch/release/tracker ;;
            *) TRACKER_BIN=$PWD/$scratch/release/tracker ;;
        esac
    fi
    if [ ! -x "$TRACKER_BIN" ]; then
        echo "bench: no tracker binary at $TRACKER_BIN; build one (unset SKIP_BUILD) or set TRACKER_BIN" >&2
        exit 1
    fi
    export TRACKER_BIN
}

# The figures a script measured, for bench/all.sh's pass (bench/performance.py puts them in the
# README's table), as JSON lines appended to $BENCH_RESULTS; without it (a script run alone)
# nothing is written and the script's printed tables are the whole output.
#   bench_result WHAT OURS REFERENCE RATIO TARGET MET    one figure
#   ... | bench_results                                  one JSON array of those six a line
# OURS and REFERENCE carry their units ("0.89 s", "HF tokenizers 9.46 s"); RATIO says which way
# ("10.67x faster"); MET is yes, no or empty when there is no target.
bench_result() {
    python3 -c "import json, sys; print(json.dumps(sys.argv[1:]))" "$@" | bench_results
}
bench_results() {
    local out=${BENCH_RESULTS:-/dev/null}
    python3 -c '
import json, sys
script = sys.argv[1]
keys = ("what", "ours", "reference", "ratio", "target", "met")
for line in sys.stdin:
    row = json.loads(line)
    if len(row) != len(keys):
        sys.exit(f"bench_result: {len(row)} fields in {line.strip()}; want WHAT OURS REFERENCE RATIO TARGET MET")
    print(json.dumps({"script": script, **{k: str(v) for k, v in zip(keys, row)}}), flush=True)
' "${BENCH_SCRIPT:-$(basename "$0" .sh)}" >>"$out"
}

#!/usr/bin/env bash
# ASHA against the full grid: runs experiments/lr-search-asha.toml (12 learning rates, ASHA over
# val/loss) and the same 12 runs without the scheduler (every run to its last step), each with
# one worker in a fresh workspace, and prints for each: the best final val/loss among the runs
# that finished, that run, and the optimizer steps spent in all (a pruned run counts the steps it
# trained). The claim checked: ASHA's best is within 1% of the grid's best with at most a third of
# the grid's steps. Seconds are wall time, so say the load (printed) with them.
# Usage: bench/asha_vs_grid.sh   (BENCH_DIR=dir for the workspaces; SKIP_BUILD=1 reuses the last
#        release build; TRACKER_BIN=path uses that binary)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
use_release_binary
WORK=${BENCH_DIR:-/tmp/tracker-bench-asha}
rm -rf "$WORK" && mkdir -p "$WORK"

# The grid: the same file without the scheduler keys, under its own experiment name.
grep -vE '^(scheduler|metric|mode|grace_steps|reduction_factor) *=' experiments/lr-search-asha.toml \
    >"$WORK/lr-search-grid.toml"

uptime
for kind in grid asha; do
    home=$WORK/$kind
    file=$([ $kind = grid ] && echo "$WORK/lr-search-grid.toml" || echo experiments/lr-search-asha.toml)
    "$TRACKER_BIN" ingest corpora/bundled.tar.xz --home "$home" >/dev/null
    start=$(date +%s.%N)
    "$TRACKER_BIN" run "$file" --home "$home" --workers 1 >"$WORK/$kind.log" 2>&1
    end=$(date +%s.%N)
    echo "$kind: $(echo "$end - $start" | bc) s wall, $(uptime | sed 's/.*load/load/')"
done

python3 - "$WORK" <<'PY'
import sqlite3, sys
work = sys.argv[1]
def read(kind):
    db = sqlite3.connect(f"{work}/{kind}/tracker.sqlite")
    runs = db.execute("""
        SELECT r.name, r.state,
          (SELECT lastStep FROM metricSummary WHERE runId = r.id AND key = 'train/loss'),
          (SELECT last FROM metricSummary WHERE runId = r.id AND key = 'val/loss'),
          (SELECT num FROM runParam WHERE runId = r.id AND key = 'train.lr')
        FROM run r ORDER BY r.id""").fetchall()
    return runs
grid, asha = read("grid"), read("asha")
def best(runs):
    done = [r for r in runs if r[1] == "succeeded"]
    return min(done, key=lambda r: r[3])
for kind, runs in (("grid", grid), ("asha", asha)):
    b = best(runs)
    steps = sum(r[2] for r in runs)
    states = {}
    for r in runs: states[r[1]] = states.get(r[1], 0) + 1
    print(f"{kind}: {len(runs)} runs {states}, {steps} steps, best val/loss {b[3]:.4f} ({b[0]}, lr {b[4]:.3g})")
gb, ab = best(grid)[3], best(asha)[3]
gs, as_ = sum(r[2] for r in grid), sum(r[2] for r in asha)
print(f"asha/grid: best val/loss {100 * (ab - gb) / gb:+.2f}%, steps {as_}/{gs} = {as_ / gs:.3f}")
for r in asha:
    print(f"  {r[0]:<28} lr {r[4]:.3g}  {r[1]:<9} {r[2]:>4} steps  val/loss {r[3]:.4f}")
PY

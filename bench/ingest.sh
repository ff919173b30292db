#!/usr/bin/env bash
# Whole-ingest cost: `tracker ingest` of the same ~52 MB English corpus as a folder and packed as
# .tar.xz, .tar.gz and .zip (best of RUNS each, vocabulary 8192), with the ratio to the folder,
# then peak memory against corpus size: a quarter, a half and all of the corpus, with the number
# of unique pre-token words (memory should follow the words, not the bytes).
# Usage: bench/ingest.sh   (reuses bench/archive_read.sh's corpus in $BENCH_DIR; TRACKER_BIN=path
#        skips the build; RUNS=n)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-/tmp/tracker-bench-archive}
RUNS=${RUNS:-2}
source bench/lib.sh
use_release_binary
[[ -f $WORK/.corpus-done ]] || BENCH_RESULTS= SKIP_BUILD=1 TRACKER_BIN=$TRACKER_BIN RUNS=1 bash bench/archive_read.sh >/dev/null

# ingest SOURCE -> "wall_seconds peak_rss_bytes unique_words documents bytes"
ingest() {
    local home
    home=$(mktemp -d)
    local t0 t1 json
    t0=$(date +%s.%N)
    json=$("$TRACKER_BIN" ingest "$1" --home "$home" --vocab-size 8192 --format json 2>/dev/null)
    t1=$(date +%s.%N)
    rm -rf "$home"
    python3 -c "import json,sys; s=json.loads(sys.argv[1]); print(float(sys.argv[3])-float(sys.argv[2]), s['peakMemoryBytes'], s['uniqueWords'], s['documents'], s['bytes'])" "$json" "$t0" "$t1"
}
best() {
    local best="" line
    for _ in $(seq "$RUNS"); do
        line=$(ingest "$1")
        if [[ -z $best ]] || python3 -c "import sys; sys.exit(0 if float(sys.argv[1].split()[0]) < float(sys.argv[2].split()[0]) else 1)" "$line" "$best"; then best=$line; fi
    done
    echo "$best"
}

echo "ingest, vocabulary 8192, best of $RUNS"
printf '%-16s %8s %8s %10s\n' input "wall s" ratio "peak MB"
plain=$(best "$WORK/corpus")
for src in corpus corpus.tar.xz corpus.tar.gz corpus.zip; do
    line=$([[ $src == corpus ]] && echo "$plain" || best "$WORK/$src")
    ingested+=("$src $line")
    python3 -c "import sys; a=sys.argv[2].split(); p=sys.argv[3].split(); print(f'{sys.argv[1]:<16} {float(a[0]):8.2f} {float(a[0])/float(p[0]):8.2f} {int(a[1])/1e6:10.0f}')" "$src" "$line" "$plain"
done

echo
echo "peak memory against corpus size (folder input)"
printf '%-10s %10s %10s %12s %10s\n' share "text MB" documents "unique words" "peak MB"
files=("$WORK"/corpus/*/*)
n=${#files[@]}
for share in 4 2 1; do
    sub=$(mktemp -d)
    for ((i = 0; i < n; i += share)); do ln -f "${files[$i]}" "$sub/$(basename "$(dirname "${files[$i]}")")-$(basename "${files[$i]}")"; done
    line=$(ingest "$sub")
    shares+=("$share $line")
    rm -rf "$sub"
    python3 -c "import sys; a=sys.argv[2].split(); print(f'1/{sys.argv[1]:<8} {int(a[4])/1e6:10.1f} {a[3]:>10} {a[2]:>12} {int(a[1])/1e6:10.0f}')" "$share" "$line"
done

# The figures for bench/all.sh's summary (bench/lib.sh: bench_results): each archive's whole ingest
# against the folder's (the 1.3x target), and peak memory against the unique words.
python3 - "$RUNS" "${#shares[@]}" "${shares[@]}" "${ingested[@]}" <<'PY' | bench_results
import json, sys
runs, n = sys.argv[1], int(sys.argv[2])
split = lambda a: (a.split()[0], *map(float, a.split()[1:]))
shares, ingested = [split(a) for a in sys.argv[3:3 + n]], [split(a) for a in sys.argv[3 + n:]]
folder = ingested[0]
for name, wall, peak, words, docs, size in ingested[1:]:
    ratio = wall / folder[1]
    print(json.dumps([f"whole ingest of the {size / 1e6:.0f} MB corpus as {name[len('corpus'):]}, V=8192 (best of {runs})",
                      f"{wall:.2f} s, peak {peak / 1e6:.0f} MB", f"the folder {folder[1]:.2f} s", f"{ratio:.2f}x the folder",
                      "<= 1.3x the folder", "yes" if ratio <= 1.3 else "no"]))
(_, _, p1, w1, _, b1), (_, _, p4, w4, _, b4) = shares[-1], shares[0]
print(json.dumps([f"ingest peak memory, the {b1 / 1e6:.0f} MB folder ({w1:,.0f} unique words)",
                  f"{p1 / 1e6:.0f} MB; {(p1 - p4) / max(1, w1 - w4):.0f} B per unique word beyond a quarter of it", "", "",
                  "< 250 MB", "yes" if p1 < 250e6 else "no"]))
PY

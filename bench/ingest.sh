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
[[ -f $WORK/.corpus-done ]] || SKIP_BUILD=1 TRACKER_BIN=$TRACKER_BIN RUNS=1 bash bench/archive_read.sh >/dev/null

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
    rm -rf "$sub"
    python3 -c "import sys; a=sys.argv[2].split(); print(f'1/{sys.argv[1]:<8} {int(a[4])/1e6:10.1f} {a[3]:>10} {a[2]:>12} {int(a[1])/1e6:10.0f}')" "$share" "$line"
done

#!/usr/bin/env bash
# Archive reading cost: times `tracker scan` on a ~52 MB English text folder and on the same
# folder packed as .tar.xz, .tar.gz and .zip (best of 3 each), next to the bare decompression
# floor (xz -dc, gzip -dc, unzip -p), and prints the ratio of each archive to the plain folder.
# Usage: bench/archive_read.sh   (BENCH_DIR=dir moves the ~150 MB of scratch files; RUNS=n;
#        SKIP_BUILD=1 reuses the last release build; TRACKER_BIN=path uses that binary)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-/tmp/tracker-bench-archive}
RUNS=${RUNS:-3}

source bench/lib.sh
use_release_binary
BIN=$TRACKER_BIN

# The corpus: public-domain and freely licensed English text from Debian packages, each source
# split at line boundaries into ~16 kB files so the folder holds thousands of documents.
packages=(bible-kjv dict-devil dict-gcide dict-foldoc jargon-text)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi
if [[ ! -f $WORK/.corpus-done ]]; then
    rm -rf "$WORK" && mkdir -p "$WORK/corpus"
    piece() { mkdir -p "$WORK/corpus/$1" && split -C 16k -d -a 5 --additional-suffix=.txt - "$WORK/corpus/$1/part-"; }
    bible -l0 Gen1:1-Rev22:21 | piece kjv
    for d in devil foldoc gcide; do zcat "/usr/share/dictd/$d.dict.dz" | piece "$d"; done
    zcat /usr/share/doc/jargon-text/jargon.txt.gz | piece jargon
    mkdir -p "$WORK/corpus/licenses"
    find /usr/share/common-licenses -maxdepth 1 -type f -exec cp {} "$WORK/corpus/licenses/" \;
    (cd "$WORK" && XZ_OPT=-6 tar -cJf corpus.tar.xz corpus && tar -czf corpus.tar.gz corpus && zip -qr corpus.zip corpus)
    touch "$WORK/.corpus-done"
fi
cd "$WORK"
sync
cat corpus/*/* corpus.tar.xz corpus.tar.gz corpus.zip >/dev/null  # warm the page cache

# best_of CMD...: "wall cpu" of the run with the fastest wall time of $RUNS runs, in seconds
# (cpu = user + system; on a shared machine it is steadier than the wall time).
best_of() {
    local best="" t
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f "%e %U %S" -o "$WORK/.time" "$@" >/dev/null 2>&1
        t=$(awk '{printf "%.3f %.3f", $1, $2 + $3}' "$WORK/.time")
        if [[ -z $best ]] || awk -v a="${t%% *}" -v b="${best%% *}" 'BEGIN { exit !(a < b) }'; then best=$t; fi
    done
    echo "$best"
}
docs() { "$BIN" scan "$1" --format json 2>/dev/null | python3 -c "import json,sys; s=json.load(sys.stdin)['stats']; print(s['documents'], s['documentBytes'])"; }

read -r plain plain_cpu < <(best_of "$BIN" scan corpus)
read -r plain_docs plain_bytes < <(docs corpus)
printf '%-14s %8s %6s %8s %7s %7s %9s %6s %6s %8s %9s\n' input "size MB" docs "text MB" "wall s" "cpu s" "text MB/s" ratio "cpu r" "floor s" "floor cpu"
row() {  # name "wall cpu" "floor-wall floor-cpu"
    local name=$1 size d b
    size=$(du -sb --apparent-size "$name" | cut -f1)
    read -r d b < <(docs "$name")
    python3 -c "import sys
n, size, d, b = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
(w, c), (pw, pc), (fw, fc) = (map(float, a.split()) for a in sys.argv[5:8])
print(f'{n:<14} {size/1e6:8.1f} {d:>6} {b/1e6:8.1f} {w:7.3f} {c:7.3f} {b/1e6/w:9.1f} {w/pw:6.2f} {c/pc:6.2f} {fw:8.3f} {fc:9.3f}')" \
        "$name" "$size" "$d" "$b" "$2" "$plain $plain_cpu" "$3"
    measured+=("$name|$2|$3")
    if [[ $d != "$plain_docs" || $b != "$plain_bytes" ]]; then
        echo "  MISMATCH: $name gives $d docs / $b bytes, the folder $plain_docs / $plain_bytes" >&2
    fi
}
row corpus "$plain $plain_cpu" "$(best_of sh -c 'cat corpus/*/*')"
xz_floor=$(best_of xz -dc corpus.tar.xz) gz_floor=$(best_of gzip -dc corpus.tar.gz) zip_floor=$(best_of unzip -p corpus.zip)
row corpus.tar.xz "$(best_of "$BIN" scan corpus.tar.xz)" "$xz_floor"
row corpus.tar.gz "$(best_of "$BIN" scan corpus.tar.gz)" "$gz_floor"
row corpus.zip "$(best_of "$BIN" scan corpus.zip)" "$zip_floor"
echo "the same with --single-thread (no read-ahead thread):"
row corpus.tar.xz "$(best_of "$BIN" scan --single-thread corpus.tar.xz)" "$xz_floor"
row corpus.tar.gz "$(best_of "$BIN" scan --single-thread corpus.tar.gz)" "$gz_floor"
row corpus.zip "$(best_of "$BIN" scan --single-thread corpus.zip)" "$zip_floor"
echo "ratio, cpu r: scan wall and cpu time over the plain folder's. floor: the bare decompressor (cat for the"
echo "folder) writing to /dev/null, wall and cpu; a one-thread reader cannot beat its cpu time."
echo "Load average now: $(cut -d' ' -f1-3 /proc/loadavg)"

# The figures for bench/all.sh's summary (bench/lib.sh: bench_results): each archive read with the
# read-ahead thread against the folder and beside the bare decompressor, the reader's floor (the
# 1.3x target is the whole ingest's: bench/ingest.sh).
python3 - "${measured[@]}" <<'PY' | bench_results
import json, sys
rows = [(name, *map(float, f"{ours} {floor}".split())) for name, ours, floor in (a.split("|") for a in sys.argv[1:])]
folder = rows[0]
floors = {".tar.xz": "xz -dc", ".tar.gz": "gzip -dc", ".zip": "unzip -p"}
seen = set()
for name, wall, cpu, floor_wall, floor_cpu in rows[1:]:
    if name in seen:  # the --single-thread rows: in the script's table only
        continue
    seen.add(name)
    kind = name[len("corpus"):]
    print(json.dumps([f"tracker scan of the {kind} corpus (the folder: {folder[1]:.3f} s, CPU {folder[2]:.3f} s)",
                      f"{wall:.3f} s, CPU {cpu:.3f} s", f"{floors[kind]} alone: {floor_wall:.3f} s, CPU {floor_cpu:.3f} s",
                      f"{wall / folder[1]:.2f}x the folder's time; CPU {cpu / floor_cpu:.2f}x the decompressor's", "", ""]))
PY

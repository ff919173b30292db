#!/usr/bin/env bash
# Archive reading cost: times `tracker scan` on a ~52 MB English text folder and on the same
# folder packed as .tar.xz, .tar.gz and .zip (best of 3 each), next to the bare decompression
# floor (xz -dc, gzip -dc, unzip -p), and prints the ratio of each archive to the plain folder.
# Usage: bench/archive_read.sh   (BENCH_DIR=dir moves the ~150 MB of scratch files; RUNS=n;
#        SKIP_BUILD=1 reuses the last release build)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-/tmp/tracker-bench-archive}
RUNS=${RUNS:-3}

[[ ${SKIP_BUILD:-0} == 1 ]] || swift build -c release --scratch-path .build-release --product tracker >&2
BIN=$PWD/.build-release/release/tracker

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

# best_of CMD...: the fastest wall time of $RUNS runs, in seconds.
best_of() {
    local best=""
    for _ in $(seq "$RUNS"); do
        local t0 t1
        t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N)
        best=$(python3 -c "import sys; a=float(sys.argv[1])-float(sys.argv[2]); b=sys.argv[3]; print(a if not b or a < float(b) else float(b))" "$t1" "$t0" "$best")
    done
    echo "$best"
}
docs() { "$BIN" scan "$1" --format json 2>/dev/null | python3 -c "import json,sys; s=json.load(sys.stdin)['stats']; print(s['documents'], s['documentBytes'])"; }

plain=$(best_of "$BIN" scan corpus)
read -r plain_docs plain_bytes < <(docs corpus)
printf '%-14s %9s %7s %12s %9s %10s %8s %12s\n' input "size MB" docs "text MB" "best s" "text MB/s" ratio "floor s"
row() {  # name seconds floor
    local name=$1 secs=$2 floor=$3 size d b
    size=$(du -sb --apparent-size "$name" | cut -f1)
    read -r d b < <(docs "$name")
    python3 -c "import sys
n,size,d,b,s,p,f=sys.argv[1],int(sys.argv[2]),sys.argv[3],int(sys.argv[4]),float(sys.argv[5]),float(sys.argv[6]),float(sys.argv[7])
print(f'{n:<14} {size/1e6:9.1f} {d:>7} {b/1e6:12.1f} {s:9.3f} {b/1e6/s:10.1f} {s/p:8.2f} {f:12.3f}')" \
        "$name" "$size" "$d" "$b" "$secs" "$plain" "$floor"
    if [[ $d != "$plain_docs" || $b != "$plain_bytes" ]]; then echo "  MISMATCH: $name gives $d docs / $b bytes, the folder $plain_docs / $plain_bytes" >&2; fi
}
row corpus "$plain" "$(best_of sh -c 'cat corpus/*/*')"
row corpus.tar.xz "$(best_of "$BIN" scan corpus.tar.xz)" "$(best_of xz -dc corpus.tar.xz)"
row corpus.tar.gz "$(best_of "$BIN" scan corpus.tar.gz)" "$(best_of gzip -dc corpus.tar.gz)"
row corpus.zip "$(best_of "$BIN" scan corpus.zip)" "$(best_of unzip -p corpus.zip)"
echo "ratio = best scan time / best scan time of the plain folder; floor = best time of the bare decompressor (or cat) alone"

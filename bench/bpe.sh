#!/usr/bin/env bash
# Benchmarks tracker's BPE against the references on ~50 MB of English text from Debian packages
# (KJV bible via `bible`, the Jargon File, the Devil's Dictionary, FOLDOC and GCIDE, each once):
#   training (pre-tokenize + count + merges) vs HF tokenizers' BpeTrainer, V = 8192 and 32768,
#     on 2 threads and on 1 (RAYON_NUM_THREADS / TRACKER_THREADS / --threads), merges compared;
#   encoding vs tiktoken built from our merges, on 2 threads and on 1, ids compared on a sample,
#     the best of BPE_BENCH_ENCODE_RUNS alternating runs of each (ours as ingest encodes: each
#     thread's ids go into one reused buffer; tiktoken returns a list per document, its only API);
#   memory of the trainer per distinct word on Zipfian text with ~1M distinct words (330 MB,
#     generated once; BPE_BENCH_MEMORY=0 skips it): the merges' peak resident size above the
#     resident size when they start, over the distinct words.
# Prints a table with the ratios. Usage: bench/bpe.sh  (env: BPE_BENCH_DIR, SCRATCH_PATH,
# BPE_BENCH_VOCABS, BPE_BENCH_MEMORY, TRACKER_BIN to use an already built binary instead of building,
# BPE_BENCH_PARTS="train encode" or just one of them: "encode" alone trains only our tokenizer
# for the largest vocabulary, untimed, and times the encoding).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BPE_BENCH_DIR:-/tmp/tracker-bpe-bench}
VOCABS=${BPE_BENCH_VOCABS:-"8192 32768"}
PARTS=${BPE_BENCH_PARTS:-"train encode"}
PY="python3 bench/bpe_reference.py"
mkdir -p "$WORK"

# 1. The English sources (Debian packages) and the reference libraries.
need=()
command -v bible >/dev/null || need+=(bible-kjv)
[ -f /usr/share/doc/jargon-text/jargon.txt.gz ] || need+=(jargon-text)
[ -f /usr/share/dictd/devil.dict.dz ] || need+=(dict-devil)
[ -f /usr/share/dictd/foldoc.dict.dz ] || need+=(dict-foldoc)
[ -f /usr/share/dictd/gcide.dict.dz ] || need+=(dict-gcide)
if ((${#need[@]})); then
    echo "installing ${need[*]}" >&2
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
python3 -c "import tokenizers, tiktoken" || { echo "pip install tokenizers tiktoken first" >&2; exit 1; }

# 2. The corpus: documents of ~64 KB cut at blank lines, one file each.
if [ ! -d "$WORK/corpus" ]; then
    echo "assembling the corpus in $WORK/corpus" >&2
    rm -rf "$WORK/corpus" # a stale file or broken link of that name would stop the mv
    $PY corpus "$WORK/corpus.tmp" && mv "$WORK/corpus.tmp" "$WORK/corpus"
fi

# 3. tracker in release.
source bench/lib.sh
use_release_binary
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# 4. Training.
results="$WORK/results.jsonl"
: >"$results"
for V in $VOCABS; do
    [[ " $PARTS " == *" train "* ]] || break
    for T in 2 1; do
        echo "train V=$V threads=$T" >&2
        ours=$(TRACKER_THREADS=$T "$TRACKER_BIN" tokenizer train "$WORK/corpus" --vocab-size "$V" \
            --output "$WORK/ours-$V.json" --threads "$T" --format json | field seconds)
        hf=$(RAYON_NUM_THREADS=$T RAYON_RS_NUM_CPUS=$T $PY hf-train "$WORK/corpus" "$V" \
            "$WORK/hf-$V.json" | field seconds)
        same=$($PY same-merges "$WORK/ours-$V.json" "$WORK/hf-$V.json" | field identical)
        echo "{\"kind\": \"train\", \"vocab\": $V, \"threads\": $T, \"ours\": $ours, \"hf\": $hf, \"identical\": \"$same\"}" >>"$results"
    done
done

# 5. Encoding with the largest vocabulary; ids checked against tiktoken on a sample first.
V=${VOCABS##* }
if [[ " $PARTS " != *" encode "* ]]; then
    echo "corpus: $(du -sb "$WORK/corpus" | cut -f1) bytes; load: $(cut -d' ' -f1-3 /proc/loadavg)"
    $PY table "$results"
    exit 0
fi
if [ ! -f "$WORK/ours-$V.json" ]; then
    echo "train V=$V (ours only, for encoding)" >&2
    "$TRACKER_BIN" tokenizer train "$WORK/corpus" --vocab-size "$V" --output "$WORK/ours-$V.json" >/dev/null
fi
rm -rf "$WORK/sample" && mkdir -p "$WORK/sample"
ls "$WORK/corpus" | awk 'NR % 40 == 1' | while read -r f; do cp "$WORK/corpus/$f" "$WORK/sample/"; done
"$TRACKER_BIN" tokenizer encode --tokenizer "$WORK/ours-$V.json" "$WORK/sample" --ids "$WORK/sample-ids.jsonl" >/dev/null
same=$($PY same-ids "$WORK/ours-$V.json" "$WORK/sample" "$WORK/sample-ids.jsonl" | field identical)
# Each side runs BPE_BENCH_ENCODE_RUNS times (default 3), alternating; the best run of each counts.
best() { python3 -c "import sys; print(max(float(x) for x in sys.argv[1:]))" "$@"; }
for T in 2 1; do
    echo "encode V=$V threads=$T" >&2
    ours_runs=() tik_runs=()
    for _ in $(seq "${BPE_BENCH_ENCODE_RUNS:-3}"); do
        ours_runs+=("$(TRACKER_THREADS=$T "$TRACKER_BIN" tokenizer encode --tokenizer "$WORK/ours-$V.json" \
            "$WORK/corpus" --threads "$T" --format json | field megabytesPerSecond)")
        tik_runs+=("$(RAYON_NUM_THREADS=$T $PY tiktoken-encode "$WORK/ours-$V.json" "$WORK/corpus" "$T" \
            | field megabytesPerSecond)")
    done
    ours=$(best "${ours_runs[@]}")
    tik=$(best "${tik_runs[@]}")
    echo "{\"kind\": \"encode\", \"vocab\": $V, \"threads\": $T, \"ours\": $ours, \"tiktoken\": $tik, \"identical\": \"$same\"}" >>"$results"
done

# 6. Trainer memory per distinct word, V = 32768, on 2 threads.
if [ "${BPE_BENCH_MEMORY:-1}" != 0 ]; then
    if [ ! -d "$WORK/zipf" ]; then
        echo "writing Zipfian text in $WORK/zipf" >&2
        rm -rf "$WORK/zipf" # a stale file or broken link of that name would stop the mv
        $PY zipf "$WORK/zipf.tmp" 47 && mv "$WORK/zipf.tmp" "$WORK/zipf"
    fi
    echo "train V=32768 threads=2 on $WORK/zipf (memory)" >&2
    "$TRACKER_BIN" tokenizer train "$WORK/zipf" --vocab-size 32768 --output "$WORK/zipf-32768.json" \
        --threads 2 --format json | python3 -c "import json,sys; r=json.load(sys.stdin); r['kind']='memory'; print(json.dumps(r))" >>"$results"
fi

echo "corpus: $(du -sb "$WORK/corpus" | cut -f1) bytes in $(ls "$WORK/corpus" | wc -l) documents; load: $(cut -d' ' -f1-3 /proc/loadavg)"
$PY table "$results"

# The figures for bench/all.sh's summary (bench/lib.sh: bench_results).
python3 - "$results" "$(du -sb "$WORK/corpus" | cut -f1)" <<'PY' | bench_results
import json, sys
mb = int(sys.argv[2]) / 1e6
for r in map(json.loads, open(sys.argv[1])):
    if r["kind"] == "train":
        ratio, want, same = r["hf"] / r["ours"], 10 if (r["vocab"], r["threads"]) == (32768, 2) else 3, r["identical"] == "True"
        print(json.dumps([f"BPE training, {mb:.3g} MB, V={r['vocab']}, {r['threads']} thread(s); merges {'identical' if same else 'DIFFER'}",
                          f"{r['ours']:.2f} s", f"HF tokenizers {r['hf']:.2f} s", f"{ratio:.2f}x faster", f">= {want}x",
                          "yes" if ratio >= want and same else "no"]))
    elif r["kind"] == "encode":
        ratio, same, one = r["ours"] / r["tiktoken"], r["identical"] == "True", r["threads"] == 1
        print(json.dumps([f"BPE encoding, V={r['vocab']}, {r['threads']} thread(s); ids {'identical' if same else 'DIFFER'}",
                          f"{r['ours']:.2f} MB/s", f"tiktoken from our merges {r['tiktoken']:.2f} MB/s", f"{ratio:.2f}x faster",
                          ">= 100 MB/s" if one else "", ("yes" if r["ours"] >= 100 and same else "no") if one else ""]))
    else:
        per_word = (r["mergePeakMemoryBytes"] - r["memoryBeforeMergesBytes"]) / r["uniqueWords"]
        print(json.dumps([f"BPE trainer memory, V=32768, {r['uniqueWords']:,} distinct words (Zipfian)",
                          f"{per_word:.1f} B/word (peak {r['peakMemoryBytes'] / 1e6:.0f} MB)", "", "", "<= 80 B/word",
                          "yes" if per_word <= 80 else "no"]))
PY

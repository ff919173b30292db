#!/usr/bin/env bash
# Corpus-scale ingest: `tracker ingest` of synthetic Zipfian text whose vocabulary grows by
# Heaps' law, 25 n^0.6 distinct pre-token words after n pre-token words (the trainer's unit; the
# bundled corpus is fitted in that unit and in plain lower-cased words, and printed), at each
# SIZE: wall time, CPU time (user + system), MB/s and peak RSS (/usr/bin/time -v), each
# phase's wall and CPU seconds and the stage that held the peak (the ingest's seconds,
# cpuSeconds, stagePeakBytes), with the word counts spilled past the memory budget; and HF
# `tokenizers` training on the same text where it fits in memory (skipped, with the reason,
# above HF_MAX), merges compared.
# Usage: bench/ingest_scale.sh [SIZE...] [--full]   (SIZE like 100M or 1G; default 100M 1G;
#        --full adds 10G). Env: SCALE_BENCH_DIR (the corpora, kept between runs; default
#        /tmp/tracker-ingest-scale), VOCAB (32768), MEMORY_BUDGET (tracker's default if unset),
#        THREADS (2), HF_MAX (2G: HF needs 4.5-8x the text in memory), TRACKER_BIN / SKIP_BUILD /
#        SCRATCH_PATH as in bench/lib.sh. Needs about 2.2x the largest size free on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${SCALE_BENCH_DIR:-/tmp/tracker-ingest-scale}
VOCAB=${VOCAB:-32768}
THREADS=${THREADS:-2}
HF_MAX=${HF_MAX:-2G}
sizes=()
for a in "$@"; do
    case $a in
        --full) full=1 ;;
        *) sizes+=("$a") ;;
    esac
done
((${#sizes[@]})) || sizes=(100M 1G)
[[ ${full:-0} == 1 ]] && sizes+=(10G)
mkdir -p "$WORK"
source bench/lib.sh
use_release_binary
bytes() { python3 -c "import sys; u={'K':10,'M':20,'G':30,'T':40}; s=sys.argv[1].upper().rstrip('B').rstrip('I'); print(int(float(s[:-1])*(1<<u[s[-1]])) if s[-1] in u else int(s))" "$1"; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))" "$1" "$2"; }
maxrss() { awk -F': ' '/Maximum resident set size/ {print $2 * 1024}' "$1"; }
cputime() { awk -F': ' '/User time|System time/ {t += $2} END {print t}' "$1"; }

# HF tokenizers: the python3 on PATH if it has it, else a venv of ours.
PY=python3
if ! python3 -c "import tokenizers" 2>/dev/null; then
    [[ -x $WORK/venv/bin/python ]] || { python3 -m venv "$WORK/venv" && "$WORK/venv/bin/pip" -q install tokenizers; } || true
    PY=$WORK/venv/bin/python
fi
hf_ok=1
$PY -c "import tokenizers" 2>/dev/null || { hf_ok=0; echo "HF tokenizers unavailable (pip install tokenizers failed): HF columns skipped" >&2; }

echo "== Heaps' law: D = K n^0.6 distinct words after n words"
heaps=$("$TRACKER_BIN" bench-corpus --mode heaps corpora/bundled.tar.xz)
python3 -c "import json,sys; h=json.loads(sys.argv[1]); print(f\"bundled corpus, pre-token words: n = {h['words']:,.0f}, D = {h['distinct']:,.0f}: K = {h['heapsK']:.1f} at beta 0.6 (free fit: K = {h['freeK']:.1f}, beta = {h['freeBeta']:.3f}); the generator uses K = 25 in this unit\"); print(f\"bundled corpus, plain lower-cased words: n = {h['plainWords']:,.0f}, D = {h['plainDistinct']:,.0f}: K = {h['plainHeapsK']:.1f} at beta 0.6 (free fit: K = {h['plainFreeK']:.1f}, beta = {h['plainFreeBeta']:.3f})\")" "$heaps"

results=$WORK/results.jsonl
: >"$results"
for size in "${sizes[@]}"; do
    n=$(bytes "$size")
    # zipf2: the law counted in pre-token words (the zipf-SIZE files of older versions counted the
    # generator's words, and grew 1.9x more pre-token words: not reused, delete them).
    corpus=$WORK/zipf2-$size.jsonl
    if [[ ! -f $corpus ]]; then
        echo "== writing $size of Zipfian text to $corpus" >&2
        "$TRACKER_BIN" bench-corpus --mode generate --bytes "$size" --output "$corpus.tmp" >"$WORK/gen2-$size.json"
        mv "$corpus.tmp" "$corpus"
    fi
    if [[ $size == "${sizes[0]}" ]]; then
        g=$("$TRACKER_BIN" bench-corpus --mode heaps "$corpus")
        python3 -c "import json,sys; h=json.loads(sys.argv[1]); print(f\"generated {sys.argv[2]}: n = {h['words']:,.0f}, D = {h['distinct']:,.0f}: K = {h['heapsK']:.1f} at beta 0.6 over its pre-token words (free fit: K = {h['freeK']:.1f}, beta = {h['freeBeta']:.3f})\")" "$g" "$size"
    fi

    echo "== tracker ingest $size (V=$VOCAB, $THREADS threads)" >&2
    home=$(mktemp -d "$WORK/home.XXXXXX")
    budget=()
    [[ -n ${MEMORY_BUDGET:-} ]] && budget=(--memory-budget "$MEMORY_BUDGET")
    /usr/bin/time -v -o "$WORK/time-ours.txt" "$TRACKER_BIN" ingest "$corpus" --home "$home" --vocab-size "$VOCAB" \
        --threads "$THREADS" "${budget[@]}" --format json >"$WORK/ours.json"
    cp "$(json "$WORK/ours.json" tokenizerPath)" "$WORK/ours-tokenizer.json"
    rm -rf "$home"
    ours_rss=$(maxrss "$WORK/time-ours.txt")
    ours_cpu=$(cputime "$WORK/time-ours.txt")

    hf="null"
    same="null"
    if ((hf_ok)) && ((n <= $(bytes "$HF_MAX"))); then
        echo "== HF tokenizers $size" >&2
        /usr/bin/time -v -o "$WORK/time-hf.txt" env RAYON_NUM_THREADS="$THREADS" \
            $PY bench/bpe_reference.py hf-train "$corpus" "$VOCAB" "$WORK/hf-merges.json" >"$WORK/hf.json"
        hf="{\"seconds\": $(json "$WORK/hf.json" seconds), \"rss\": $(maxrss "$WORK/time-hf.txt")}"
        same=$(python3 bench/bpe_reference.py same-merges "$WORK/ours-tokenizer.json" "$WORK/hf-merges.json")
    elif ((hf_ok)); then
        hf="{\"skipped\": \"above HF_MAX=$HF_MAX: HF needs 4.5-8x the text in memory\"}"
    fi
    python3 - "$WORK/ours.json" "$size" "$ours_rss" "$hf" "$same" "$ours_cpu" >>"$results" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
# rss: the larger of /usr/bin/time's and the ingest's own peak: the ingest restarts the kernel's
# high-water mark between stages (to report each stage's peak), so ru_maxrss alone under-reports.
print(json.dumps({"size": sys.argv[2], "bytes": s["sourceBytes"], "seconds": s["totalSeconds"], "cpu": float(sys.argv[6]),
                  "countTrain": s["seconds"].get("read+count", 0) + s["seconds"].get("train", 0),
                  "mbps": s["megabytesPerSecond"], "rss": max(int(sys.argv[3]), s["peakMemoryBytes"]), "summaryPeak": s["peakMemoryBytes"],
                  "budget": s["memoryBudgetBytes"], "spilled": s["spilledBytes"], "words": s["uniqueWords"],
                  "stagePeaks": s.get("stagePeakBytes") or {},
                  "phases": s["seconds"], "phaseCPU": s.get("cpuSeconds") or {},
                  "hf": json.loads(sys.argv[4]), "same": json.loads(sys.argv[5])}))
EOF
done

echo
echo "ingest of Zipfian JSONL, V=$VOCAB, $THREADS threads, release build; load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%F)"
python3 - "$results" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print(f"{'size':>6} {'unique words':>12} {'wall s':>8} {'CPU s':>7} {'MB/s':>7} {'peak RSS':>9} {'peak in':>14} {'budget':>8} {'spilled':>8}"
      f" {'count+train s':>13} {'HF train s':>10} {'HF RSS':>8} {'ratio':>6}  merges")
for r in rows:
    hf = r["hf"] or {}
    stage = max(r["stagePeaks"], key=r["stagePeaks"].get) if r["stagePeaks"] else "?"
    line = (f"{r['size']:>6} {r['words']:>12,} {r['seconds']:>8.1f} {r.get('cpu', 0):>7.1f} {r['mbps']:>7.1f} {r['rss'] / 2**20:>6.0f} MB"
            f" {stage:>14} {r['budget'] / 2**20:>5.0f} MB {r['spilled'] / 2**20:>5.0f} MB {r['countTrain']:>13.1f}")
    if "seconds" in hf:
        same = r["same"]
        check = "identical" if same["identical"] else f"differ at {same['first_difference']}"
        line += f" {hf['seconds']:>10.1f} {hf['rss'] / 2**20:>5.0f} MB {hf['seconds'] / r['countTrain']:>5.2f}x  {check}"
    else:
        line += f"  HF: {hf.get('skipped', 'not run')}"
    print(line)
print("wall s, MB/s: the whole ingest (checksums, read + count, BPE, encode + shards, database);")
print("CPU s: user + system time of the ingest, every thread (two busy cores: twice the wall);")
print("phases, wall / CPU s: " + "; ".join(f"{r['size']}: " + ", ".join(
    f"{k} {v:.1f}" + (f" / {r['phaseCPU'][k]:.1f}" if k in r.get("phaseCPU", {}) else "")
    for k, v in r.get("phases", {}).items()) for r in rows))
print("peak in: the stage whose own peak was highest (stage peaks in MB: " + "; ".join(
    f"{r['size']}: " + ", ".join(f"{k} {v / 2**20:.0f}" for k, v in r["stagePeaks"].items()) for r in rows) + ")")
print("ratio: HF's training time over tracker's read + count + train (the same work)")
EOF

# The figures for bench/all.sh's summary (bench/lib.sh: bench_results).
python3 - "$results" "$VOCAB" "$THREADS" <<'EOF_PY' | bench_results
import json, sys
for r in map(json.loads, open(sys.argv[1])):
    hf, same = r["hf"] or {}, r["same"] or {}
    met = r["mbps"] >= 50 and r["rss"] <= 2**30 and same.get("identical", True)
    ours = f"{r['seconds']:.1f} s, {r['mbps']:.1f} MB/s, peak {r['rss'] / 2**20:.0f} MB ({r['spilled'] / 2**20:.0f} MB of counts spilled)"
    if "seconds" in hf:
        check = "merges identical" if same["identical"] else f"merges differ at {same['first_difference']}"
        ref = f"HF tokenizers (training alone) {hf['seconds']:.1f} s, {hf['rss'] / 2**20:.0f} MB; {check}"
        ratio = f"{hf['seconds'] / r['countTrain']:.2f}x faster (read + count + train, {r['countTrain']:.1f} s)"
    else:
        ref, ratio = f"HF: {hf.get('skipped', 'not run')}", ""
    print(json.dumps([f"whole ingest, {r['size']} Zipfian JSONL ({r['words']:,} unique words), V={sys.argv[2]}, {sys.argv[3]} threads",
                      ours, ref, ratio, ">= 50 MB/s in <= 1 GiB", "yes" if met else "no"]))
EOF_PY

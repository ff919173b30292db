#!/usr/bin/env bash
# Training speed: tracker's engine against the same model in PyTorch (eager, fp32, 2 threads),
# side by side on the bundled corpus (vocabulary 8192), in one run:
#   A: C 256, L 4, NH 4, T 256, B 8        B: C 512, L 8, NH 8, T 512, B 4
# then step time against context 256..2048 on A's model (B x T = 4096 tokens per step).
# MFU for both is against tracker's measured 2-thread OpenBLAS sgemm peak (1024^3), the best that
# any `tracker train` of the pass reported as peakFlops: every run measures it (at least 0.25 s),
# and a cold first measurement can read low (185.8 against 308 GFLOP/s on 2026-12-07, which put
# MFU above 100%), so after the rounds every run's MFU is rescaled to the pass's best peak
# (its own reading kept as measuredPeakFlops). Usage: bash bench/train_speed.sh [steps]
# (env: TRACKER_BIN, SCRATCH_PATH, SKIP_BUILD=1 as in bench/lib.sh; CONFIGS="A B ctx" to run
# fewer; ROUNDS=1; BASELINE_BIN, another tracker binary such as main's release build: each round
# then runs it beside this tree's on every config (before it in odd rounds, after it in even
# ones: use an even ROUNDS), both against the same measured peak, and
# the script prints the medians of both and this tree's ratio over the baseline, the before/after
# comparison that stays meaningful on a busy machine; PyTorch runs in the first round only)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-30}
CONFIGS=${CONFIGS:-A B ctx}
ROUNDS=${ROUNDS:-1}
BASE=${BASELINE_BIN:-}
if [ -n "$BASE" ] && [ ! -x "$BASE" ]; then echo "bench: no baseline tracker binary at $BASE" >&2; exit 1; fi
OUT=bench/out/train_speed
HOME_DIR=$OUT/home
mkdir -p "$OUT"
# this run's results only: the rescaling below reads every run file it finds
rm -f "$OUT"/*.tracker.*.json "$OUT"/*.baseline.*.json "$OUT"/*.torch.json

source bench/lib.sh
use_release_binary
TRACKER=$TRACKER_BIN

echo "== PyTorch (CPU wheel from PyPI)" >&2
python3 -c "import torch" 2>/dev/null || python3 -m pip install -q torch numpy \
  || python3 -m pip install -q --break-system-packages torch numpy

if [ ! -f "$HOME_DIR/tracker.sqlite" ]; then
  echo "== ingest the bundled corpus (vocabulary 8192)" >&2
  "$TRACKER" ingest corpora/bundled.tar.xz --home "$HOME_DIR" --vocab-size 8192 --format json > "$OUT/ingest.json"
fi
# The baseline trains in a home of its own, ingested by itself: a binary from before one of this
# tree's migrations refuses a store this tree has upgraded (and names the migration).
if [ -n "$BASE" ]; then
  BASE_HOME=$OUT/home-baseline-$(sha256sum "$BASE" | cut -c1-12)
  if [ ! -f "$BASE_HOME/tracker.sqlite" ]; then
    echo "== ingest the bundled corpus with the baseline" >&2
    "$BASE" ingest corpora/bundled.tar.xz --home "$BASE_HOME" --vocab-size 8192 --format json > /dev/null
  fi
fi
SHARD=$(ls "$HOME_DIR"/shards/*/train_*.bin 2>/dev/null | head -1 || true)
[ -n "$SHARD" ] || SHARD=$(find "$HOME_DIR" -name 'train_*.bin' | head -1)

# config NAME C L NH T B -> writes $OUT/NAME.toml
config() {
  cat > "$OUT/$1.toml" <<TOML
[data]
corpus = "bundled"
[model]
channels = $2
layers = $3
heads = $4
context = $5
[train]
steps = $STEPS
batch = $6
lr = 3e-3
min_lr = 3e-4
warmup = 10
eval_every = 0
log_every = 5
[eval]
final_batches = 1
lengths = [1]
TOML
}

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d$2)" "$1"; }

PEAK=""
ROUND=1
tracker_run() { # BIN NAME TAG: trains NAME's config with BIN into $OUT/NAME.TAG.ROUND.json
  local home=$HOME_DIR
  [ "$3" = baseline ] && home=$BASE_HOME
  if ! "$1" train --config "$OUT/$2.toml" --home "$home" --format json \
    > "$OUT/$2.$3.$ROUND.json" 2> "$OUT/$2.$3.log"; then
    echo "bench: $3 training of $2 failed ($1); the end of $OUT/$2.$3.log:" >&2
    tail -5 "$OUT/$2.$3.log" >&2
    exit 1
  fi
  # the best peak so far, for PyTorch's run (rescaled after the rounds, like ours)
  PEAK=$(python3 -c "import json; print(max(float('${PEAK:-0}'), json.load(open('$OUT/$2.$3.$ROUND.json'))['peakFlops']/1e9))")
}
run_pair() { # NAME C L NH T B
  config "$@"
  # with a baseline, odd rounds run it first and even rounds second (A B, B A, ...), so that
  # neither binary always meets the machine in the state the other one leaves it in
  if [ -n "$BASE" ] && [ $((ROUND % 2)) = 1 ]; then tracker_run "$BASE" "$1" baseline; fi
  tracker_run "$TRACKER" "$1" tracker
  if [ -n "$BASE" ] && [ $((ROUND % 2)) = 0 ]; then tracker_run "$BASE" "$1" baseline; fi
  if [ "$ROUND" = 1 ]; then
    python3 bench/train_speed.py --vocab 8192 --channels "$2" --layers "$3" --heads "$4" --context "$5" \
      --batch "$6" --steps "$STEPS" --shard "$SHARD" --peak-flops "$(python3 -c "print($PEAK*1e9)")" \
      > "$OUT/$1.torch.json"
    python3 -c "import json,sys; p=sys.argv[1]; d=json.load(open(p)); d['peakFlops']=float(sys.argv[2])*1e9; json.dump(d, open(p, 'w'))" \
      "$OUT/$1.torch.json" "$PEAK"  # the peak its MFU was computed against, for the rescaling below
  fi
}

for ROUND in $(seq "$ROUNDS"); do
  echo "== round $ROUND of $ROUNDS: $CONFIGS (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  for c in $CONFIGS; do
    case $c in
      A) run_pair A 256 4 4 256 8 ;;
      B) run_pair B 512 8 8 512 4 ;;
      ctx) for T in 256 512 1024 2048; do run_pair "ctx$T" 256 4 4 "$T" $((4096 / T)); done ;;
      *) echo "bench: unknown config $c in CONFIGS (A, B, ctx)" >&2; exit 1 ;;
    esac
  done
done

# Every run of the pass (ours, the baseline's, PyTorch's) against the best peak of the pass.
python3 - "$OUT" "$PEAK" "$ROUNDS" "$CONFIGS" <<'PY'
import json, os, sys
out, peak, rounds, configs = sys.argv[1], float(sys.argv[2]) * 1e9, int(sys.argv[3]), sys.argv[4].split()
names = [n for c in configs for n in ([f"ctx{T}" for T in (256, 512, 1024, 2048)] if c == "ctx" else [c])]
paths = [f"{out}/{n}.torch.json" for n in names]
paths += [f"{out}/{n}.{tag}.{r}.json" for n in names for tag in ("tracker", "baseline") for r in range(1, rounds + 1)]
for path in filter(os.path.exists, paths):
    run = json.load(open(path))
    measured = run.setdefault("measuredPeakFlops", run.get("peakFlops"))
    if run.get("mfu") is not None and measured:
        run["mfu"] *= measured / peak
    run["peakFlops"] = peak
    json.dump(run, open(path, "w"))
PY

# What the sgemm calls of config A can reach at all (bench/sgemm_shapes.py), against the same
# peak, with the OpenBLAS kernels tracker chose (it sets OPENBLAS_CORETYPE itself; numpy does not).
CEILING=""
if [[ " $CONFIGS " == *" A "* ]]; then
  CORE=$(python3 -c "import json,sys; b=json.load(open(sys.argv[1])).get('blas',''); w=b.split(); print(next((x for x, y in zip(w, w[1:]) if y.startswith('MAX_THREADS')), ''))" "$OUT/A.tracker.1.json")
  OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$CORE} python3 bench/sgemm_shapes.py 0.2 "$PEAK" > "$OUT/sgemm_shapes.out" 2>&1 || true
  CEILING=$(sed -n 's/^ceiling=//p' "$OUT/sgemm_shapes.out")
fi

python3 - "$OUT" "$PEAK" "$ROUNDS" "$CONFIGS" "${BASE:+baseline}" <<'PY'
import glob, json, os, statistics, sys
out, peak, rounds, configs, base = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(), sys.argv[5]
def runs(n, tag):
    return [json.load(open(f"{out}/{n}.{tag}.{r}.json")) for r in range(1, rounds + 1)]
def median(n, tag, key):
    return statistics.median(j[key] for j in runs(n, tag))
def load(n):
    t = {k: median(n, "tracker", k) for k in ["tokensPerSecond", "mfu"]}
    t["peakMemoryBytes"] = max(j["peakMemoryBytes"] for j in runs(n, "tracker"))
    return t, json.load(open(f"{out}/{n}.torch.json"))
print(f"sgemm peak (OpenBLAS, 2 threads, 1024^3): {peak:.1f} GFLOP/s; medians of {rounds} round(s)")
first = json.load(open(glob.glob(f"{out}/*.tracker.1.json")[0]))
print(f"OpenBLAS: {first.get('blas', 'not reported by this binary')}")
if first.get("blasAdvice"):
    print(f"note: {first['blasAdvice']}")
names = [n for n in ["A", "B"] if n in configs]
if names:
    print(f"{'config':8} {'tracker tok/s':>14} {'torch tok/s':>12} {'ratio':>6} {'tracker MFU':>12} {'torch MFU':>10} {'tracker RSS':>12} {'torch RSS':>10}")
for n in names:
    t, p = load(n)
    print(f"{n:8} {t['tokensPerSecond']:14.0f} {p['tokensPerSecond']:12.0f} {t['tokensPerSecond']/p['tokensPerSecond']:6.2f}"
          f" {100*t['mfu']:11.1f}% {100*p['mfu']:9.1f}% {t['peakMemoryBytes']/2**20:10.0f}MiB {p['peakMemoryBytes']/2**20:8.0f}MiB")
sweep = [f"ctx{T}" for T in [256, 512, 1024, 2048]] if "ctx" in configs else []
if sweep:
    print()
    print("context sweep (model A, B x T = 4096 tokens per step): step time in ms")
    print(f"{'T':>6} {'B':>3} {'tracker':>9} {'torch':>9} {'ratio':>6}")
    for n in sweep:
        T = int(n[3:])
        t, p = load(n)
        ts, ps = 4096 / t["tokensPerSecond"] * 1000, p["stepSeconds"] * 1000
        print(f"{T:6} {4096 // T:3} {ts:9.1f} {ps:9.1f} {ps / ts:6.2f}")
if "A" in names and os.path.exists(f"{out}/sgemm_shapes.out"):
    print()
    print("config A's sgemm products alone, one thread each in two processes (bench/sgemm_shapes.py):")
    print(open(f"{out}/sgemm_shapes.out").read().rstrip())
if base:
    print()
    print("this tree against BASELINE_BIN in the same rounds (tok/s per round as baseline/this; medians)")
    for n in names + sweep:
        b, t = runs(n, "baseline"), runs(n, "tracker")
        pairs = " ".join(f"{x['tokensPerSecond']:.0f}/{y['tokensPerSecond']:.0f}" for x, y in zip(b, t))
        mb, mt = median(n, "baseline", "tokensPerSecond"), median(n, "tracker", "tokensPerSecond")
        print(f"{n:8} {pairs}  median {mb:.0f} -> {mt:.0f} tok/s, MFU {median(n, 'baseline', 'mfu'):.3f} -> "
              f"{median(n, 'tracker', 'mfu'):.3f}, {mt / mb:.3f}x")
PY

# The figures for bench/all.sh's summary (bench/lib.sh: bench_results).
python3 - "$OUT" "$PEAK" "$STEPS" "$ROUNDS" "$CONFIGS" "$CEILING" <<'PY' | bench_results
import json, statistics, sys
out, peak, steps, rounds, configs = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5].split()
ceiling = float(sys.argv[6]) if sys.argv[6] else None
def ours(n):
    runs = [json.load(open(f"{out}/{n}.tracker.{r}.json")) for r in range(1, rounds + 1)]
    t = {k: statistics.median(j[k] for j in runs) for k in ["tokensPerSecond", "mfu"]}
    t["peakMemoryBytes"] = max(j["peakMemoryBytes"] for j in runs)
    return t, json.load(open(f"{out}/{n}.torch.json"))
shapes = {"A": ("C 256, L 4, NH 4, T 256, B 8", 0.9, 1.25), "B": ("C 512, L 8, NH 8, T 512, B 4", None, 1.2)}
for n, (shape, mfu, speed) in shapes.items():
    if n not in configs:
        continue
    t, p = ours(n)
    ratio = t["tokensPerSecond"] / p["tokensPerSecond"]
    target = (f"MFU >= {mfu}, " if mfu else "") + f">= {speed}x PyTorch"
    met = ratio >= speed and (mfu is None or t["mfu"] >= mfu)
    print(json.dumps([f"training, config {n} ({shape}; V 8192, {steps} steps, median of {rounds} round(s); MFU against the {peak:.1f} GFLOP/s sgemm peak)",
                      f"{t['tokensPerSecond']:,.0f} tok/s, MFU {t['mfu']:.3f}, {t['peakMemoryBytes'] / 2**20:,.0f} MiB",
                      f"PyTorch {p['tokensPerSecond']:,.0f} tok/s, MFU {p['mfu']:.3f}, {p['peakMemoryBytes'] / 2**20:,.0f} MiB",
                      f"{ratio:.2f}x faster", target, "yes" if met else "no"]))
if ceiling is not None and "A" in configs:
    t, _ = ours("A")
    print(json.dumps(["training, config A: MFU against the ceiling of its sgemm products alone (bench/sgemm_shapes.py: "
                      "each product shape timed on one thread, two processes at once, FLOP-weighted)",
                      f"MFU {t['mfu']:.3f}", f"ceiling {ceiling:.3f}", f"{t['mfu'] / ceiling:.2f} of the ceiling", "", ""]))
for T in ([256, 512, 1024, 2048] if "ctx" in configs else []):
    t, p = ours(f"ctx{T}")
    ts, ps = 4096 / t["tokensPerSecond"] * 1000, p["stepSeconds"] * 1000
    print(json.dumps([f"training step time, config A's model at T={T}, B={4096 // T}", f"{ts:,.0f} ms", f"PyTorch {ps:,.0f} ms",
                      f"{ps / ts:.2f}x faster", "", ""]))
PY

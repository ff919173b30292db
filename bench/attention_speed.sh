#!/usr/bin/env bash
# Attention variants side by side, in one run: training tokens/s (the real trainer, both workers,
# B x T = 4096 tokens per step) and generation tokens/s (the schedule's decoder, batch 1, T tokens
# from an empty cache) at contexts 256..2048, each relative to softmax_rope at the same context.
# Every case is the same model (vocab 8192, C 256, L 4, NH 4, GELU, RMSNorm) with random weights
# on random tokens; only the attention or the schedule changes. The cases are every registered
# variant with its defaults (a new variant gets its row for free), then these extra ones
# (BenchAttentionCommand.extraCases):
#   stick_breaking:early_stop=false,probs_cache_mib=66
#                                    visits every key: the worst case of a trained model whose
#                                    sticks never run out (the default stops at e^-30), with the
#                                    budget that keeps A and σ for backward at T = 2048 (B = 1 per
#                                    worker, NH = 4: 66 MiB per layer call)
#   softmax_rope:kv_heads=1          multi-query attention
#   staircase:chunk=64,steps=2       softmax_rope core under the staircase, N = 2; its "cost" is
#                                    softmax_rope's training tokens/s over its own, next to the
#                                    FLOP ratio the model computes (N x core over a 2C span + head)
# Usage: bash bench/attention_speed.sh [timed steps per case, default 5; the median counts]
#        CASES=... CONTEXTS=... bash bench/attention_speed.sh   (see `tracker bench-attention --help`)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-5}
OUT=bench/out/attention_speed
mkdir -p "$OUT"

source bench/lib.sh
use_release_binary
TRACKER=$TRACKER_BIN

ARGS=(--steps "$STEPS")
[ -n "${CASES:-}" ] && ARGS+=(--cases "$CASES")
[ -n "${CONTEXTS:-}" ] && ARGS+=(--contexts "$CONTEXTS")
echo "== measuring (one JSON line per case and context in $OUT/lines.jsonl)" >&2
"$TRACKER" bench-attention "${ARGS[@]}" | tee "$OUT/lines.jsonl" >&2

python3 - "$OUT/lines.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
contexts = sorted({l["context"] for l in lines})
labels = list(dict.fromkeys(l["label"] for l in lines))
at = {(l["label"], l["context"]): l for l in lines}
base = "softmax_rope"
def k(x): return f"{x/1000:.1f}k" if x >= 1000 else f"{x:.0f}"
def ratio(label, T, key):
    b = at.get((base, T))
    return at[(label, T)][key] / b[key] if b else float("nan")
for key, title in (("trainTokensPerSecond", "training tokens/s"), ("generateTokensPerSecond", "generation tokens/s")):
    print(f"\n{title} (x = relative to {base} at the same context)")
    head = f"{'case':34s}" + "".join(f"{'T=' + str(T):>16s}" for T in contexts)
    print(head); print("-" * len(head))
    for label in labels:
        cells = []
        for T in contexts:
            l = at.get((label, T))
            cells.append(f"{k(l[key]):>8s} {ratio(label, T, key):5.2f}x" if l else f"{'-':>16s}")
        print(f"{label:34s}" + "".join(f"{c:>16s}" for c in cells))
stairs = [x for x in labels if at[(x, contexts[0])]["schedule"] != "plain"]
if stairs:
    print(f"\nschedule cost: {base} training tokens/s over the schedule's, against the FLOP ratio")
    for label in stairs:
        cells = []
        for T in contexts:
            l, b = at.get((label, T)), at.get((base, T))
            if l and b:
                cells.append(f"T={T}: {b['trainTokensPerSecond'] / l['trainTokensPerSecond']:.2f}x"
                             f" (FLOPs {l['flopsPerToken'] / b['flopsPerToken']:.2f}x)")
        print(f"{label} (N = {at[(label, contexts[0])]['passes']}): " + ", ".join(cells))
PY

# The figures for bench/all.sh's summary (bench/lib.sh: bench_results): each case at the longest
# context, against softmax_rope at the same context (the tables above have every context).
python3 - "$OUT/lines.jsonl" <<'PY' | bench_results
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
at = {(l["label"], l["context"]): l for l in lines}
T = max(l["context"] for l in lines)
for label in dict.fromkeys(l["label"] for l in lines):
    l, b = at.get((label, T)), at.get(("softmax_rope", T))
    if not l or not b or label == "softmax_rope":
        continue
    tr, gr = (l[k] / b[k] for k in ("trainTokensPerSecond", "generateTokensPerSecond"))
    print(json.dumps([f"attention {label}, T={T} (tokens/s: training, generation)",
                      f"{l['trainTokensPerSecond']:,.0f}, {l['generateTokensPerSecond']:,.0f}",
                      f"softmax_rope {b['trainTokensPerSecond']:,.0f}, {b['generateTokensPerSecond']:,.0f}",
                      f"{tr:.2f}x, {gr:.2f}x", "", ""]))
PY

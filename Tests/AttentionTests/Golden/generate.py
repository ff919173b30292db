#!/usr/bin/env python3
"""Writes the per-variant golden files <variant>-<case>.json next to this script.

Each file holds one input of the `tracker attention` interface and the float64 output of
reference.py (shared/spec/attention.md §1a-§1i) for it; README.md in this folder describes the
format. Every case is seeded from its own name, so adding a case leaves the others unchanged.
Run by hand: python3 Tests/AttentionTests/Golden/generate.py (after reference.py --check).
"""
import json
import os
import zlib

import numpy as np

import reference as ref

HERE = os.path.dirname(os.path.abspath(__file__))

# How each variant encodes position (the options do not say; the reference fixes it).
POSITIONAL = {
    "softmax_rope": "rope (half-split, base = options.rope_base)",
    "softmax_nope": "none",
    "alibi": "alibi (bias -m_h (i - j), fixed slopes)",
    "stick_breaking": "none",
    "forgetting": "none (the gate cumsum c_i - c_j)",
    "sigmoid": "rope (half-split, base 10000)",
    "aaren": "none",
    "retnet": "rope (half-split, base 10000) and decay gamma_h^(i - j)",
    "linear": "none",
    "persistent": "rope (half-split, base = options.rope_base) on the context; none on the memory",
    "cope": "contextual (gated suffix sums of sigmoid(s q.k), learned pos_emb interpolated)",
    "gla": "none (the decay cumsum B_i - B_j per key dimension)",
    "rela": "rope (half-split, base 10000) unless options.rope is false",
    "mlstm": "none (the forget gates' decay; gates from x)",
    "sinks": "rope (half-split, base = options.rope_base): window keys at distance i - j, sink s at "
             "min(i, sinks + window - 1) - s",
    "infini": "none (softmax within segments, a compressive memory of the earlier ones)",
}

# (variant, case, options, H, Hkv, T, d, dv): T <= 9, d <= 4, H <= 4.
CASES = [
    ("softmax_rope", "basic", {"rope_base": 10000}, 2, 2, 7, 4, 3),
    ("softmax_rope", "base100", {"rope_base": 100}, 2, 2, 9, 4, 4),
    ("softmax_rope", "gqa", {"rope_base": 10000}, 4, 2, 6, 4, 3),
    ("softmax_rope", "mqa", {"rope_base": 10000}, 3, 1, 5, 2, 2),
    ("softmax_rope", "t1", {"rope_base": 10000}, 2, 2, 1, 4, 3),
    ("softmax_nope", "basic", {}, 2, 2, 7, 4, 3),
    ("softmax_nope", "gqa", {}, 4, 2, 6, 4, 3),
    ("softmax_nope", "t1", {}, 2, 1, 1, 4, 3),
    ("alibi", "h4", {}, 4, 4, 8, 4, 3),
    ("alibi", "h3", {}, 3, 3, 7, 2, 3),
    ("alibi", "gqa", {}, 4, 2, 6, 4, 3),
    ("alibi", "t1", {}, 2, 2, 1, 4, 3),
    ("forgetting", "basic", {}, 2, 2, 8, 4, 3),
    ("forgetting", "gqa", {}, 4, 2, 6, 4, 3),
    ("forgetting", "zero_gate", {}, 2, 2, 6, 4, 3),
    ("forgetting", "t1", {}, 2, 2, 1, 4, 3),
    ("sigmoid", "basic", {"bias": float(-np.log(8))}, 2, 2, 8, 4, 3),
    ("sigmoid", "gqa", {"bias": -1.5}, 4, 2, 6, 4, 3),
    ("sigmoid", "t1", {"bias": 0.25}, 2, 2, 1, 4, 3),
    ("aaren", "scaled", {"scale": True}, 2, 2, 8, 4, 3),
    ("aaren", "unscaled", {"scale": False}, 2, 2, 8, 4, 3),
    ("aaren", "gqa", {"scale": True}, 4, 2, 6, 4, 3),
    ("aaren", "t1", {"scale": True}, 2, 2, 1, 4, 3),
    ("retnet", "default_gammas", {"group_norm": False}, 4, 4, 8, 4, 3),
    ("retnet", "gammas", {"gammas": [0.5, 0.9], "group_norm": False}, 2, 2, 9, 4, 2),
    ("retnet", "gqa", {"group_norm": False}, 4, 2, 6, 4, 3),
    ("retnet", "t1", {"group_norm": False}, 2, 2, 1, 4, 3),
    ("linear", "basic", {}, 2, 2, 9, 4, 3),
    ("linear", "chunk2", {"chunk": 2}, 2, 2, 7, 4, 4),
    ("linear", "gqa", {"chunk": 4}, 4, 2, 6, 4, 3),
    ("linear", "mqa", {}, 3, 1, 5, 2, 2),
    ("linear", "t1", {}, 2, 2, 1, 4, 3),
    ("persistent", "basic", {"memory": 3, "rope_base": 10000}, 2, 2, 7, 4, 3),
    ("persistent", "gqa", {"memory": 2, "rope_base": 10000}, 4, 2, 6, 4, 3),
    ("persistent", "mqa", {"memory": 4, "rope_base": 100}, 3, 1, 5, 2, 2),
    ("persistent", "t1", {"memory": 3, "rope_base": 10000}, 2, 2, 1, 4, 3),
    ("cope", "clamped", {"max_position": 3}, 2, 2, 8, 4, 3),
    ("cope", "unclamped", {"max_position": 64}, 2, 2, 7, 4, 3),
    ("cope", "gqa", {"max_position": 4}, 4, 2, 6, 4, 3),
    ("cope", "mqa", {"max_position": 2}, 3, 1, 5, 4, 2),
    ("cope", "t1", {"max_position": 3}, 2, 2, 1, 4, 3),
    ("gla", "basic", {}, 2, 2, 9, 4, 3),
    ("gla", "chunk2", {"chunk": 2}, 2, 2, 7, 4, 4),
    ("gla", "gqa", {"chunk": 4}, 4, 2, 6, 4, 3),
    ("gla", "mqa", {}, 3, 1, 5, 2, 2),
    ("gla", "t1", {}, 2, 2, 1, 4, 3),
    ("rela", "basic", {}, 2, 2, 8, 4, 3),
    ("rela", "nope", {"rope": False}, 2, 2, 7, 4, 4),
    ("rela", "gqa", {}, 4, 2, 6, 4, 3),
    ("rela", "mqa", {}, 3, 1, 5, 2, 2),
    ("rela", "t1", {}, 2, 2, 1, 4, 3),
    ("mlstm", "basic", {}, 2, 2, 8, 4, 3),
    ("mlstm", "stabiliser", {}, 2, 2, 9, 4, 4),
    ("mlstm", "gqa", {}, 4, 2, 6, 4, 3),
    ("mlstm", "mqa", {}, 3, 1, 5, 2, 2),
    ("mlstm", "t1", {}, 2, 2, 1, 4, 3),
    ("sinks", "basic", {"sinks": 2, "window": 3, "rope_base": 10000}, 2, 2, 9, 4, 3),
    ("sinks", "gqa", {"sinks": 1, "window": 2, "rope_base": 10000}, 4, 2, 7, 4, 3),
    ("sinks", "mqa", {"sinks": 2, "window": 2, "rope_base": 100}, 3, 1, 8, 2, 2),
    ("sinks", "t1", {"sinks": 2, "window": 3, "rope_base": 10000}, 2, 2, 1, 4, 3),
    ("infini", "basic", {"segment": 3}, 2, 2, 9, 4, 4),
    ("infini", "delta", {"segment": 2, "delta_rule": True}, 2, 2, 8, 4, 4),
    ("infini", "gqa", {"segment": 3, "delta_rule": True}, 4, 2, 7, 4, 4),
    ("infini", "mqa", {"segment": 2}, 3, 1, 6, 2, 2),
    ("infini", "t1", {"segment": 2}, 2, 2, 1, 4, 4),
]
for rem in ("current", "bias", "none"):
    for cur in (False, True):
        CASES.append(("stick_breaking", f"{rem}-{'inclusive' if cur else 'exclusive'}",
                      {"remainder": rem, "attend_current": cur}, 2, 2, 8, 4, 3))
CASES += [
    ("stick_breaking", "gqa", {"remainder": "current", "attend_current": False}, 4, 2, 6, 4, 3),
    ("stick_breaking", "bias-gqa", {"remainder": "bias", "attend_current": False}, 4, 1, 5, 4, 3),
    ("stick_breaking", "t1", {"remainder": "current", "attend_current": False}, 2, 2, 1, 4, 3),
    ("stick_breaking", "bias-t1", {"remainder": "bias", "attend_current": False}, 2, 2, 1, 4, 3),
]


def nested(x):
    return np.asarray(x, dtype=np.float64).tolist()


def golden(variant, name, options, H, Hkv, T, d, dv):
    rng = np.random.default_rng(zlib.crc32(f"{variant}-{name}".encode()))
    inp = ref.random_inputs(rng, variant, H, Hkv, T, d, dv, options)
    if name == "zero_gate":
        inp["log_f"][:] = 0.0
    if name == "stabiliser":                          # strong input gates, closing forget gates
        inp["igate.bias"] += 6.0
        inp["fgate.bias"] -= 3.0
    label = f"{variant}-{name}"
    ref.check_gradients(variant, inp, label)
    res = ref.run(variant, inp)
    doc_in = {key: (val if key == "options" else nested(val)) for key, val in inp.items()}
    doc_out = {key: (float(val) if key == "dbias" else nested(val)) for key, val in res.items()}
    return {
        "variant": variant,
        "case": name,
        "positional": POSITIONAL[variant],
        "shapes": {"H": H, "Hkv": Hkv, "T": T, "d": d, "dv": dv},
        "loss": "sum(out * dout); every gradient is of this scalar",
        "input": doc_in,
        "output": doc_out,
    }


def dumps(doc):
    """One top-level key per line (and one input/output tensor per line), values compact."""
    def compact(x):
        return json.dumps(x, separators=(",", ":"), sort_keys=True)
    lines = []
    for key in sorted(doc):
        if isinstance(doc[key], dict) and key in ("input", "output"):
            inner = [f'  {json.dumps(k)}: {compact(doc[key][k])}' for k in sorted(doc[key])]
            lines.append(f'{json.dumps(key)}: {{\n' + ",\n".join(inner) + "\n }")
        else:
            lines.append(f"{json.dumps(key)}: {compact(doc[key])}")
    return "{\n " + ",\n ".join(lines) + "\n}\n"


def main():
    for variant, name, options, H, Hkv, T, d, dv in CASES:
        doc = golden(variant, name, options, H, Hkv, T, d, dv)
        path = os.path.join(HERE, f"{variant}-{name}.json")
        with open(path, "w") as f:
            f.write(dumps(doc))
    print(f"wrote {len(CASES)} golden files to {HERE}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Float64 numpy reference of the staircase schedule (shared/spec/attention.md §1c), forward only.

The Core is a tiny causal pre-norm Transformer (RMSNorm, softmax attention with half-split RoPE at
absolute token positions, GELU MLP; parameter names as in Tests/Golden/generate.py). Around it:
  - the rows schedule: row r holds chunks max(0, r-N+1) .. min(r, n-1), oldest first; chunk c is
    at pass r - c + 1; chunk r enters as embeddings, older chunks as last row's final-layer output
    (backward tokens); the oldest chunk leaves after pass N as its output state;
  - cache "none" | "cached" (the cache_chunks most recently finished chunks) | "global" (all of
    them): at layer l a cached chunk contributes, as keys and values only, the layer-l inputs it
    had in the row where it finished (the spec's "our definition", Transformer-XL style);
  - the segment layout: segments of M tokens run M/C + N - 1 rows; the per-layer inputs of the
    N - 1 trailing rows are kept (detached) and row s < N - 1 of the next segment uses those of
    trailing row s as extra keys and values at every layer; the first memory is empty.

`python3 staircase_reference.py --check` asserts the schedule's properties; without arguments
it also writes staircase.json (pass-N output states and logits of a tiny config, several
schedules), the oracle for the Swift `Staircase` schedule. Golden layout: see `write_golden`.
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
EPS = 1e-5
K_GELU = np.sqrt(2 / np.pi)


# ---------------------------------------------------------------- the Core

def rmsnorm(x, w):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + EPS) * w


def gelu(x):
    return 0.5 * x * (1 + np.tanh(K_GELU * (x + 0.044715 * x ** 3)))


def rope(x, pos, base=10000.0):
    """x [n, NH, hs] at absolute positions pos [n], half-split rotation."""
    hs = x.shape[-1]
    angle = pos[:, None] * base ** (-2.0 * np.arange(hs // 2) / hs)[None, :]
    c, s = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
    x1, x2 = x[..., :hs // 2], x[..., hs // 2:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], -1)


def layer(p, cfg, l, x, pos, mem_x, mem_pos, allowed=None):
    """One block. x [n,D]: layer-l inputs of the row at positions pos (increasing).
    mem_x [m,D]: layer-l inputs of memory tokens (keys/values only) at positions mem_pos.
    allowed(qpos, kpos) -> bool mask overrides plain causality (for the masked oracles)."""
    NH, D = cfg["NH"], cfg["D"]
    hs = D // NH
    pre = f"blocks.{l}."
    wqkv = p[pre + "attn.wqkv"]
    qkv = rmsnorm(x, p[pre + "norm1.weight"]) @ wqkv.T
    kv_src = qkv
    if len(mem_x):
        kv_src = np.concatenate([rmsnorm(mem_x, p[pre + "norm1.weight"]) @ wqkv.T, qkv], 0)
    kpos = np.concatenate([mem_pos, pos]).astype(np.float64)
    q = rope(qkv[:, :D].reshape(-1, NH, hs), pos.astype(np.float64))
    k = rope(kv_src[:, D:2 * D].reshape(-1, NH, hs), kpos)
    v = kv_src[:, 2 * D:].reshape(-1, NH, hs)
    mask = kpos[None, :] <= pos[:, None] if allowed is None else allowed(pos[:, None], kpos[None, :])
    S = np.einsum("ihd,jhd->hij", q, k) / np.sqrt(hs)
    S = np.where(mask[None], S, -np.inf)
    P = np.exp(S - S.max(-1, keepdims=True))
    P /= P.sum(-1, keepdims=True)
    a = np.einsum("hij,jhd->ihd", P, v).reshape(-1, D)
    x = x + a @ p[pre + "attn.wo"].T
    h = gelu(rmsnorm(x, p[pre + "norm2.weight"]) @ p[pre + "mlp.wfc"].T)
    return x + h @ p[pre + "mlp.wproj"].T


def core(p, cfg, x, pos, memory=None, allowed=None):
    """Applies the L blocks. memory: per layer (mem_x, mem_pos) or None.
    Returns the final-layer output and the list of per-layer inputs [L][n,D]."""
    inputs = []
    for l in range(cfg["L"]):
        inputs.append(x)
        mem_x, mem_pos = memory[l] if memory else (np.zeros((0, cfg["D"])), np.zeros(0))
        x = layer(p, cfg, l, x, pos, mem_x, mem_pos, allowed)
    return x, inputs


def logits(p, states):
    return rmsnorm(states, p["norm_f.weight"]) @ p["wte"].T


# ---------------------------------------------------------------- the staircase schedule

def chunk_ranges(T, C):
    return [(c0, min(c0 + C, T)) for c0 in range(0, T, C)]


def row_chunks(r, n, N):
    return list(range(max(0, r - N + 1), min(r, n - 1) + 1))


def staircase(p, cfg, emb, C, N, cache="none", cache_chunks=0, trace=None):
    """Pass-N output states [T,D] of the whole stream emb [T,D] (positions 0..T-1)."""
    T, D, L = emb.shape[0], cfg["D"], cfg["L"]
    ranges = chunk_ranges(T, C)
    n = len(ranges)
    last_out = {}                                     # chunk -> final-layer output of last row
    finished = {}                                     # chunk -> its layer inputs when it finished
    states = np.zeros((T, D))
    for r in range(n + N - 1):
        chunks = row_chunks(r, n, N)
        x = np.concatenate([last_out[c] if c < r else emb[slice(*ranges[c])] for c in chunks])
        pos = np.concatenate([np.arange(*ranges[c]) for c in chunks])
        done = [c for c in sorted(finished) if c <= r - N]
        if cache == "cached":
            done = done[len(done) - cache_chunks:] if cache_chunks > 0 else []
        elif cache == "none":
            done = []
        memory = None
        if done:
            mpos = np.concatenate([np.arange(*ranges[c]) for c in done])
            memory = [(np.concatenate([finished[c][l] for c in done]), mpos) for l in range(L)]
        out, inputs = core(p, cfg, x, pos, memory)
        if trace is not None:
            trace.append([(c, r - c + 1, c == r) for c in chunks])
        offset = 0
        for c in chunks:
            size = ranges[c][1] - ranges[c][0]
            last_out[c] = out[offset:offset + size]
            if c == r - N + 1:                        # N passes done: the output state
                states[slice(*ranges[c])] = last_out[c]
                finished[c] = [h[offset:offset + size] for h in inputs]
            offset += size
    return states


def staircase_segmented(p, cfg, emb, C, N, M):
    """The official segment layout: M-token segments, trailing rows' layer inputs as memory."""
    T, L = emb.shape[0], cfg["L"]
    assert M % C == 0 and M // C >= N - 1 and T % M == 0
    m = M // C
    memory = {}                                       # trailing row s -> per-layer (x, pos)
    states = np.zeros((T, cfg["D"]))
    for s0 in range(0, T, M):
        ranges = [(s0 + a, s0 + b) for a, b in chunk_ranges(M, C)]
        last_out, new_memory = {}, {}
        for r in range(m + N - 1):
            chunks = row_chunks(r, m, N)
            x = np.concatenate([last_out[c] if c < r else emb[slice(*ranges[c])] for c in chunks])
            pos = np.concatenate([np.arange(*ranges[c]) for c in chunks])
            out, inputs = core(p, cfg, x, pos, memory.get(r) if r < N - 1 else None)
            if r >= m:
                new_memory[r - m] = [(h, pos) for h in inputs]
            offset = 0
            for c in chunks:
                size = ranges[c][1] - ranges[c][0]
                last_out[c] = out[offset:offset + size]
                if c == r - N + 1:
                    states[slice(*ranges[c])] = last_out[c]
                offset += size
        memory = new_memory
        assert len(memory) == N - 1
    return states


def plain(p, cfg, emb, allowed=None):
    return core(p, cfg, emb, np.arange(emb.shape[0]), allowed=allowed)[0]


# ---------------------------------------------------------------- tiny config and checks

def make_params(rng, V, D, L, NH):
    p = {"wte": rng.normal(size=(V, D)) * 0.5}
    for l in range(L):
        pre = f"blocks.{l}."
        p[pre + "norm1.weight"] = 1 + 0.1 * rng.normal(size=D)
        p[pre + "attn.wqkv"] = rng.normal(size=(3 * D, D)) * 0.3
        p[pre + "attn.wo"] = rng.normal(size=(D, D)) * 0.3
        p[pre + "norm2.weight"] = 1 + 0.1 * rng.normal(size=D)
        p[pre + "mlp.wfc"] = rng.normal(size=(4 * D, D)) * 0.3
        p[pre + "mlp.wproj"] = rng.normal(size=(D, 4 * D)) * 0.3
    p["norm_f.weight"] = 1 + 0.1 * rng.normal(size=D)
    return p


def close(a, b, tol=1e-12):
    return np.abs(a - b).max() < tol


def check_schedule():
    for T, C, N in [(8, 2, 2), (9, 2, 3), (24, 4, 2), (5, 1, 3), (7, 7, 2)]:
        trace, n = [], len(chunk_ranges(T, C))
        cfg = dict(D=4, NH=1, L=1)
        p = make_params(np.random.default_rng(0), 3, 4, 1, 1)
        staircase(p, cfg, np.zeros((T, 4)), C, N, trace=trace)
        assert len(trace) == n + N - 1
        passes = {}
        for r, row in enumerate(trace):
            assert [c for c, _, _ in row] == sorted(c for c, _, _ in row), "oldest first"
            assert sum(min(C, T - c * C) for c, _, _ in row) <= N * C, "row length <= S"
            assert [fwd for _, _, fwd in row] == [c == r for c, _, _ in row]
            assert (r >= n) == (not any(fwd for _, _, fwd in row)), "last N-1 rows: no forward"
            if r < N - 1:
                assert len(row) == r + 1, "the first N-1 rows are shorter"
            for c, k, _ in row:
                passes.setdefault(c, []).append(k)
        assert all(passes[c] == list(range(1, N + 1)) for c in range(n)), "exactly N passes"


def staircase_n2_recurrence(p, cfg, emb, C):
    """N = 2 written as a recurrence: h1_c = Core([h1_{c-1}; e_c])[c], out_c = Core(h1_c)."""
    states, prev, prev_pos = np.zeros_like(emb), None, None
    for c0, c1 in chunk_ranges(emb.shape[0], C):
        pos = np.arange(c0, c1)
        if prev is None:
            h1 = core(p, cfg, emb[c0:c1], pos)[0]
        else:
            h1 = core(p, cfg, np.concatenate([prev, emb[c0:c1]]), np.concatenate([prev_pos, pos]))[0]
            h1 = h1[len(prev):]
        states[c0:c1] = core(p, cfg, h1, pos)[0]
        prev, prev_pos = h1, pos
    return states


def check_all():
    rng = np.random.default_rng(3)
    cfg = dict(V=7, D=8, L=2, NH=2)
    p = make_params(rng, cfg["V"], cfg["D"], cfg["L"], cfg["NH"])
    emb = rng.normal(size=(24, cfg["D"]))
    check_schedule()

    for T, N in [(6, 2), (9, 3)]:                     # ladder: one chunk, Core applied N times
        h = emb[:T]
        for _ in range(N):
            h = plain(p, cfg, h)
        assert close(staircase(p, cfg, emb[:T], T, N), h)
        assert close(staircase(p, cfg, emb[:T], T + 5, N), h)

    assert close(staircase(p, cfg, emb, 3, 1, cache="global"), plain(p, cfg, emb)), "N=1 global"
    for C in (1, 4, 5):
        local = np.concatenate([plain(p, cfg, emb[a:b]) if a == 0 else
                                core(p, cfg, emb[a:b], np.arange(a, b))[0]
                                for a, b in chunk_ranges(24, C)])
        assert close(staircase(p, cfg, emb, C, 1), local), "N=1 without cache is chunk-local"
    for C, k in [(3, 1), (4, 2)]:
        def window(qpos, kpos, C=C, k=k):
            return (kpos <= qpos) & (kpos // C >= qpos // C - k)
        assert close(staircase(p, cfg, emb, C, 1, cache="cached", cache_chunks=k),
                     plain(p, cfg, emb, allowed=window)), "N=1 cached k == chunk-window mask"

    for C in (2, 3, 4):
        base = staircase(p, cfg, emb, C, 2)
        assert close(base, staircase_n2_recurrence(p, cfg, emb, C)), "N=2 recurrence"
        assert close(staircase(p, cfg, emb, C, 2, cache="cached", cache_chunks=0), base)
        assert close(staircase(p, cfg, emb, C, 2, cache="cached", cache_chunks=99),
                     staircase(p, cfg, emb, C, 2, cache="global"))

    for C, N, M in [(2, 2, 4), (2, 3, 4), (1, 2, 3), (3, 2, 6), (2, 3, 8)]:
        whole = staircase(p, cfg, emb, C, N)
        assert close(staircase_segmented(p, cfg, emb, C, N, M), whole), (C, N, M)

    base = staircase(p, cfg, emb, 4, 2)
    pert = emb.copy()
    pert[0] += 1.0
    moved = np.abs(staircase(p, cfg, pert, 4, 2) - base).max(-1)
    assert np.all(moved[20:] > 1e-9), "recurrence: token 0 reaches positions >= 20 (C=4, N=2)"

    for kw in [dict(C=2, N=2), dict(C=3, N=3), dict(C=2, N=2, cache="global"),
               dict(C=2, N=3, cache="cached", cache_chunks=1)]:
        base = staircase(p, cfg, emb[:12], **kw)
        for t in (1, 5, 9):
            pert = emb[:12].copy()
            pert[t:] += 1.0
            assert close(staircase(p, cfg, pert, **kw)[:t], base[:t]), ("causality", kw, t)
    print("staircase: rows schedule, ladder == Core^N, N=1 global == plain, N=1 == chunk-local, "
          "N=1 cached k == chunk-window mask, N=2 == recurrence, cached(0) == none, "
          "cached(all) == global, segments == whole stream (5 configs), recurrence reach, causality")


# ---------------------------------------------------------------- golden JSON

CASES = [
    # name, schedule options (chunk C, passes N, cache, cache_chunks, segment M)
    ("staircase_c2_n2", dict(chunk=2, passes=2, cache="none", cache_chunks=0, segment=0)),
    ("staircase_c3_n3", dict(chunk=3, passes=3, cache="none", cache_chunks=0, segment=0)),
    ("ladder_n2", dict(chunk=9, passes=2, cache="none", cache_chunks=0, segment=0)),
    ("n1_global_equals_plain", dict(chunk=2, passes=1, cache="global", cache_chunks=0, segment=0)),
    ("cached1_c2_n2", dict(chunk=2, passes=2, cache="cached", cache_chunks=1, segment=0)),
    ("global_c2_n2", dict(chunk=2, passes=2, cache="global", cache_chunks=0, segment=0)),
    ("segmented_m4_c2_n2", dict(chunk=2, passes=2, cache="none", cache_chunks=0, segment=4)),
]


def run_case(p, cfg, emb, o):
    if o["segment"]:
        return staircase_segmented(p, cfg, emb, o["chunk"], o["passes"], o["segment"])
    return staircase(p, cfg, emb, o["chunk"], o["passes"], o["cache"], o["cache_chunks"])


def write_golden():
    """staircase.json: {"config", "params" (name -> nested list, [out][in] for weights, tied LM
    head = wte), "tokens" [T] per case, "cases": {name: {"schedule", "tokens", "states" [T][D]
    (pass-N final-layer outputs, before norm_f), "logits" [T][V]}}}."""
    rng = np.random.default_rng(11)
    cfg = dict(V=7, D=8, L=2, NH=2)
    p = make_params(rng, cfg["V"], cfg["D"], cfg["L"], cfg["NH"])
    cases = {}
    for name, o in CASES:
        T = 8 if o["segment"] else 9
        tokens = rng.integers(0, cfg["V"], size=T)
        states = run_case(p, cfg, p["wte"][tokens], o)
        cases[name] = dict(schedule=o, tokens=tokens.tolist(), states=states.tolist(),
                           logits=logits(p, states).tolist())
    assert close(np.array(cases["n1_global_equals_plain"]["states"]),
                 plain(p, cfg, p["wte"][cases["n1_global_equals_plain"]["tokens"]]))
    doc = dict(config=dict(cfg, MLP=4 * cfg["D"], norm="rmsnorm", eps=EPS, activation="gelu_tanh",
                           rope_base=10000.0, tied=True, layout="wqkv rows: q (NH*hs), k, v"),
               params={k: v.tolist() for k, v in p.items()}, cases=cases)
    with open(os.path.join(HERE, "staircase.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")
    print(f"wrote {len(cases)} cases to staircase.json")


if __name__ == "__main__":
    check_all()
    if sys.argv[1:] != ["--check"]:
        write_golden()

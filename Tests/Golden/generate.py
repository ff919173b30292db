#!/usr/bin/env python3
"""Golden vectors for the engine tests, computed in float64 numpy from the formulas alone.

Writes Tests/KernelsTests/Golden/kernels.json, Tests/AttentionTests/Golden/attention.json and
Tests/ModelTests/Golden/model.json. Each file maps a case name to {"dims": {...}, "tensors": {...}}
with flat row-major tensors. Backward results are for the loss sum(out * dout) with a random dout.
Run by hand (python3 Tests/Golden/generate.py); CI only reads the committed JSON.
"""
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
rng = np.random.default_rng(20240520)
EPS = 1e-5


def case(dims, **tensors):
    return {"dims": dims, "tensors": {k: np.asarray(v, dtype=np.float64).ravel().tolist()
                                      for k, v in tensors.items()}}


# ---------------------------------------------------------------- kernels

def matmul_case():
    BT, C, OC = 5, 7, 3
    x, w, b = rng.normal(size=(BT, C)), rng.normal(size=(OC, C)), rng.normal(size=OC)
    dout = rng.normal(size=(BT, OC))
    return case(dict(BT=BT, C=C, OC=OC), inp=x, weight=w, bias=b, dout=dout,
                out=x @ w.T + b, dinp=dout @ w, dweight=dout.T @ x, dbias=dout.sum(0))


def embedding_case():
    BT, C, V = 6, 4, 5
    wte = rng.normal(size=(V, C))
    tokens = np.array([1, 4, 1, 0, 3, 1])
    dout = rng.normal(size=(BT, C))
    dwte = np.zeros_like(wte)
    np.add.at(dwte, tokens, dout)
    return case(dict(BT=BT, C=C, V=V), wte=wte, tokens=tokens, dout=dout, out=wte[tokens],
                dwte=dwte)


def rmsnorm(x, w):
    rstd = 1 / np.sqrt((x * x).mean(-1, keepdims=True) + EPS)
    return x * rstd * w, rstd


def rmsnorm_back(dout, x, w, rstd):
    C = x.shape[-1]
    wgx = (w * dout * x).sum(-1, keepdims=True)
    dx = rstd * (w * dout) - x * rstd ** 3 * wgx / C
    return dx, (dout * x * rstd).reshape(-1, C).sum(0)


def layernorm(x, w, b):
    mean = x.mean(-1, keepdims=True)
    rstd = 1 / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + EPS)
    return (x - mean) * rstd * w + b, mean, rstd


def layernorm_back(dout, x, w, mean, rstd):
    C = x.shape[-1]
    norm = (x - mean) * rstd
    dnorm = dout * w
    dx = rstd * (dnorm - dnorm.mean(-1, keepdims=True) - norm * (dnorm * norm).mean(-1, keepdims=True))
    return dx, (dout * norm).reshape(-1, C).sum(0), dout.reshape(-1, C).sum(0)


def norm_cases():
    BT, C = 3, 8
    x, w, b = rng.normal(size=(BT, C)) * 2 + 0.5, rng.normal(size=C), rng.normal(size=C)
    dout = rng.normal(size=(BT, C))
    out, rstd = rmsnorm(x, w)
    dx, dw = rmsnorm_back(dout, x, w, rstd)
    rms = case(dict(BT=BT, C=C), inp=x, weight=w, dout=dout, out=out, rstd=rstd, dinp=dx, dweight=dw)
    out, mean, rstd = layernorm(x, w, b)
    dx, dw, db = layernorm_back(dout, x, w, mean, rstd)
    ln = case(dict(BT=BT, C=C), inp=x, weight=w, bias=b, dout=dout, out=out, mean=mean, rstd=rstd,
              dinp=dx, dweight=dw, dbias=db)
    return rms, ln


K_GELU = np.sqrt(2 / np.pi)


def gelu(x):
    return 0.5 * x * (1 + np.tanh(K_GELU * (x + 0.044715 * x ** 3)))


def gelu_grad(x):
    t = np.tanh(K_GELU * (x + 0.044715 * x ** 3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K_GELU * (1 + 3 * 0.044715 * x * x)


def silu(a):
    return a / (1 + np.exp(-a))


def swiglu(h):
    H = h.shape[-1] // 2
    return silu(h[..., :H]) * h[..., H:]


def swiglu_back(dout, h):
    H = h.shape[-1] // 2
    a, b = h[..., :H], h[..., H:]
    sg = 1 / (1 + np.exp(-a))
    return np.concatenate([dout * b * sg * (1 + a * (1 - sg)), dout * silu(a)], -1)


def activation_cases():
    N = 21
    x = np.linspace(-7, 7, N) + rng.normal(size=N) * 0.1
    dout = rng.normal(size=N)
    g = case(dict(N=N), inp=x, dout=dout, out=gelu(x), dinp=gelu_grad(x) * dout)
    Nr, H = 3, 9
    h = rng.normal(size=(Nr, 2 * H)) * 2
    dout = rng.normal(size=(Nr, H))
    s = case(dict(N=Nr, H=H), inp=h, dout=dout, out=swiglu(h), dinp=swiglu_back(dout, h))
    return g, s


def rope_tables(T, hs, pos0, base=10000.0):
    m = np.arange(hs // 2)
    ang = (pos0 + np.arange(T))[:, None] * base ** (-2 * m / hs)[None, :]
    return np.cos(ang), np.sin(ang)


def rope(x, pos0):
    """x (B, T, H, hs), half-split rotation."""
    T, hs = x.shape[1], x.shape[-1]
    c, s = rope_tables(T, hs, pos0)
    c, s = c[None, :, None, :], s[None, :, None, :]
    x1, x2 = x[..., :hs // 2], x[..., hs // 2:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], -1)


def rope_back(d, pos0):
    T, hs = d.shape[1], d.shape[-1]
    c, s = rope_tables(T, hs, pos0)
    c, s = c[None, :, None, :], s[None, :, None, :]
    d1, d2 = d[..., :hs // 2], d[..., hs // 2:]
    return np.concatenate([d1 * c + d2 * s, d2 * c - d1 * s], -1)


def rope_case():
    B, T, H, hs, pos0 = 2, 5, 3, 8, 3
    x = rng.normal(size=(B, T, H, hs))
    dout = rng.normal(size=(B, T, H, hs))
    return case(dict(B=B, T=T, heads=H, hs=hs, pos0=pos0), inp=x, dout=dout, out=rope(x, pos0),
                dinp=rope_back(dout, pos0))


def crossentropy_case():
    BT, C, V = 7, 6, 11
    x, w = rng.normal(size=(BT, C)), rng.normal(size=(V, C)) * 0.7
    targets = np.array([3, -1, 0, 10, 5, -1, 3])
    logits = x @ w.T
    m = logits.max(-1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(-1))
    valid = targets >= 0
    losses = np.where(valid, lse - logits[np.arange(BT), np.maximum(targets, 0)], 0)
    p = np.exp(logits - lse[:, None])
    onehot = np.zeros_like(p)
    onehot[np.arange(BT)[valid], targets[valid]] = 1
    dlogits = (p - onehot) * valid[:, None] / valid.sum()
    return case(dict(BT=BT, C=C, V=V), inp=x, weight=w, targets=targets, losses=losses,
                loss=[losses.sum() / valid.sum()], dinp=dlogits @ w, dweight=dlogits.T @ x)


# ---------------------------------------------------------------- attention

def attention(qkv, NH, NKV, hs, pos0):
    """Causal softmax attention with RoPE on q, k; qkv (B,T,(NH+2NKV)hs) -> out (B,T,NH*hs)."""
    B, T, _ = qkv.shape
    q = rope(qkv[..., :NH * hs].reshape(B, T, NH, hs), pos0)
    k = rope(qkv[..., NH * hs:(NH + NKV) * hs].reshape(B, T, NKV, hs), pos0)
    v = qkv[..., (NH + NKV) * hs:].reshape(B, T, NKV, hs)
    rep = NH // NKV
    k, v = np.repeat(k, rep, axis=2), np.repeat(v, rep, axis=2)
    S = np.einsum("bihd,bjhd->bhij", q, k) / np.sqrt(hs)
    S = np.where(np.tril(np.ones((T, T), dtype=bool)), S, -np.inf)
    P = np.exp(S - S.max(-1, keepdims=True))
    P /= P.sum(-1, keepdims=True)
    return np.einsum("bhij,bjhd->bihd", P, v).reshape(B, T, NH * hs), (q, k, v, P)


def attention_back(dout, saved, NH, NKV, hs, pos0):
    q, k, v, P = saved
    B, T = q.shape[:2]
    dO = dout.reshape(B, T, NH, hs)
    dv = np.einsum("bhij,bihd->bjhd", P, dO)
    dP = np.einsum("bihd,bjhd->bhij", dO, v)
    dS = P * (dP - (dP * P).sum(-1, keepdims=True))
    dq = np.einsum("bhij,bjhd->bihd", dS, k) / np.sqrt(hs)
    dk = np.einsum("bhij,bihd->bjhd", dS, q) / np.sqrt(hs)
    rep = NH // NKV
    dk = dk.reshape(B, T, NKV, rep, hs).sum(3)
    dv = dv.reshape(B, T, NKV, rep, hs).sum(3)
    return np.concatenate([rope_back(dq, pos0).reshape(B, T, -1), rope_back(dk, pos0).reshape(B, T, -1),
                           dv.reshape(B, T, -1)], -1)


def attention_cases():
    out = {}
    for name, (B, T, NH, NKV, hs, pos0) in {
        "mha": (2, 5, 2, 2, 8, 0), "gqa_offset": (1, 7, 4, 2, 4, 3), "mqa": (2, 4, 3, 1, 6, 0),
    }.items():
        qkv = rng.normal(size=(B, T, (NH + 2 * NKV) * hs))
        dout = rng.normal(size=(B, T, NH * hs))
        o, saved = attention(qkv, NH, NKV, hs, pos0)
        out[name] = case(dict(B=B, T=T, NH=NH, NKV=NKV, hs=hs, pos0=pos0), qkv=qkv, dout=dout, out=o,
                         dqkv=attention_back(dout, saved, NH, NKV, hs, pos0))
    return out


# ---------------------------------------------------------------- model

def model_loss(p, cfg, tokens, targets):
    """Pre-norm transformer forward in float64; returns per-position losses (B,T)."""
    V, C, L, NH, NKV, mlp, norm, tied = (cfg[k] for k in ("V", "C", "L", "NH", "NKV", "mlp", "norm", "tied"))
    hs = C // NH

    def nrm(x, prefix):
        if norm == "rmsnorm":
            return rmsnorm(x, p[prefix + ".weight"])[0]
        return layernorm(x, p[prefix + ".weight"], p[prefix + ".bias"])[0]

    x = p["wte"][tokens]
    for l in range(L):
        pre = f"blocks.{l}."
        h = nrm(x, pre + "norm1")
        a, _ = attention(h @ p[pre + "attn.wqkv"].T, NH, NKV, hs, 0)
        x = x + a @ p[pre + "attn.wo"].T
        h = nrm(x, pre + "norm2") @ p[pre + "mlp.wfc"].T
        h = gelu(h) if mlp == "gelu" else swiglu(h)
        x = x + h @ p[pre + "mlp.wproj"].T
    x = nrm(x, "norm_f")
    logits = x @ (p["wte"] if tied else p["lm_head"]).T
    m = logits.max(-1, keepdims=True)
    lse = m[..., 0] + np.log(np.exp(logits - m).sum(-1))
    picked = np.take_along_axis(logits, np.maximum(targets, 0)[..., None], -1)[..., 0]
    return np.where(targets >= 0, lse - picked, 0)


def mlp_hidden(C, mlp):
    return 4 * C if mlp == "gelu" else (8 * C // 3 + 31) // 32 * 32


def model_case(V, C, L, NH, NKV, mlp, norm, tied, B, T):
    cfg = dict(V=V, C=C, L=L, NH=NH, NKV=NKV, mlp=mlp, norm=norm, tied=tied)
    hs, H = C // NH, mlp_hidden(C, mlp)
    p = {"wte": rng.normal(size=(V, C)) * 0.5}
    for l in range(L):
        pre = f"blocks.{l}."
        for n in ("norm1", "norm2"):
            p[pre + n + ".weight"] = 1 + 0.1 * rng.normal(size=C)
            if norm == "layernorm":
                p[pre + n + ".bias"] = 0.1 * rng.normal(size=C)
        p[pre + "attn.wqkv"] = rng.normal(size=((NH + 2 * NKV) * hs, C)) * 0.3
        p[pre + "attn.wo"] = rng.normal(size=(C, NH * hs)) * 0.3
        p[pre + "mlp.wfc"] = rng.normal(size=(H if mlp == "gelu" else 2 * H, C)) * 0.3
        p[pre + "mlp.wproj"] = rng.normal(size=(C, H)) * 0.3
    p["norm_f.weight"] = 1 + 0.1 * rng.normal(size=C)
    if norm == "layernorm":
        p["norm_f.bias"] = 0.1 * rng.normal(size=C)
    if not tied:
        p["lm_head"] = rng.normal(size=(V, C)) * 0.5
    tokens = rng.integers(0, V, size=(B, T))
    targets = rng.integers(0, V, size=(B, T))
    targets[0, 1] = -1
    losses = model_loss(p, cfg, tokens, targets)
    dims = dict(V=V, C=C, L=L, NH=NH, NKV=NKV, B=B, T=T, swiglu=int(mlp == "swiglu"),
                layernorm=int(norm == "layernorm"), tied=int(tied))
    tensors = {"param." + k: v for k, v in p.items()}
    return case(dims, tokens=tokens, targets=targets, losses=losses,
                loss=[losses.sum() / (targets >= 0).sum()], **tensors)


def write(path, cases):
    with open(os.path.join(ROOT, path), "w") as f:
        json.dump(cases, f, indent=None, separators=(",", ":"))
        f.write("\n")


def main():
    rms, ln = norm_cases()
    gelu_c, swiglu_c = activation_cases()
    write("KernelsTests/Golden/kernels.json", {
        "matmul": matmul_case(), "embedding": embedding_case(), "rmsnorm": rms, "layernorm": ln,
        "gelu": gelu_c, "swiglu": swiglu_c, "rope": rope_case(), "crossentropy": crossentropy_case(),
    })
    write("AttentionTests/Golden/attention.json", attention_cases())
    write("ModelTests/Golden/model.json", {
        "gelu_layernorm_tied_mha": model_case(13, 8, 2, 2, 2, "gelu", "layernorm", True, 2, 5),
        "swiglu_rmsnorm_untied_mqa": model_case(11, 12, 2, 3, 1, "swiglu", "rmsnorm", False, 2, 6),
    })


if __name__ == "__main__":
    main()

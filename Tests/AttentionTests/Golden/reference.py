#!/usr/bin/env python3
"""Float64 numpy reference of every attention variant in shared/spec/attention.md §1.

Per head: the forward and the analytic backward exactly as derived in the spec (no autograd):
  softmax_rope   §1a  causal softmax, half-split RoPE on q and k
  softmax_nope   §1h  causal softmax, no positional information
  alibi          §1h  softmax with bias -m_h (i - j); slopes incl. non-power-of-2 head counts
  stick_breaking §1b  log-space stick-breaking, remainder current|bias|none, attend_current
  forgetting     §1d  FoX: softmax with bias c_i - c_j, c = cumsum(log f); dlog_f
  sigmoid        §1g  sigmoid(s q.k + b) without normalisation, RoPE on q and k; db
  aaren          §1e  one learned query per head; RNN form, prefix scan, O(T d) backward
  retnet         §1f  retention with decay gamma_h; parallel, recurrent and chunkwise forms
  linear         Katharopoulos et al. 2020: phi = elu + 1, normalised, eps 1e-6; parallel,
                 recurrent and chunked forms
  gla            Yang et al. 2024: decay alpha per key dimension, given as log_a [H,T,d];
                 s = 1/sqrt(d); parallel, recurrent and chunked forms; dlog_a
  persistent     causal softmax (RoPE) plus N learned key/value vectors per kv head in the
                 same softmax, unrotated (Sukhbaatar et al. 2019); KV-cache decode form
  cope           contextual positions (Golovneva et al. 2024): gates, suffix sums, pos_emb
  rela           ReLU scores (no normalisation over j), RoPE, RMSNorm with gain per head
  mlstm          xLSTM's matrix memory, gates from x; parallel, recurrent and chunkwise forms
  sinks          sliding-window softmax with S attention sinks, RoPE positions within the
                 rolling cache (Xiao et al. 2023, StreamingLLM); ring-buffer decode form
  infini         Infini-attention (Munkhdalai et al. 2024): softmax within segments plus an
                 elu+1 compressive memory of the earlier segments (optional delta rule), mixed
                 by sigmoid(gate.beta); segment-cache decode form
and MQA/GQA (§1i) for all of them: query head h uses kv head h // (H / Hkv), and dK, dV are summed
over each group.

Multi-head arrays: q [H,T,d] (aaren: [H,1,d]), k [Hkv,T,d], v [Hkv,T,dv], dout [H,T,dv], and per
variant, one line each (PER_HEAD_INPUTS are sliced per query head, KV_HEAD_INPUTS per kv head):
  log_f [H,T] (forgetting)
  remainder_bias [H,dv] (stick_breaking with remainder "bias")
  log_a [H,T,d] (gla)
  persistent.key [Hkv,N,d] and persistent.value [Hkv,N,dv] (persistent, one set per kv head)
  pos_emb [H,P+1,d] (cope)
  norm.weight [H,dv] (rela's RMSNorm gain)
  x [T,C] with igate.weight, fgate.weight [H,C] and igate.bias, fgate.bias [H] (mlstm's gates)
  gate.beta [H] (infini's memory gate)
Gradients are those of the scalar loss sum(out * dout).

`python3 reference.py --check` runs every self-check: finite differences against each analytic
backward, the alternative forms against the parallel form, and the spec's property checks.
"""
import sys

import numpy as np

ROPE_BASE = 10000.0


# ---------------------------------------------------------------- elementwise helpers (§0)

def softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid(x):
    return np.exp(-softplus(-x))


def log_sigmoid(x):
    return -softplus(-x)


# ---------------------------------------------------------------- RoPE (§1a, half-split)

def rope_tables(T, d, base=ROPE_BASE, pos0=0):
    m = np.arange(d // 2)
    angle = (pos0 + np.arange(T))[:, None] * base ** (-2.0 * m / d)[None, :]
    return np.cos(angle), np.sin(angle)


def rope(x, base=ROPE_BASE, pos0=0):
    """x [T, d] rotated by angle p * theta_m at position p = pos0 + row."""
    T, d = x.shape
    c, s = rope_tables(T, d, base, pos0)
    x1, x2 = x[:, :d // 2], x[:, d // 2:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], -1)


def rope_back(g, base=ROPE_BASE, pos0=0):
    """The transpose of `rope`: rotation by the negative angle."""
    T, d = g.shape
    c, s = rope_tables(T, d, base, pos0)
    g1, g2 = g[:, :d // 2], g[:, d // 2:]
    return np.concatenate([g1 * c + g2 * s, g2 * c - g1 * s], -1)


def causal_mask(T, strict=False):
    return np.tril(np.ones((T, T), dtype=bool), -1 if strict else 0)


# ---------------------------------------------------------------- softmax family

def softmax_core(q, k, v, dout, bias, s):
    """Causal softmax attention with an additive logit bias [T,T]; returns out, dq, dk, dv, dS."""
    T = q.shape[0]
    mask = causal_mask(T)
    S = np.where(mask, s * q @ k.T + bias, -np.inf)
    P = np.exp(S - S.max(-1, keepdims=True))
    P /= P.sum(-1, keepdims=True)
    out = P @ v
    dv = P.T @ dout                                   # out = P V
    dP = dout @ v.T
    D = (dout * out).sum(-1, keepdims=True)           # D_i = dO_i . O_i
    dS = P * (dP - D)                                 # masked entries have P = 0
    return out, s * dS @ k, s * dS.T @ q, dv, dS


def alibi_slopes(H):
    """m_h for heads 0..H-1 (Press et al.): geometric for powers of two, else interleaved."""
    def power_of_two(n):
        start = 2.0 ** (-8.0 / n)
        return [start ** (h + 1) for h in range(n)]
    c = 1 << (H.bit_length() - 1)
    if c == H:
        return np.array(power_of_two(H))
    return np.array(power_of_two(c) + power_of_two(2 * c)[0::2][:H - c])


def head_softmax_rope(q, k, v, dout, ctx):
    base = ctx["options"].get("rope_base", ROPE_BASE)
    s = 1 / np.sqrt(q.shape[1])
    out, dqr, dkr, dv, _ = softmax_core(rope(q, base), rope(k, base), v, dout, 0.0, s)
    return out, dict(dq=rope_back(dqr, base), dk=rope_back(dkr, base), dv=dv)


def head_softmax_nope(q, k, v, dout, ctx):
    out, dq, dk, dv, _ = softmax_core(q, k, v, dout, 0.0, 1 / np.sqrt(q.shape[1]))
    return out, dict(dq=dq, dk=dk, dv=dv)


def head_alibi(q, k, v, dout, ctx):
    T = q.shape[0]
    slope = alibi_slopes(ctx["H"])[ctx["h"]]
    i = np.arange(T)
    bias = -slope * (i[:, None] - i[None, :])
    out, dq, dk, dv, _ = softmax_core(q, k, v, dout, bias, 1 / np.sqrt(q.shape[1]))
    return out, dict(dq=dq, dk=dk, dv=dv)


def head_forgetting(q, k, v, dout, ctx):
    log_f = ctx["log_f"]
    c = np.cumsum(log_f)                              # c_i = sum_{l<=i} log f_l
    bias = c[:, None] - c[None, :]
    out, dq, dk, dv, dS = softmax_core(q, k, v, dout, bias, 1 / np.sqrt(q.shape[1]))
    dc = dS.sum(1) - dS.sum(0)                        # S_ij depends on +c_i and -c_j
    dlog_f = np.cumsum(dc[::-1])[::-1]                # d log f_l = sum_{i>=l} dc_i
    return out, dict(dq=dq, dk=dk, dv=dv, dlog_f=dlog_f)


# ---------------------------------------------------------------- stick-breaking (§1b)

def stick_breaking_weights(q, k, attend_current):
    """Returns z, allowed, A and rem of the log-space forward."""
    T, d = q.shape
    allowed = causal_mask(T, strict=not attend_current)
    z = q @ k.T / np.sqrt(d)
    SP = np.where(allowed, softplus(z), 0.0)
    R = np.cumsum(SP[:, ::-1], axis=1)[:, ::-1]       # R_ij = sum_{m>=j} SP_im
    A = np.exp(np.where(allowed, z - R, -np.inf))
    rem = np.exp(-R[:, 0])
    return z, allowed, A, rem


def remainder_value(v, ctx):
    mode = ctx["options"]["remainder"]
    if mode == "current":
        return v
    if mode == "bias":
        return np.broadcast_to(ctx["remainder_bias"], v.shape)
    assert mode == "none", mode
    return np.zeros_like(v)


def head_stick_breaking(q, k, v, dout, ctx):
    opts = ctx["options"]
    s = 1 / np.sqrt(q.shape[1])
    z, allowed, A, rem = stick_breaking_weights(q, k, opts["attend_current"])
    Rv = remainder_value(v, ctx)
    out = A @ v + rem[:, None] * Rv
    G = np.where(allowed, dout @ v.T, 0.0)            # G_ij = dO_i . v_j
    rho = (dout * Rv).sum(-1)                         # rho_i = dO_i . Rv_i
    C = np.cumsum(G * A, axis=1)                      # C_im = sum_{j<=m} G_ij A_ij
    dZ = np.where(allowed, A * G - sigmoid(z) * (C + (rho * rem)[:, None]), 0.0)
    grads = dict(dq=s * dZ @ k, dk=s * dZ.T @ q, dv=A.T @ dout)
    if opts["remainder"] == "current":
        grads["dv"] = grads["dv"] + rem[:, None] * dout
    if opts["remainder"] == "bias":
        grads["dremainder_bias"] = (rem[:, None] * dout).sum(0)
    return out, grads


def stick_breaking_decode(q, k, v, ctx):
    """Streaming form: per query walk the keys newest-first, accumulating a = sum log(1-beta)."""
    T, d = q.shape
    cur = ctx["options"]["attend_current"]
    Rv = remainder_value(v, ctx)
    out = np.zeros((T, v.shape[1]))
    for i in range(T):
        a, acc = 0.0, np.zeros(v.shape[1])
        for j in range(i if cur else i - 1, -1, -1):
            zij = q[i] @ k[j] / np.sqrt(d)
            acc += np.exp(log_sigmoid(zij) + a) * v[j]
            a -= softplus(zij)
        out[i] = acc + np.exp(a) * Rv[i]
    return out


# ---------------------------------------------------------------- sigmoid attention (§1g)

def head_sigmoid(q, k, v, dout, ctx):
    opts = ctx["options"]
    base = opts.get("rope_base", ROPE_BASE)
    T, d = q.shape
    s = 1 / np.sqrt(d)
    qr, kr = rope(q, base), rope(k, base)
    mask = causal_mask(T)
    P = np.where(mask, sigmoid(s * qr @ kr.T + opts["bias"]), 0.0)
    out = P @ v
    dS = (dout @ v.T) * P * (1 - P)                   # masked entries have P = 0
    grads = dict(dq=rope_back(s * dS @ kr, base), dk=rope_back(s * dS.T @ qr, base), dv=P.T @ dout,
                 dbias=dS.sum())
    return out, grads


# ---------------------------------------------------------------- Aaren (§1e)

def aaren_scale(q, ctx):
    return 1 / np.sqrt(q.shape[1]) if ctx["options"].get("scale", True) else 1.0


def head_aaren(q, k, v, dout, ctx):
    """q [1,d]. Forward by the RNN form; backward O(T d) with one global max."""
    s = aaren_scale(q, ctx)
    out = aaren_rnn(q, k, v, s)
    sc = s * k @ q[0]                                 # s_i = s q . k_i
    e = np.exp(sc - sc.max())
    Z = np.cumsum(e)
    g = dout / Z[:, None]                             # g_t = dO_t / Z_t
    gamma = (dout * out).sum(-1) / Z                  # gamma_t = dO_t . o_t / Z_t
    G = np.cumsum(g[::-1], axis=0)[::-1]              # sum_{t>=j} g_t
    Gam = np.cumsum(gamma[::-1])[::-1]
    dv = e[:, None] * G
    ds = e * ((v * G).sum(-1) - Gam)
    return out, dict(dq=(s * ds @ k)[None, :], dk=s * ds[:, None] * q[0][None, :], dv=dv)


def aaren_rnn(q, k, v, s):
    """State (m, u, w): running max, sum of exponentials, weighted sum of values."""
    T, dv = v.shape
    m, u, w = -np.inf, 0.0, np.zeros(dv)
    out = np.zeros((T, dv))
    for t in range(T):
        st = s * q[0] @ k[t]
        m2 = max(m, st)
        u = u * np.exp(m - m2) + np.exp(st - m2)
        w = w * np.exp(m - m2) + np.exp(st - m2) * v[t]
        m = m2
        out[t] = w / u
    return out


def aaren_combine(a, b):
    ma, ua, wa = a
    mb, ub, wb = b
    m = max(ma, mb)
    return m, ua * np.exp(ma - m) + ub * np.exp(mb - m), wa * np.exp(ma - m) + wb * np.exp(mb - m)


def aaren_scan(q, k, v, s):
    """Hillis-Steele inclusive prefix scan over the leaves (s_i, 1, v_i)."""
    T = k.shape[0]
    items = [(s * q[0] @ k[i], 1.0, v[i].copy()) for i in range(T)]
    step = 1
    while step < T:
        items = [aaren_combine(items[i - step], items[i]) if i >= step else items[i] for i in range(T)]
        step *= 2
    return np.array([w / u for _, u, w in items])


# ---------------------------------------------------------------- RetNet retention (§1f)

def retnet_gammas(H, options):
    g = options.get("gammas")
    return np.array(g, dtype=np.float64) if g is not None else 1 - 2.0 ** (-5 - np.arange(H))


def retnet_decay(T, gamma):
    i = np.arange(T)
    return np.where(causal_mask(T), gamma ** np.maximum(i[:, None] - i[None, :], 0), 0.0)


def head_retnet(q, k, v, dout, ctx):
    gamma = retnet_gammas(ctx["H"], ctx["options"])[ctx["h"]]
    T, d = q.shape
    s = 1 / np.sqrt(d)
    qr, kr = rope(q), rope(k)
    Dm = retnet_decay(T, gamma)
    A = s * (qr @ kr.T) * Dm
    out = A @ v
    dA = (dout @ v.T) * Dm
    return out, dict(dq=rope_back(s * dA @ kr), dk=rope_back(s * dA.T @ qr), dv=A.T @ dout)


def retnet_recurrent(q, k, v, dout, gamma):
    """S_n = gamma S_{n-1} + k_n^T v_n, o_n = s q_n S_n; backward by the reverse-time recursion."""
    T, d = q.shape
    s = 1 / np.sqrt(d)
    qr, kr = rope(q), rope(k)
    S = np.zeros((d, v.shape[1]))
    states, out = [], np.zeros((T, v.shape[1]))
    for n in range(T):
        S = gamma * S + np.outer(kr[n], v[n])
        states.append(S)
        out[n] = s * qr[n] @ S
    dS = np.zeros_like(S)
    dqr, dkr, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    for n in range(T - 1, -1, -1):
        dS = gamma * dS + s * np.outer(qr[n], dout[n])
        dkr[n] = dS @ v[n]
        dv[n] = kr[n] @ dS
        dqr[n] = s * states[n] @ dout[n]
    return out, dict(dq=rope_back(dqr), dk=rope_back(dkr), dv=dv)


def retnet_chunkwise(q, k, v, gamma, B):
    T, d = q.shape
    s = 1 / np.sqrt(d)
    qr, kr = rope(q), rope(k)
    S = np.zeros((d, v.shape[1]))
    out = np.zeros((T, v.shape[1]))
    for c0 in range(0, T, B):
        Qc, Kc, Vc = qr[c0:c0 + B], kr[c0:c0 + B], v[c0:c0 + B]
        n = Qc.shape[0]
        j = np.arange(n)
        inner = (s * Qc @ Kc.T * retnet_decay(n, gamma)) @ Vc
        cross = s * (Qc @ S) * (gamma ** (j + 1))[:, None]
        out[c0:c0 + n] = inner + cross
        S = gamma ** n * S + (Kc * (gamma ** (n - 1 - j))[:, None]).T @ Vc
    return out


# ---------------------------------------------------------------- linear attention (Katharopoulos 2020)

LINEAR_EPS = 1e-6


def elu1(x):
    return np.where(x > 0, x + 1, np.exp(np.minimum(x, 0)))


def elu1_grad(x):
    return np.where(x > 0, 1.0, np.exp(np.minimum(x, 0)))


def head_linear(q, k, v, dout, ctx):
    """o_i = sum_{j<=i} (fq_i . fk_j) v_j / (sum_{j<=i} fq_i . fk_j + eps), f = elu + 1."""
    T = q.shape[0]
    fq, fk = elu1(q), elu1(k)
    A = (fq @ fk.T) * causal_mask(T)
    D = A.sum(1) + LINEAR_EPS
    num = A @ v
    out = num / D[:, None]
    # forward was: out = num / D ; so dnum = dout / D, dD = -(dout . out) / D
    dnum = dout / D[:, None]
    dD = -(dout * out).sum(1) / D
    dA = (dnum @ v.T + dD[:, None]) * causal_mask(T)   # num = A v, D = A 1 + eps
    dfq, dfk = dA @ fk, dA.T @ fq
    return out, dict(dq=dfq * elu1_grad(q), dk=dfk * elu1_grad(k), dv=A.T @ dnum)


def linear_recurrent(q, k, v):
    fq, fk = elu1(q), elu1(k)
    S, z = np.zeros((q.shape[1], v.shape[1])), np.zeros(q.shape[1])
    out = np.zeros((q.shape[0], v.shape[1]))
    for t in range(q.shape[0]):
        S, z = S + np.outer(fk[t], v[t]), z + fk[t]
        out[t] = fq[t] @ S / (fq[t] @ z + LINEAR_EPS)
    return out


def linear_chunked(q, k, v, B):
    fq, fk = elu1(q), elu1(k)
    v1 = np.concatenate([v, np.ones((v.shape[0], 1))], 1)   # the ones column gives the denominator
    S = np.zeros((q.shape[1], v1.shape[1]))
    U = np.zeros((q.shape[0], v1.shape[1]))
    for c0 in range(0, q.shape[0], B):
        Qc, Kc, Vc = fq[c0:c0 + B], fk[c0:c0 + B], v1[c0:c0 + B]
        U[c0:c0 + B] = Qc @ S + ((Qc @ Kc.T) * causal_mask(Qc.shape[0])) @ Vc
        S = S + Kc.T @ Vc
    return U[:, :-1] / (U[:, -1:] + LINEAR_EPS)


# ---------------------------------------------------------------- gated linear attention (Yang 2024)

def gla_decay(log_a):
    """E[i, j, m] = exp(B_im - B_jm) for j <= i, else 0; B = cumsum(log a)."""
    B = np.cumsum(log_a, 0)
    T = B.shape[0]
    diff = B[:, None, :] - B[None, :, :]
    return np.where(causal_mask(T)[:, :, None], np.exp(np.where(causal_mask(T)[:, :, None], diff, 0)), 0.0)


def head_gla(q, k, v, dout, ctx):
    """o_i = s sum_{j<=i} sum_m q_im k_jm exp(B_im - B_jm) v_j, B = cumsum(log a) per key dim."""
    log_a = ctx["log_a"]
    s = 1 / np.sqrt(q.shape[1])
    E = gla_decay(log_a)
    A = s * np.einsum("im,jm,ijm->ij", q, k, E)
    out = A @ v
    dA = (dout @ v.T) * causal_mask(q.shape[0])
    dq = s * np.einsum("ij,jm,ijm->im", dA, k, E)
    dk = s * np.einsum("ij,im,ijm->jm", dA, q, E)
    dB = q * dq - k * dk                              # q_i meets e^{B_i}, k_j meets e^{-B_j}
    dlog_a = np.cumsum(dB[::-1], 0)[::-1]             # d log a_l = sum_{t>=l} dB_t
    return out, dict(dq=dq, dk=dk, dv=A.T @ dout, dlog_a=dlog_a)


def gla_recurrent(q, k, v, log_a):
    s = 1 / np.sqrt(q.shape[1])
    S = np.zeros((q.shape[1], v.shape[1]))
    out = np.zeros((q.shape[0], v.shape[1]))
    for t in range(q.shape[0]):
        S = np.exp(log_a[t])[:, None] * S + np.outer(k[t], v[t])
        out[t] = s * q[t] @ S
    return out


def gla_chunked(q, k, v, log_a, B):
    """Chunk form with the decay cumulated from each chunk's start (every exponent <= 0 outside A)."""
    s = 1 / np.sqrt(q.shape[1])
    S = np.zeros((q.shape[1], v.shape[1]))
    out = np.zeros((q.shape[0], v.shape[1]))
    for c0 in range(0, q.shape[0], B):
        Qc, Kc, Vc = q[c0:c0 + B], k[c0:c0 + B], v[c0:c0 + B]
        b = np.cumsum(log_a[c0:c0 + B], 0)
        A = s * np.einsum("im,jm,ijm->ij", Qc, Kc, gla_decay(log_a[c0:c0 + B]))
        out[c0:c0 + B] = s * (Qc * np.exp(b)) @ S + A @ Vc
        S = np.exp(b[-1])[:, None] * S + (Kc * np.exp(b[-1] - b)).T @ Vc
    return out


# ---------------------------------------------------------------- attention sinks (StreamingLLM)

def rope_at(x, positions, base=ROPE_BASE):
    """x [T, d], row t rotated by angle positions[t] * theta_m."""
    return np.concatenate([rope(x[t:t + 1], base, pos0=int(p)) for t, p in enumerate(positions)])


def rope_back_at(g, positions, base=ROPE_BASE):
    return np.concatenate([rope_back(g[t:t + 1], base, pos0=int(p)) for t, p in enumerate(positions)])


def sinks_options(ctx):
    return ctx["options"]["sinks"], ctx["options"]["window"], ctx["options"].get("rope_base", ROPE_BASE)


def head_sinks(q, k, v, dout, ctx):
    """Query i sees keys j < S and i - W < j <= i; window keys at distance i - j, sink s at
    min(i, S + W - 1) - s: q rotated at i for the window, at min(i, S + W - 1) for the sinks."""
    S, W, base = sinks_options(ctx)
    T, d = q.shape
    s = 1 / np.sqrt(d)
    i = np.arange(T)
    clamp = np.minimum(i, S + W - 1)
    qr, qs, kr = rope_at(q, i, base), rope_at(q, clamp, base), rope_at(k, i, base)
    sink = i[None, :] < S                              # columns scored with the clamped query
    seen = causal_mask(T) & (sink | (i[None, :] > i[:, None] - W))
    L = np.where(sink, s * qs @ kr.T, s * qr @ kr.T)
    L = np.where(seen, L, -np.inf)
    P = np.exp(L - L.max(-1, keepdims=True))
    P /= P.sum(-1, keepdims=True)
    out = P @ v
    dL = P * (dout @ v.T - (dout * out).sum(-1, keepdims=True))
    dLs, dLw = np.where(sink, dL, 0.0), np.where(sink, 0.0, dL)
    dq = rope_back_at(s * dLw @ kr, i, base) + rope_back_at(s * dLs @ kr, clamp, base)
    dk = rope_back_at(s * dLw.T @ qr + s * dLs.T @ qs, i, base)
    return out, dict(dq=dq, dk=dk, dv=P.T @ dout)


def sinks_in_cache(q, k, v, ctx):
    """StreamingLLM's form: each query's visible keys in order, at positions 0..n-1 within them."""
    S, W, base = sinks_options(ctx)
    T, d = q.shape
    out = np.zeros((T, v.shape[1]))
    for i in range(T):
        keys = [j for j in range(i + 1) if j < S or j > i - W]
        n = len(keys)
        kr = rope_at(k[keys], np.arange(n), base)
        logits = kr @ rope_at(q[i:i + 1], [n - 1], base)[0] / np.sqrt(d)
        p = np.exp(logits - logits.max())
        out[i] = p @ v[keys] / p.sum()
    return out


def sinks_decode(q, k, v, ctx):
    """Generation with a cache of S + W entries: keys rotated at their absolute positions, the
    window in a ring buffer; past S + W tokens the sinks see q rotated at S + W - 1."""
    S, W, base = sinks_options(ctx)
    T, d = q.shape
    cache_k, cache_v = np.zeros((S + W, d)), np.zeros((S + W, v.shape[1]))
    out = np.zeros((T, v.shape[1]))
    for p in range(T):
        slot = p if p < S else S + (p - S) % W
        cache_k[slot], cache_v[slot] = rope_at(k[p:p + 1], [p], base)[0], v[p]
        n = min(p + 1, S + W)
        qr = rope_at(q[p:p + 1], [p], base)[0]
        qs = rope_at(q[p:p + 1], [min(p, S + W - 1)], base)[0]
        logits = np.array([cache_k[j] @ (qs if j < S else qr) for j in range(n)]) / np.sqrt(d)
        w = np.exp(logits - logits.max())
        out[p] = w @ cache_v[:n] / w.sum()
    return out


# ---------------------------------------------------------------- persistent memory

def persistent_operands(q, k, ctx):
    """The memory as used: sqrt(d) K, sqrt(N) V (stored N(0,1/d), N(0,1/N), as the paper's code)."""
    K, V = ctx["persistent.key"], ctx["persistent.value"]
    return np.sqrt(q.shape[1]) * K, np.sqrt(K.shape[0]) * V


def head_persistent(q, k, v, dout, ctx):
    """softmax over [s q_i . Km_n (n < N, unrotated) | s R(i)q_i . R(j)k_j (j <= i)]."""
    base = ctx["options"].get("rope_base", ROPE_BASE)
    T, d = q.shape
    s = 1 / np.sqrt(d)
    Km, Vm = persistent_operands(q, k, ctx)
    N = Km.shape[0]
    qr, kr = rope(q, base), rope(k, base)
    S = np.concatenate([s * q @ Km.T, np.where(causal_mask(T), s * qr @ kr.T, -np.inf)], 1)
    P = np.exp(S - S.max(-1, keepdims=True))
    P /= P.sum(-1, keepdims=True)
    Pm, Pc = P[:, :N], P[:, N:]
    out = Pm @ Vm + Pc @ v
    D = (dout * out).sum(-1, keepdims=True)           # D_i = dO_i . O_i
    dSm = Pm * (dout @ Vm.T - D)                      # dS = P (dP - D)
    dSc = Pc * (dout @ v.T - D)
    grads = dict(dq=s * dSm @ Km + rope_back(s * dSc @ kr, base), dk=rope_back(s * dSc.T @ qr, base),
                 dv=Pc.T @ dout)
    grads["dpersistent.key"] = np.sqrt(d) * s * dSm.T @ q   # Km = sqrt(d) K
    grads["dpersistent.value"] = np.sqrt(N) * Pm.T @ dout   # Vm = sqrt(N) V
    return out, grads


def persistent_decode(q, k, v, ctx):
    """Streaming: a KV cache of rotated keys after the N memory rows, one query at a time."""
    T, d = q.shape
    Km, Vm = persistent_operands(q, k, ctx)
    out = np.zeros((T, v.shape[1]))
    for i in range(T):
        qi = rope(q[i:i + 1], pos0=i)[0]
        kr = np.stack([rope(k[j:j + 1], pos0=j)[0] for j in range(i + 1)])
        logits = np.concatenate([Km @ q[i], kr @ qi]) / np.sqrt(d)
        p = np.exp(logits - logits.max())
        out[i] = p @ np.concatenate([Vm, v[:i + 1]]) / p.sum()
    return out


# ---------------------------------------------------------------- CoPE (Golovneva et al. 2024)

def cope_positions(z, P):
    """Gates g = sigmoid(z) and positions p_ij = min(sum_{m=j..i} g_im, P) of causal logits z."""
    T = z.shape[0]
    mask = causal_mask(T)
    g = np.where(mask, sigmoid(z), 0.0)
    return g, np.minimum(np.cumsum(g[:, ::-1], 1)[:, ::-1], P), mask


def head_cope(q, k, v, dout, ctx):
    """a_ij = s q_i.k_j + interp(s q_i.e[n], p_ij), softmax over j <= i; e = ctx["pos_emb"]."""
    T, d = q.shape
    P = ctx["options"].get("max_position", 64)
    e, s = ctx["pos_emb"], 1 / np.sqrt(d)
    L = s * q @ e.T                                   # [T, P+1]: every integer position once
    g, p, mask = cope_positions(s * q @ k.T, P)
    f = np.minimum(np.floor(p).astype(int), P - 1)    # p = P reads L[P] with w = 1
    w = p - f
    rows = np.arange(T)[:, None]
    Lf, Lc = L[rows, f], L[rows, f + 1]
    out, dq, dk, dv, dA = softmax_core(q, k, v, dout, (1 - w) * Lf + w * Lc, s)
    dL = np.zeros_like(L)                             # dA is 0 on masked entries
    np.add.at(dL, (np.broadcast_to(rows, f.shape), f), (1 - w) * dA)
    np.add.at(dL, (np.broadcast_to(rows, f.shape), f + 1), w * dA)
    dp = np.where(p < P, dA * (Lc - Lf), 0.0)
    dg = np.where(mask, np.cumsum(dp, 1), 0.0)        # dg_im = sum_{j<=m} dp_ij
    dz = dg * g * (1 - g)
    dq += s * dz @ k + s * dL @ e
    dk += s * dz.T @ q
    return out, dict(dq=dq, dk=dk, dv=dv, dpos_emb=s * dL.T @ q)


def cope_decode(q, k, v, ctx):
    """Row by row from a KV cache: each query recomputes its own gates against the cached keys."""
    T, d = q.shape
    P, e, s = ctx["options"].get("max_position", 64), ctx["pos_emb"], 1 / np.sqrt(q.shape[1])
    out = np.zeros((T, v.shape[1]))
    for i in range(T):
        z = s * k[:i + 1] @ q[i]
        p = np.minimum(np.cumsum(sigmoid(z)[::-1])[::-1], P)
        L = s * e @ q[i]
        a = z + np.interp(p, np.arange(P + 1), L)
        a = np.exp(a - a.max())
        out[i] = a @ v[:i + 1] / a.sum()
    return out


# ---------------------------------------------------------------- ReLA (Zhang, Titov, Sennrich 2021)

RELA_EPS = 1e-5                                       # inside the root, as the Swift RMSNorm


def rela_qk(q, k, opts):
    if not opts.get("rope", True):
        return q, k, (lambda g: g)
    base = opts.get("rope_base", ROPE_BASE)
    return rope(q, base), rope(k, base), (lambda g: rope_back(g, base))


def head_rela(q, k, v, dout, ctx):
    """P = relu(s q.k) causal, O = P V, out = g * O / sqrt(mean(O^2) + eps) per row."""
    qr, kr, back = rela_qk(q, k, ctx["options"])
    T, d = q.shape
    s = 1 / np.sqrt(d)
    live = causal_mask(T) & (s * qr @ kr.T > 0)
    P = np.where(live, s * qr @ kr.T, 0.0)
    O = P @ v
    rstd = 1 / np.sqrt((O ** 2).mean(-1, keepdims=True) + RELA_EPS)
    N = O * rstd
    g = ctx["norm.weight"]
    dN = dout * g                                     # out = g * N
    dO = rstd * (dN - N * (dN * N).mean(-1, keepdims=True))   # N = O rstd(O)
    dS = np.where(live, dO @ v.T, 0.0)                # P = relu(S)
    return N * g, dict(dq=back(s * dS @ kr), dk=back(s * dS.T @ qr), dv=P.T @ dO,
                       **{"dnorm.weight": (dout * N).sum(0)})


def rela_decode(q, k, v, ctx):
    """KV-cache form: each query row against the keys so far."""
    qr, kr, _ = rela_qk(q, k, ctx["options"])
    out = np.zeros((q.shape[0], v.shape[1]))
    for i in range(q.shape[0]):
        o = np.maximum(qr[i] @ kr[:i + 1].T / np.sqrt(q.shape[1]), 0) @ v[:i + 1]
        out[i] = ctx["norm.weight"] * o / np.sqrt((o ** 2).mean() + RELA_EPS)
    return out


# ---------------------------------------------------------------- mLSTM (Beck et al. 2024, xLSTM)

MLSTM_GATES = ("igate.weight", "igate.bias", "fgate.weight", "fgate.bias")


def mlstm_gates(ctx):
    """Per token from the layer input x [T,C]: the input gate's log i = x.w_i + b_i (exponential
    gate) and log f = logsigmoid(x.w_f + b_f); also a = cumsum(log f), b = log i - a and the
    running max M_t = max_{j<=t} b_j, so that m_t = a_t + M_t is the stabiliser."""
    x = ctx["x"]
    log_i = x @ ctx["igate.weight"] + ctx["igate.bias"]
    zf = x @ ctx["fgate.weight"] + ctx["fgate.bias"]
    a = np.cumsum(log_sigmoid(zf))
    b = log_i - a
    return log_i, zf, a, b, np.maximum.accumulate(b)


def head_mlstm(q, k, v, dout, ctx):
    """The quadratic parallel form: W_ij = exp(a_i + log i_j - a_j - m_i) = exp(b_j - M_i),
    P = W * (s q k^T) (j <= i), out_i = (P V)_i / max(|sum_j P_ij|, exp(-m_i)). The output does not
    depend on M (it cancels), so the backward holds M fixed."""
    T, d = q.shape
    s = 1 / np.sqrt(d)
    log_i, zf, a, b, M = mlstm_gates(ctx)
    mask = causal_mask(T)
    W = np.where(mask, np.exp(np.where(mask, b[None, :] - M[:, None], 0.0)), 0.0)
    P = W * (s * q @ k.T)
    n = P.sum(1)
    bound = np.exp(-(a + M))
    den = np.maximum(np.abs(n), bound)
    out = (P @ v) / den[:, None]
    gh = (dout * out).sum(1)                          # out = P V / den
    live = np.abs(n) > bound                          # den = |n| here, else exp(-a - M)
    c = np.where(live, -gh / den * np.sign(n), 0.0)
    da = np.where(live, 0.0, gh)
    dP = np.where(mask, (dout / den[:, None]) @ v.T + c[:, None], 0.0)
    dS = dP * W                                       # P = W * S
    db = (dP * P).sum(0)                              # W_ij = exp(b_j - M_i)
    da = da - db                                      # b = log i - a
    dlog_f = np.cumsum(da[::-1])[::-1]                # a = cumsum(log f)
    dzf = dlog_f * (1 - sigmoid(zf))
    x = ctx["x"]
    return out, {"dq": s * dS @ k, "dk": s * dS.T @ q, "dv": P.T @ (dout / den[:, None]),
                 "dx": np.outer(db, ctx["igate.weight"]) + np.outer(dzf, ctx["fgate.weight"]),
                 "digate.weight": x.T @ db, "digate.bias": db.sum(),
                 "dfgate.weight": x.T @ dzf, "dfgate.bias": dzf.sum()}


def mlstm_recurrent(q, k, v, ctx):
    """The stabilised recurrent form: m_t = max(log f_t + m_{t-1}, log i_t) from m_{-1} = -inf,
    C_t = f' C + i' k v^T, n_t = f' n + i' k with f' = exp(log f_t + m_{t-1} - m_t),
    i' = exp(log i_t - m_t); h_t = s q C / max(|s q.n|, exp(-m_t))."""
    T, d = q.shape
    s = 1 / np.sqrt(d)
    x = ctx["x"]
    log_i = x @ ctx["igate.weight"] + ctx["igate.bias"]
    log_f = log_sigmoid(x @ ctx["fgate.weight"] + ctx["fgate.bias"])
    m, C, n = -np.inf, np.zeros((d, v.shape[1])), np.zeros(d)
    out = np.zeros((T, v.shape[1]))
    for t in range(T):
        m_new = max(log_f[t] + m, log_i[t])
        fp, ip = np.exp(log_f[t] + m - m_new), np.exp(log_i[t] - m_new)
        C, n, m = fp * C + ip * np.outer(k[t], v[t]), fp * n + ip * k[t], m_new
        out[t] = s * q[t] @ C / max(abs(s * q[t] @ n), np.exp(-m))
    return out


def mlstm_chunkwise(q, k, v, ctx, L):
    """Chunks of L tokens: within a chunk the parallel form, between chunks the state
    (C~, n~) = sum_{j<c0} exp(b_j - M_ref) k_j [v_j, 1] with M_ref = M_{c0-1}."""
    T, d = q.shape
    s = 1 / np.sqrt(d)
    _, _, a, b, M = mlstm_gates(ctx)
    Vt = np.concatenate([v, np.ones((T, 1))], 1)      # [v, 1]: the last column is the normaliser
    state, ref = np.zeros((d, v.shape[1] + 1)), 0.0
    out = np.zeros((T, v.shape[1]))
    for c0 in range(0, T, L):
        sl = slice(c0, min(c0 + L, T))
        n = sl.stop - c0
        W = np.tril(np.exp(np.tril(b[None, sl] - M[sl, None])))
        Ha = (W * (s * q[sl] @ k[sl].T)) @ Vt[sl] + np.exp(ref - M[sl])[:, None] * (s * q[sl] @ state)
        out[sl] = Ha[:, :-1] / np.maximum(np.abs(Ha[:, -1]), np.exp(-(a[sl] + M[sl])))[:, None]
        new = M[c0 + n - 1]
        state = np.exp(ref - new) * state + (k[sl] * np.exp(b[sl] - new)[:, None]).T @ Vt[sl]
        ref = new
    return out


# ---------------------------------------------------------------- Infini-attention (Munkhdalai 2024)

def infini_options(ctx):
    opts = ctx["options"]
    return opts.get("segment", 64), opts.get("delta_rule", False)


def infini_values(fk, v1, S, delta):
    """What a segment writes into the memory S = [M | z]: [v | 1], with the delta rule minus
    [fk M / (fk z + eps) | 0]; also R = fk S (None without the delta term)."""
    if not delta:
        return v1, None
    R = fk @ S
    U = v1.copy()
    U[:, :-1] -= R[:, :-1] / (R[:, -1:] + LINEAR_EPS)
    return U, R


def head_infini(q, k, v, dout, ctx):
    """Segments of L tokens: A_local = causal softmax within the segment (s = 1/sqrt(d), NoPE);
    A_mem = fq S_prev[:, :dv] / (fq S_prev[:, dv] + eps), 0 in the first segment, with
    S = [M | z] += fk^T U per finished segment; out = g A_mem + (1 - g) A_local, g = sigmoid(beta)."""
    L, delta = infini_options(ctx)
    T, d = q.shape
    dv = v.shape[1]
    seg = np.arange(T) // L
    bias = np.where(seg[:, None] == seg[None, :], 0.0, -np.inf)
    local, dql, dkl, dvl, _ = softmax_core(q, k, v, np.zeros_like(dout), bias, 1 / np.sqrt(d))
    fq, fk = elu1(q), elu1(k)
    v1 = np.concatenate([v, np.ones((T, 1))], 1)
    starts = list(range(0, T, L))
    states, values = [], []
    S = np.zeros((d, dv + 1))
    for n, c0 in enumerate(starts):
        states.append(S)
        U, _ = infini_values(fk[c0:c0 + L], v1[c0:c0 + L], S, delta and n > 0)
        values.append(U)
        S = S + fk[c0:c0 + L].T @ U
    mem, den = np.zeros((T, dv)), np.ones(T)
    for n, c0 in enumerate(starts[1:], 1):
        Y = fq[c0:c0 + L] @ states[n]
        den[c0:c0 + L] = Y[:, dv] + LINEAR_EPS
        mem[c0:c0 + L] = Y[:, :dv] / den[c0:c0 + L, None]
    g = sigmoid(ctx["gate.beta"])
    out = g * mem + (1 - g) * local
    # forward was: out = g A_mem + (1 - g) A_local ; so dbeta = g (1 - g) sum(dout (A_mem - A_local))
    dbeta = g * (1 - g) * (dout * (mem - local)).sum()
    _, dql, dkl, dvl, _ = softmax_core(q, k, v, (1 - g) * dout, bias, 1 / np.sqrt(d))
    dmem = g * dout
    dfq, dfk, dv1 = np.zeros_like(fq), np.zeros_like(fk), np.zeros_like(v1)
    dM = np.zeros((d, dv + 1))                        # the gradient of the state after segment n
    for n in reversed(range(len(starts))):
        sl = slice(starts[n], starts[n] + L)
        if n < len(starts) - 1:                       # forward was: S' = S + fk^T U
            dfk[sl] += values[n] @ dM.T
            dU = fk[sl] @ dM
            dv1[sl] += dU
            if delta and n > 0:                       # U = v1 - [R / D | 0], R = fk S, D = R[:, dv] + eps
                _, R = infini_values(fk[sl], v1[sl], states[n], True)
                D = R[:, dv] + LINEAR_EPS
                dR = np.concatenate([-dU[:, :dv] / D[:, None], ((dU[:, :dv] * R[:, :dv]).sum(1) / D ** 2)[:, None]], 1)
                dfk[sl] += dR @ states[n].T
                dM = dM + fk[sl].T @ dR
        if n > 0:                                     # forward was: mem = Y[:, :dv] / D, Y = fq S
            dY = np.concatenate([dmem[sl] / den[sl, None], (-(dmem[sl] * mem[sl]).sum(1) / den[sl])[:, None]], 1)
            dfq[sl] += dY @ states[n].T
            dM = dM + fq[sl].T @ dY
    return out, {"dq": dql + dfq * elu1_grad(q), "dk": dkl + dfk * elu1_grad(k), "dv": dvl + dv1[:, :dv],
                 "dgate.beta": dbeta}


def infini_decode(q, k, v, ctx):
    """Token by token: a KV cache of the current segment, the memory folded at each boundary."""
    L, delta = infini_options(ctx)
    T, d = q.shape
    dv = v.shape[1]
    g = sigmoid(ctx["gate.beta"])
    S, folded = np.zeros((d, dv + 1)), 0
    out = np.zeros((T, dv))
    for t in range(T):
        c0 = t - t % L
        if t > 0 and t % L == 0:                      # fold the finished segment
            p0 = t - L
            fk = elu1(k[p0:t])
            v1 = np.concatenate([v[p0:t], np.ones((L, 1))], 1)
            U, _ = infini_values(fk, v1, S, delta and folded > 0)
            S, folded = S + fk.T @ U, folded + 1
        w = q[t] @ k[c0:t + 1].T / np.sqrt(d)
        p = np.exp(w - w.max())
        local = p @ v[c0:t + 1] / p.sum()
        mem = np.zeros(dv)
        if t >= L:
            y = elu1(q[t]) @ S
            mem = y[:dv] / (y[dv] + LINEAR_EPS)
        out[t] = g * mem + (1 - g) * local
    return out


# ---------------------------------------------------------------- multi-head driver (§1i)

HEADS = {
    "softmax_rope": head_softmax_rope,
    "softmax_nope": head_softmax_nope,
    "alibi": head_alibi,
    "stick_breaking": head_stick_breaking,
    "forgetting": head_forgetting,
    "sigmoid": head_sigmoid,
    "aaren": head_aaren,
    "retnet": head_retnet,
    "linear": head_linear,
    "gla": head_gla,
    "persistent": head_persistent,
    "cope": head_cope,
    "rela": head_rela,
    "mlstm": head_mlstm,
    "sinks": head_sinks,
    "infini": head_infini,
}

# Inputs with one row per kv head (their gradients are summed over each group, as dk and dv).
KV_HEAD_INPUTS = ("persistent.key", "persistent.value")
PER_HEAD_INPUTS = ("log_f", "log_a", "remainder_bias", "pos_emb", "norm.weight", *MLSTM_GATES, "gate.beta")


def run(variant, inp):
    """Forward and backward over all heads; returns out, dq, dk, dv and the extra gradients."""
    q, k, v, dout = inp["q"], inp["k"], inp["v"], inp["dout"]
    H, Hkv = q.shape[0], k.shape[0]
    assert H % Hkv == 0, (H, Hkv)
    group = H // Hkv
    res = dict(out=np.zeros(dout.shape), dq=np.zeros(q.shape), dk=np.zeros(k.shape),
               dv=np.zeros(v.shape))
    for h in range(H):
        g = h // group
        ctx = dict(h=h, H=H, options=inp["options"])
        for name in PER_HEAD_INPUTS:                  # [H, ...]: head h's slice
            if name in inp:
                ctx[name] = inp[name][h]
        for name in KV_HEAD_INPUTS:                   # [Hkv, ...]: kv head g's slice
            if name in inp:
                ctx[name] = inp[name][g]
        if "x" in inp:                                # the layer input, shared by every head
            ctx["x"] = inp["x"]
        out, grads = HEADS[variant](q[h], k[g], v[g], dout[h], ctx)
        res["out"][h] = out
        res["dq"][h] = grads.pop("dq")
        res["dk"][g] += grads.pop("dk")               # dK_g = sum over the group's query heads
        res["dv"][g] += grads.pop("dv")
        for name, grad in grads.items():
            if name in ("dbias", "dx"):               # shared by every head
                res[name] = res.get(name, 0.0) + grad
            elif name[1:] in KV_HEAD_INPUTS:          # summed over the group's query heads
                res.setdefault(name, np.zeros(inp[name[1:]].shape))[g] += grad
            else:                                     # a per-head input or parameter
                res.setdefault(name, np.zeros(inp[name[1:]].shape))[h] = grad
    return res


def random_inputs(rng, variant, H, Hkv, T, d, dv, options, qscale=1.0):
    inp = dict(q=rng.normal(size=(H, 1 if variant == "aaren" else T, d)) * qscale,
               k=rng.normal(size=(Hkv, T, d)), v=rng.normal(size=(Hkv, T, dv)),
               dout=rng.normal(size=(H, T, dv)), options=dict(options))
    if variant == "forgetting":
        inp["log_f"] = log_sigmoid(rng.normal(size=(H, T)) + 1.0)
    if variant == "gla":
        inp["log_a"] = log_sigmoid(rng.normal(size=(H, T, d)) + 1.0)
    if variant == "stick_breaking" and options.get("remainder") == "bias":
        inp["remainder_bias"] = rng.normal(size=(H, dv))
    if variant == "persistent":                       # the paper's init: N(0, 1/d), N(0, 1/N)
        N = options["memory"]
        inp["persistent.key"] = rng.normal(size=(Hkv, N, d)) / np.sqrt(d)
        inp["persistent.value"] = rng.normal(size=(Hkv, N, dv)) / np.sqrt(N)
    if variant == "cope":
        inp["pos_emb"] = rng.normal(size=(H, options.get("max_position", 64) + 1, d))
    if variant == "rela":
        inp["norm.weight"] = 1 + 0.3 * rng.normal(size=(H, dv))
    if variant == "mlstm":
        mlstm_inputs(rng, inp, H, T)
    if variant == "infini":
        inp["gate.beta"] = rng.normal(size=H)
    return inp


def mlstm_inputs(rng, inp, H, T, C=5):
    """x [T,C] and the gates' parameters: forget gates mostly open (bias 1 + N(0, 1)), input
    gates around exp(0), so both cases of the normaliser's max occur."""
    inp["x"] = rng.normal(size=(T, C))
    for gate, bias in (("igate", 0.0), ("fgate", 1.0)):
        inp[gate + ".weight"] = 0.5 * rng.normal(size=(H, C))
        inp[gate + ".bias"] = bias + rng.normal(size=H)


# ---------------------------------------------------------------- self-checks

def loss(variant, inp):
    return float((run(variant, inp)["out"] * inp["dout"]).sum())


def rel_error(analytic, numeric):
    """max |a - n| over the tensor, relative to the tensor's largest numeric entry (floored at
    1e-3, so an exactly-zero gradient such as dq at T = 1 is compared against the rounding noise
    of the difference quotient, about 1e-10, instead of dividing by zero)."""
    analytic, numeric = np.asarray(analytic), np.asarray(numeric)
    return float(np.abs(analytic - numeric).max() / max(np.abs(numeric).max(), 1e-3))


def finite_difference(variant, inp, name, eps=1e-5):
    if name == "bias":
        holder, key = inp["options"], "bias"
        base = holder[key]
        holder[key] = base + eps
        plus = loss(variant, inp)
        holder[key] = base - eps
        minus = loss(variant, inp)
        holder[key] = base
        return (plus - minus) / (2 * eps)
    x = inp[name]
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        plus = loss(variant, inp)
        x[idx] = old - eps
        minus = loss(variant, inp)
        x[idx] = old
        g[idx] = (plus - minus) / (2 * eps)
    return g


def differentiable_inputs(variant, inp):
    names = ["q", "k", "v"]
    for extra in ("log_f", "remainder_bias", "log_a", "pos_emb", "norm.weight", "x", *MLSTM_GATES, "gate.beta") + KV_HEAD_INPUTS:
        if extra in inp:
            names.append(extra)
    if variant == "sigmoid":
        names.append("bias")
    return names


def check_gradients(variant, inp, label):
    res = run(variant, inp)
    worst = 0.0
    for name in differentiable_inputs(variant, inp):
        err = rel_error(res["d" + name], finite_difference(variant, inp, name))
        assert err < 1e-6, f"{label}: d{name} relative error {err:.2e}"
        worst = max(worst, err)
    return worst


def check_causality(variant, inp, label):
    base = run(variant, inp)["out"]
    T = inp["k"].shape[1]
    for t in range(1, T):
        pert = {key: (val.copy() if isinstance(val, np.ndarray) else val) for key, val in inp.items()}
        for name in ("q", "k", "v", "log_f", "log_a"):
            if name in pert and pert[name].shape[1] == T:
                pert[name][:, t:] += 1.0
        if "x" in pert:
            pert["x"][t:] += 1.0
        out = run(variant, pert)["out"]
        assert np.abs(out[:, :t] - base[:, :t]).max() < 1e-12, f"{label}: causality at t={t}"


def check_gqa_equals_repeated(variant, inp, label):
    H, Hkv = inp["q"].shape[0], inp["k"].shape[0]
    rep = dict(inp)
    kv_inputs = [name for name in ("k", "v") + KV_HEAD_INPUTS if name in inp]
    for name in kv_inputs:
        rep[name] = np.repeat(inp[name], H // Hkv, 0)
    a, b = run(variant, inp), run(variant, rep)
    assert np.abs(a["out"] - b["out"]).max() < 1e-12, label
    assert np.abs(a["dq"] - b["dq"]).max() < 1e-12, label
    for name in ["d" + n for n in kv_inputs]:
        summed = b[name].reshape(Hkv, H // Hkv, *b[name].shape[1:]).sum(1)
        assert np.abs(a[name] - summed).max() < 1e-12, f"{label}: {name}"


def sb_modes():
    return [(rem, cur) for rem in ("current", "bias", "none") for cur in (False, True)]


def variant_configs():
    """(variant, options) pairs covering every mode the spec names."""
    cfgs = [("softmax_rope", {"rope_base": 10000}), ("softmax_rope", {"rope_base": 100}),
            ("softmax_nope", {}), ("alibi", {}), ("forgetting", {}), ("sigmoid", {"bias": -np.log(8)}),
            ("aaren", {"scale": True}), ("aaren", {"scale": False}), ("retnet", {}),
            ("retnet", {"gammas": [0.5, 0.9, 0.99, 1.0]}), ("linear", {}), ("gla", {}),
            ("persistent", {"memory": 3}), ("persistent", {"memory": 1, "rope_base": 100}),
            ("cope", {}), ("cope", {"max_position": 2}), ("cope", {"max_position": 1}), ("rela", {}),
            ("rela", {"rope": False}), ("mlstm", {}), ("sinks", {"sinks": 2, "window": 2}),
            ("sinks", {"sinks": 1, "window": 3, "rope_base": 100}),
            ("infini", {"segment": 2}), ("infini", {"segment": 2, "delta_rule": True}),
            ("infini", {"segment": 3, "delta_rule": True})]
    cfgs += [("stick_breaking", {"remainder": r, "attend_current": c}) for r, c in sb_modes()]
    return cfgs


def check_all():
    rng = np.random.default_rng(7)
    worst = 0.0
    for variant, opts in variant_configs():
        for H, Hkv, T, d, dv in [(4, 4, 6, 4, 3), (4, 2, 5, 4, 2), (4, 1, 4, 2, 3), (4, 4, 1, 4, 2)]:
            label = f"{variant}{opts} H={H} Hkv={Hkv} T={T}"
            inp = random_inputs(rng, variant, H, Hkv, T, d, dv, opts)
            worst = max(worst, check_gradients(variant, inp, label))
            if variant != "aaren" or T > 1:
                check_causality(variant, inp, label)
            check_gqa_equals_repeated(variant, inp, label)
            res = run(variant, inp)
            assert np.all(np.isfinite(res["out"])), label
    print(f"gradients: every analytic backward matches central differences (worst {worst:.1e})")
    print("causality: perturbing positions >= t never changes out[<t]; GQA == MHA with repeated kv")
    check_forms(rng)
    check_properties(rng)
    print("all reference checks passed")


def check_forms(rng):
    T, d, dv = 9, 4, 3
    q, k, v, dout = (rng.normal(size=(T, n)) for n in (d, d, dv, dv))
    for rem, cur in sb_modes():
        ctx = dict(h=0, H=1, options=dict(remainder=rem, attend_current=cur),
                   remainder_bias=rng.normal(size=dv))
        out, _ = head_stick_breaking(q, k, v, dout, ctx)
        assert np.abs(out - stick_breaking_decode(q, k, v, ctx)).max() < 1e-12, (rem, cur)
    for scale in (True, False):
        s = aaren_scale(q, dict(options=dict(scale=scale)))
        q1 = q[:1]
        rnn, scan = aaren_rnn(q1, k, v, s), aaren_scan(q1, k, v, s)
        ref = softmax_core(np.repeat(q1, T, 0), k, v, dout, 0.0, s)
        assert np.abs(rnn - scan).max() < 1e-12 and np.abs(rnn - ref[0]).max() < 1e-12
        out, g = head_aaren(q1, k, v, dout, dict(options=dict(scale=scale)))
        assert np.abs(g["dq"][0] - ref[1].sum(0)).max() < 1e-12, "aaren dq vs softmax backward"
        assert np.abs(g["dk"] - ref[2]).max() < 1e-12 and np.abs(g["dv"] - ref[3]).max() < 1e-12
    for gamma in (0.5, 0.96875, 0.999):
        ctx = dict(h=0, H=1, options=dict(gammas=[gamma]))
        out, g = head_retnet(q, k, v, dout, ctx)
        rout, rg = retnet_recurrent(q, k, v, dout, gamma)
        assert np.abs(out - rout).max() < 1e-12, gamma
        for name in ("dq", "dk", "dv"):
            assert np.abs(g[name] - rg[name]).max() < 1e-12, (gamma, name)
        for B in (1, 2, 4, 5, 9):
            assert np.abs(out - retnet_chunkwise(q, k, v, gamma, B)).max() < 1e-12, (gamma, B)
    lin, _ = head_linear(q, k, v, dout, {})
    assert np.abs(lin - linear_recurrent(q, k, v)).max() < 1e-12, "linear recurrent"
    for B in (1, 2, 4, 5, 9):
        assert np.abs(lin - linear_chunked(q, k, v, B)).max() < 1e-12, ("linear chunked", B)
    log_a = log_sigmoid(rng.normal(size=(T, d)))
    ga, _ = head_gla(q, k, v, dout, dict(log_a=log_a))
    assert np.abs(ga - gla_recurrent(q, k, v, log_a)).max() < 1e-12, "gla recurrent"
    for B in (1, 2, 4, 5, 9):
        assert np.abs(ga - gla_chunked(q, k, v, log_a, B)).max() < 1e-12, ("gla chunked", B)
    for opts in ({}, {"rope": False}):
        ctx = {"options": opts, "norm.weight": 1 + 0.3 * rng.normal(size=dv)}
        assert np.abs(head_rela(q, k, v, dout, ctx)[0] - rela_decode(q, k, v, ctx)).max() < 1e-12, opts
    check_mlstm_forms(rng)
    log_f = log_sigmoid(rng.normal(size=T))
    c = np.cumsum(log_f)
    out, _ = head_forgetting(q, k, v, dout, dict(log_f=log_f))
    for i in range(T):                                # streaming: a KV cache that stores c_j
        logits = q[i] @ k[:i + 1].T / np.sqrt(d) + c[i] - c[:i + 1]
        p = np.exp(logits - logits.max())
        assert np.abs(out[i] - p @ v[:i + 1] / p.sum()).max() < 1e-12
    ctx = {"persistent.key": rng.normal(size=(3, d)) / 2, "persistent.value": rng.normal(size=(3, dv)),
           "options": {}}
    out, _ = head_persistent(q, k, v, dout, ctx)
    assert np.abs(out - persistent_decode(q, k, v, ctx)).max() < 1e-12, "persistent decode"
    for P in (1, 3, 64):                              # CoPE: decode == parallel; e = 0 is NoPE
        ctx = dict(options=dict(max_position=P), pos_emb=rng.normal(size=(P + 1, d)))
        out, _ = head_cope(q, k, v, dout, ctx)
        assert np.abs(out - cope_decode(q, k, v, ctx)).max() < 1e-12, P
        zero = head_cope(q, k, v, dout, dict(options=ctx["options"], pos_emb=np.zeros((P + 1, d))))
        nope = head_softmax_nope(q, k, v, dout, {})
        assert all(np.abs(zero[1][n] - nope[1][n]).max() < 1e-14 for n in ("dq", "dk", "dv")), P
        assert np.abs(zero[0] - nope[0]).max() < 1e-14, P
    T3 = 3 * (2 + 3) + 2                              # three times the cache, past the ring's wrap
    q3, k3, v3, d3 = (rng.normal(size=(T3, n)) for n in (d, d, dv, dv))
    for S, W in ((2, 3), (1, 1), (3, 5), (0, 4)):
        ctx = dict(options=dict(sinks=S, window=W))
        out, _ = head_sinks(q3, k3, v3, d3, ctx)
        assert np.abs(out - sinks_in_cache(q3, k3, v3, ctx)).max() < 1e-12, ("sinks in cache", S, W)
        assert np.abs(out - sinks_decode(q3, k3, v3, ctx)).max() < 1e-12, ("sinks decode", S, W)
    for L, delta in ((1, False), (2, True), (3, False), (3, True), (4, True), (64, False)):
        ctx = {"options": {"segment": L, "delta_rule": delta}, "gate.beta": rng.normal()}
        out, _ = head_infini(q3, k3, v3, d3, ctx)
        assert np.abs(out - infini_decode(q3, k3, v3, ctx)).max() < 1e-12, ("infini decode", L, delta)
    print("forms: every alternative form (decode loops, recurrent, chunked and scan forms, KV-cache decode)\n"
          "       equals its parallel form")



def check_mlstm_forms(rng):
    """mLSTM: recurrent and chunkwise equal the parallel form, also with gates that drive the
    stabiliser far from 0 (strong input gates, closing forget gates), and both cases of the max
    occur."""
    T, d, dv = 16, 4, 3
    for ibias, fbias in ((0.0, 1.0), (8.0, -3.0), (-8.0, 4.0)):
        q, k, v, dout = (rng.normal(size=(T, n)) for n in (d, d, dv, dv))
        inp = {}
        mlstm_inputs(rng, inp, 1, T)
        ctx = {name: inp[name][0] for name in MLSTM_GATES}
        ctx["igate.bias"] += ibias
        ctx["fgate.bias"] += fbias
        ctx["x"] = inp["x"]
        out, _ = head_mlstm(q, k, v, dout, ctx)
        scale = np.abs(out).max()
        assert np.abs(out - mlstm_recurrent(q, k, v, ctx)).max() < 1e-12 * max(scale, 1), (ibias, fbias)
        for L in (1, 2, 3, 4, 8, 16):
            assert np.abs(out - mlstm_chunkwise(q, k, v, ctx, L)).max() < 1e-12 * max(scale, 1), (ibias, L)
    # both sides of max(|n.q|, exp(-m)) are taken somewhere in a default-like case
    rng = np.random.default_rng(2024)                 # its own stream: independent of the checks before
    inp = {}
    mlstm_inputs(rng, inp, 1, 64)
    ctx = {name: inp[name][0] for name in MLSTM_GATES}
    ctx["x"] = inp["x"]
    q, k = rng.normal(size=(64, d)), rng.normal(size=(64, d))
    _, _, a, b, M = mlstm_gates(ctx)
    W = np.tril(np.exp(np.tril(b[None, :] - M[:, None])))
    n = (W * (q @ k.T / np.sqrt(d))).sum(1)
    live = np.abs(n) > np.exp(-(a + M))
    assert live.any() and not live.all(), live.mean()


def check_properties(rng):
    T, d, dv = 8, 4, 3
    q, k, v, dout = (rng.normal(size=(T, n)) for n in (d, d, dv, dv))
    for cur in (False, True):
        for scale in (1.0, 100.0):
            _, allowed, A, rem = stick_breaking_weights(q * scale, k, cur)
            assert np.all(A >= 0) and np.all(A.sum(1) <= 1 + 1e-12)
            assert np.abs(A.sum(1) + rem - 1).max() < 1e-12
            assert np.all(np.isfinite(A)) and np.all(A[~allowed] == 0)
    ctx = dict(options=dict(remainder="current", attend_current=False))
    out, _ = head_stick_breaking(q, k, v, dout, ctx)
    assert np.abs(out[0] - v[0]).max() < 1e-15, "o_0 = v_0 with remainder to the current token"
    big = head_stick_breaking(q * 300, k, v, dout, ctx)
    assert all(np.all(np.isfinite(x)) for x in [big[0], *big[1].values()]), "|z| in the hundreds"

    fox = head_forgetting(q, k, v, dout, dict(log_f=np.zeros(T)))
    nope = head_softmax_nope(q, k, v, dout, {})
    assert np.abs(fox[0] - nope[0]).max() < 1e-14, "FoX with log f = 0 is softmax NoPE"
    for name in ("dq", "dk", "dv"):
        assert np.abs(fox[1][name] - nope[1][name]).max() < 1e-14
    fox_b0 = head_forgetting(q, k, v, dout, dict(log_f=log_sigmoid(np.zeros(T))))
    assert np.abs(fox_b0[0] - nope[0]).max() > 1e-3, "gate bias 0 (f = 0.5) is not softmax"
    assert abs(head_forgetting(q, k, v, dout, dict(log_f=log_sigmoid(rng.normal(size=T))))[1]
               ["dlog_f"][0]) < 1e-14, "d log f_0 = 0"

    assert np.allclose(alibi_slopes(8), [2.0 ** -(h + 1) for h in range(8)])
    assert np.allclose(alibi_slopes(6), [1 / 4, 1 / 16, 1 / 64, 1 / 256, 1 / 2, 1 / 8])
    assert np.allclose(alibi_slopes(3), [1 / 16, 1 / 256, 1 / 4])
    assert np.allclose(alibi_slopes(1), [1 / 256])

    x, y = rng.normal(size=(1, d)), rng.normal(size=(1, d))
    dots = [rope(x, pos0=i)[0] @ rope(y, pos0=j)[0] for i, j in [(3, 1), (7, 5), (12, 10)]]
    assert np.ptp(dots) < 1e-12, "RoPE scores depend only on i - j"

    assert np.allclose(retnet_gammas(4, {}), [0.96875, 0.984375, 0.9921875, 0.99609375])
    print("properties: stick-breaking A >= 0, rows <= 1, rows + rem = 1, o_0 = v_0, finite at "
          "|z| ~ 300; FoX(log f = 0) == NoPE, d log f_0 = 0; ALiBi slopes; RoPE relative; gammas")


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        check_all()
    else:
        print("usage: reference.py --check   (generate.py writes the golden JSON)")
        sys.exit(2)

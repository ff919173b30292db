// SwiGLU (Shazeer 2020, arXiv 2002.05202): out = silu(a) * b, silu(a) = a * sigmoid(a), where each
// input row holds [a (H) | b (H)] — the gate and up projections fused in one fc matrix (2H, C).

/// out (N,H) = silu(inp[:, :H]) * inp[:, H:].
public func swigluForward(
    out: UnsafeMutablePointer<Float>,  // (N, H)
    inp: UnsafePointer<Float>,  // (N, 2H)
    N: Int, H: Int
) {
    for r in 0..<N {
        let a = inp + r * 2 * H
        let b = a + H
        let o = out + r * H
        var i = 0
        while i + 8 <= H {
            let x = load8(a + i)
            store8(x / (1 + vexp(-x)) * load8(b + i), o + i)
            i += 8
        }
        while i < H {
            o[i] = a[i] / (1 + fastExp(-a[i])) * b[i]
            i += 1
        }
    }
}

/// dinp (N,2H) += [d silu(a) * b, silu(a)] * dout, or = when `accumulate` is false.
public func swigluBackward(
    dinp: UnsafeMutablePointer<Float>,  // (N, 2H)
    inp: UnsafePointer<Float>,  // (N, 2H)
    dout: UnsafePointer<Float>,  // (N, H)
    N: Int, H: Int, accumulate: Bool = true
) {
    for r in 0..<N {
        let a = inp + r * 2 * H
        let b = a + H
        let da = dinp + r * 2 * H
        let db = da + H
        let g = dout + r * H
        // forward was: o = a * sig(a) * b ; d silu/da = sig(a) (1 + a (1 - sig(a)))
        var i = 0
        while i + 8 <= H {
            let x = load8(a + i)
            let sg = 1 / (1 + vexp(-x))
            let gi = load8(g + i)
            let dai = gi * load8(b + i) * sg * (1 + x * (1 - sg))
            let dbi = gi * x * sg
            store8(accumulate ? load8(da + i) + dai : dai, da + i)
            store8(accumulate ? load8(db + i) + dbi : dbi, db + i)
            i += 8
        }
        while i < H {
            let sg = 1 / (1 + fastExp(-a[i]))
            let dai = g[i] * b[i] * sg * (1 + a[i] * (1 - sg))
            let dbi = g[i] * a[i] * sg
            da[i] = accumulate ? da[i] + dai : dai
            db[i] = accumulate ? db[i] + dbi : dbi
            i += 1
        }
    }
}

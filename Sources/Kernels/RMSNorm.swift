// RMSNorm (Zhang & Sennrich 2019, arXiv 1910.07467): out = x * rstd * weight, with
// rstd = 1/sqrt(mean(x²) + eps). The forward saves rstd per row for the backward, like llm.c's
// layernorm saves mean and rstd.

public let normEpsilon: Float = 1e-5

/// out (BT,C) = inp * rstd * weight; rstd (BT) is saved for the backward.
public func rmsNormForward(
    out: UnsafeMutablePointer<Float>,  // (BT, C)
    rstd: UnsafeMutablePointer<Float>,  // (BT)
    inp: UnsafePointer<Float>,  // (BT, C)
    weight: UnsafePointer<Float>,  // (C)
    BT: Int, C: Int
) {
    for r in 0..<BT {
        let x = inp + r * C
        let o = out + r * C
        let s = 1 / (dot(x, x, C) / Float(C) + normEpsilon).squareRoot()
        for i in 0..<C { o[i] = x[i] * s * weight[i] }
        rstd[r] = s
    }
}

/// Accumulates dinp and dweight. Eight lanes at a time (w·g·x summed in Float lanes, as `dot`).
public func rmsNormBackward(
    dinp: UnsafeMutablePointer<Float>,  // (BT, C)
    dweight: UnsafeMutablePointer<Float>,  // (C)
    dout: UnsafePointer<Float>,  // (BT, C)
    inp: UnsafePointer<Float>,  // (BT, C)
    weight: UnsafePointer<Float>,  // (C)
    rstd: UnsafePointer<Float>,  // (BT)
    BT: Int, C: Int
) {
    let vectorEnd = C / 8 * 8
    for r in 0..<BT {
        let x = inp + r * C
        let g = dout + r * C
        let d = dinp + r * C
        let s = rstd[r]
        // forward was: o[i] = x[i] * s * w[i], s = (mean(x²) + eps)^(-1/2);
        // ds/dx[j] = -s³ x[j] / C
        var acc = Vec8()
        var i = 0
        while i < vectorEnd {
            acc += load8(weight + i) * load8(g + i) * load8(x + i)
            i += 8
        }
        var wgx = acc.sum()
        while i < C {
            wgx += weight[i] * g[i] * x[i]
            i += 1
        }
        let k = s * s * wgx / Float(C)
        i = 0
        while i < vectorEnd {
            let (gi, xi) = (load8(g + i), load8(x + i))
            store8(load8(dweight + i) + gi * xi * s, dweight + i)
            store8(load8(d + i) + s * (load8(weight + i) * gi - xi * k), d + i)
            i += 8
        }
        while i < C {
            dweight[i] += g[i] * x[i] * s
            d[i] += s * (weight[i] * g[i] - x[i] * k)
            i += 1
        }
    }
}

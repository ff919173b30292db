// LayerNorm (Ba et al. 2016, arXiv 1607.06450), exactly llm.c's layernorm_forward/backward:
// out = (x - mean) * rstd * weight + bias, saving mean and rstd per row.

/// out (BT,C) = (inp - mean) * rstd * weight + bias; mean, rstd (BT) are saved.
public func layerNormForward(
    out: UnsafeMutablePointer<Float>,  // (BT, C)
    mean: UnsafeMutablePointer<Float>,  // (BT)
    rstd: UnsafeMutablePointer<Float>,  // (BT)
    inp: UnsafePointer<Float>,  // (BT, C)
    weight: UnsafePointer<Float>,  // (C)
    bias: UnsafePointer<Float>,  // (C)
    BT: Int, C: Int
) {
    for r in 0..<BT {
        let x = inp + r * C
        let o = out + r * C
        var m: Float = 0
        for i in 0..<C { m += x[i] }
        m /= Float(C)
        var v: Float = 0
        for i in 0..<C { v += (x[i] - m) * (x[i] - m) }
        let s = 1 / (v / Float(C) + normEpsilon).squareRoot()
        for i in 0..<C { o[i] = (x[i] - m) * s * weight[i] + bias[i] }
        mean[r] = m
        rstd[r] = s
    }
}

/// Accumulates dinp, dweight and dbias.
public func layerNormBackward(
    dinp: UnsafeMutablePointer<Float>,  // (BT, C)
    dweight: UnsafeMutablePointer<Float>,  // (C)
    dbias: UnsafeMutablePointer<Float>,  // (C)
    dout: UnsafePointer<Float>,  // (BT, C)
    inp: UnsafePointer<Float>,  // (BT, C)
    weight: UnsafePointer<Float>,  // (C)
    mean: UnsafePointer<Float>,  // (BT)
    rstd: UnsafePointer<Float>,  // (BT)
    BT: Int, C: Int
) {
    for r in 0..<BT {
        let x = inp + r * C
        let g = dout + r * C
        let d = dinp + r * C
        let m = mean[r]
        let s = rstd[r]
        // forward was: norm[i] = (x[i] - m) * s ; o[i] = norm[i] * w[i] + b[i]
        var dnormMean: Float = 0
        var dnormNormMean: Float = 0
        for i in 0..<C {
            let dnorm = weight[i] * g[i]
            dnormMean += dnorm
            dnormNormMean += dnorm * (x[i] - m) * s
        }
        dnormMean /= Float(C)
        dnormNormMean /= Float(C)
        for i in 0..<C {
            let norm = (x[i] - m) * s
            dbias[i] += g[i]
            dweight[i] += norm * g[i]
            d[i] += (weight[i] * g[i] - dnormMean - norm * dnormNormMean) * s
        }
    }
}

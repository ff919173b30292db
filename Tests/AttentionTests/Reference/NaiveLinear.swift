// Oracle for linear attention (Katharopoulos et al. 2020; Linear.swift): the quadratic parallel
// form in Double on the layer's token-major qkv, forward and analytic backward, plain loops.
import Attention
import Foundation

enum NaiveLinear {
    static func phi(_ x: Double) -> Double { x > 0 ? x + 1 : Foundation.exp(x) }
    static func phiGrad(_ x: Double) -> Double { x > 0 ? 1 : Foundation.exp(x) }

    /// out (B, T, NH*hs) and dqkv (B, T, qkvWidth) of sum(out * dout).
    static func run(qkv: [Float], dout: [Float], B: Int, T: Int, shape: AttentionShape) -> (
        out: [Double], dqkv: [Double]
    ) {
        let (NH, NKV, hs, W) = (shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        var out = [Double](repeating: 0, count: B * T * NH * hs)
        var dqkv = [Double](repeating: 0, count: B * T * W)
        for b in 0..<B {
            for h in 0..<NH {
                let g = h / (NH / NKV)
                func x(_ t: Int, _ col: Int) -> Double { Double(qkv[(b * T + t) * W + col]) }
                let q = (0..<T).map { t in (0..<hs).map { x(t, h * hs + $0) } }
                let k = (0..<T).map { t in (0..<hs).map { x(t, (NH + g) * hs + $0) } }
                let v = (0..<T).map { t in (0..<hs).map { x(t, (NH + NKV + g) * hs + $0) } }
                let (fq, fk) = (q.map { $0.map(phi) }, k.map { $0.map(phi) })
                for i in 0..<T {
                    let a = (0...i).map { j in zip(fq[i], fk[j]).reduce(0) { $0 + $1.0 * $1.1 } }
                    let D = a.reduce(0, +) + Double(Linear.epsilon)
                    let o = (0..<hs).map { c in (0...i).reduce(0) { $0 + a[$1] * v[$1][c] } / D }
                    let dO = (0..<hs).map { Double(dout[(b * T + i) * NH * hs + h * hs + $0]) }
                    for c in 0..<hs { out[(b * T + i) * NH * hs + h * hs + c] = o[c] }
                    // out = Σ a_j v_j / D, D = Σ a_j + ε ; so da_j = (dO·v_j - dO·o) / D
                    let dOo = zip(dO, o).reduce(0) { $0 + $1.0 * $1.1 }
                    for j in 0...i {
                        let da = (zip(dO, v[j]).reduce(0) { $0 + $1.0 * $1.1 } - dOo) / D
                        for m in 0..<hs {
                            dqkv[(b * T + i) * W + h * hs + m] += da * fk[j][m] * phiGrad(q[i][m])
                            dqkv[(b * T + j) * W + (NH + g) * hs + m] += da * fq[i][m] * phiGrad(k[j][m])
                            dqkv[(b * T + j) * W + (NH + NKV + g) * hs + m] += a[j] / D * dO[m]
                        }
                    }
                }
            }
        }
        return (out, dqkv)
    }
}

/// Oracle for gla (GLA.swift): the gates from x and the parameters, then the quadratic form
/// o_i = s Σ_{j<=i} Σ_m q_im k_jm e^(B_im - B_jm) v_j in Double, with dq, dk, dv.
enum NaiveGLA {
    /// out (B, T, NH*hs) and dqkv (B, T, qkvWidth) of sum(out * dout).
    static func run(
        qkv: [Float], x: [Float], params: [Float], dout: [Float], B: Int, T: Int, shape: AttentionShape, rank: Int,
        tau: Double
    ) -> (out: [Double], dqkv: [Double]) {
        let (NH, NKV, hs, W, C) = (shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth, shape.channels)
        let width = NH * hs
        var out = [Double](repeating: 0, count: B * T * NH * hs)
        var dqkv = [Double](repeating: 0, count: B * T * W)
        let s = 1 / Double(hs).squareRoot()
        for b in 0..<B {
            // log α (T, width) = logsigmoid(x W1 W2 + b) / τ
            let h1 = (0..<T).map { t in
                (0..<rank).map { r in
                    (0..<C).reduce(0.0) { $0 + Double(x[(b * T + t) * C + $1] * params[$1 * rank + r]) }
                }
            }
            let logA = (0..<T).map { t in
                (0..<width).map { c -> Double in
                    let z = (0..<rank).reduce(Double(params[C * rank + rank * width + c])) {
                        $0 + h1[t][$1] * Double(params[C * rank + $1 * width + c])
                    }
                    return (min(z, 0) - log1p(exp(-abs(z)))) / tau
                }
            }
            for h in 0..<NH {
                let g = h / (NH / NKV)
                func val(_ t: Int, _ col: Int) -> Double { Double(qkv[(b * T + t) * W + col]) }
                var cum = [Double](repeating: 0, count: hs)
                let Bc = (0..<T).map { t in
                    for m in 0..<hs { cum[m] += logA[t][h * hs + m] }
                    return cum
                }
                for i in 0..<T {
                    let dO = (0..<hs).map { Double(dout[(b * T + i) * NH * hs + h * hs + $0]) }
                    for j in 0...i {
                        let e = (0..<hs).map { exp(Bc[i][$0] - Bc[j][$0]) }
                        let a =
                            s * (0..<hs).reduce(0.0) { $0 + val(i, h * hs + $1) * val(j, (NH + g) * hs + $1) * e[$1] }
                        let da = (0..<hs).reduce(0.0) { $0 + dO[$1] * val(j, (NH + NKV + g) * hs + $1) }
                        for c in 0..<hs {
                            out[(b * T + i) * NH * hs + h * hs + c] += a * val(j, (NH + NKV + g) * hs + c)
                            dqkv[(b * T + j) * W + (NH + NKV + g) * hs + c] += a * dO[c]
                            dqkv[(b * T + i) * W + h * hs + c] += s * da * val(j, (NH + g) * hs + c) * e[c]
                            dqkv[(b * T + j) * W + (NH + g) * hs + c] += s * da * val(i, h * hs + c) * e[c]
                        }
                    }
                }
            }
        }
        return (out, dqkv)
    }
}

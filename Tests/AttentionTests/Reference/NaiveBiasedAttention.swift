// The oracle for softmax_nope, alibi, forgetting and sigmoid at the layer interface (fused qkv,
// layer input x, variant parameters): plain loops in Double with the full (T, T) logits,
// L_ij = λ_i s R(i)q_i·R(j)k_j + bias_ij, then softmax or sigmoid(L + b), out = P V, and the
// backward of shared/spec/attention.md §1d, §1g, §1h, §1i, including FoX's gates into dx, dparams.
import Foundation

enum NaiveBiasedAttention {
    enum Map {
        case softmax
        case sigmoid(Double)
    }

    struct Spec {
        var map: Map = .softmax
        var ropeBase: Double? = nil
        var slopes: [Double]? = nil  // ALiBi: bias -m_h (i - j)
        var lengthScale: ((Int) -> Double)? = nil  // λ at absolute position
        var forgetGates = false  // FoX: params = fgate.weight (NH, C), fgate.bias (NH)
        var learnedBias = false  // sigmoid: params[0] = b, overrides map's b
    }

    struct Result { var out: [Double], dqkv: [Double], dx: [Double], dparams: [Double] }

    static func run(
        _ spec: Spec, qkv: [Float], x: [Float], params: [Float], dout: [Float], B: Int, T: Int,
        NH: Int, NKV: Int, hs: Int, C: Int, pos0: Int
    ) -> Result {
        let W = (NH + 2 * NKV) * hs
        let group = NH / NKV
        let s = 1 / Double(hs).squareRoot()
        var res = Result(
            out: .init(repeating: 0, count: B * T * NH * hs),
            dqkv: .init(repeating: 0, count: B * T * W),
            dx: .init(repeating: 0, count: x.count),
            dparams: .init(repeating: 0, count: params.count))
        func vec(_ b: Int, _ t: Int, _ off: Int) -> [Double] {
            let v = (0..<hs).map { Double(qkv[(b * T + t) * W + off + $0]) }
            return spec.ropeBase.map { NaiveSoftmaxRoPE.rotate(v, pos0 + t, base: $0) } ?? v
        }
        func dot(_ a: [Double], _ b: [Double]) -> Double {
            zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
        }
        var sigmoidBias = 0.0
        if case .sigmoid(let b) = spec.map {
            sigmoidBias = spec.learnedBias ? Double(params[0]) : b
        }
        for b in 0..<B {
            for h in 0..<NH {
                let g = h / group
                let q = (0..<T).map { vec(b, $0, h * hs) }
                let k = (0..<T).map { vec(b, $0, (NH + g) * hs) }
                let v = (0..<T).map { t in
                    (0..<hs).map { Double(qkv[(b * T + t) * W + (NH + NKV + g) * hs + $0]) }
                }
                let dO = (0..<T).map { t in
                    (0..<hs).map { Double(dout[(b * T + t) * NH * hs + h * hs + $0]) }
                }
                var logF = [Double](repeating: 0, count: T)
                var c = logF
                if spec.forgetGates {
                    for t in 0..<T {
                        let xt = (0..<C).map { Double(x[(b * T + t) * C + $0]) }
                        let w = (0..<C).map { Double(params[h * C + $0]) }
                        let z = dot(xt, w) + Double(params[NH * C + h])
                        logF[t] = -(max(-z, 0) + log1p(exp(-abs(z))))
                        c[t] = (t > 0 ? c[t - 1] : 0) + logF[t]
                    }
                }
                let lam = (0..<T).map { spec.lengthScale?(pos0 + $0) ?? 1 }
                var P = [[Double]](repeating: [Double](repeating: 0, count: T), count: T)
                for i in 0..<T {
                    let L = (0...i).map { j in
                        lam[i] * s * dot(q[i], k[j]) + c[i] - c[j] - (spec.slopes?[h] ?? 0)
                            * Double(i - j)
                    }
                    switch spec.map {
                    case .softmax:
                        let m = L.max()!
                        let e = L.map { exp($0 - m) }
                        let z = e.reduce(0, +)
                        for j in 0...i { P[i][j] = e[j] / z }
                    case .sigmoid:
                        for j in 0...i { P[i][j] = 1 / (1 + exp(-(L[j] + sigmoidBias))) }
                    }
                    for d in 0..<hs {
                        res.out[(b * T + i) * NH * hs + h * hs + d] = (0...i).reduce(0) {
                            $0 + P[i][$1] * v[$1][d]
                        }
                    }
                }
                var dq = [[Double]](repeating: [Double](repeating: 0, count: hs), count: T)
                var dk = dq
                var dc = [Double](repeating: 0, count: T)
                for i in 0..<T {
                    let dP = (0...i).map { dot(dO[i], v[$0]) }
                    let D = (0...i).reduce(0) { $0 + P[i][$1] * dP[$1] }
                    for j in 0...i {
                        var dS = P[i][j] * (dP[j] - D)
                        if case .sigmoid = spec.map { dS = dP[j] * P[i][j] * (1 - P[i][j]) }
                        if spec.learnedBias { res.dparams[0] += dS }
                        dc[i] += dS
                        dc[j] -= dS
                        for d in 0..<hs {
                            res.dqkv[(b * T + j) * W + (NH + NKV + g) * hs + d] +=
                                P[i][j] * dO[i][d]
                            dq[i][d] += lam[i] * s * dS * k[j][d]
                            dk[j][d] += lam[i] * s * dS * q[i][d]
                        }
                    }
                }
                for t in 0..<T {
                    let rq =
                        spec.ropeBase.map {
                            NaiveSoftmaxRoPE.rotate(dq[t], pos0 + t, base: $0, inverse: true)
                        } ?? dq[t]
                    let rk =
                        spec.ropeBase.map {
                            NaiveSoftmaxRoPE.rotate(dk[t], pos0 + t, base: $0, inverse: true)
                        } ?? dk[t]
                    for d in 0..<hs {
                        res.dqkv[(b * T + t) * W + h * hs + d] += rq[d]
                        res.dqkv[(b * T + t) * W + (NH + g) * hs + d] += rk[d]
                    }
                }
                guard spec.forgetGates else { continue }
                var dlogF = 0.0
                for t in stride(from: T - 1, through: 0, by: -1) {
                    dlogF += dc[t]
                    let dz = dlogF * (1 - exp(logF[t]))
                    res.dparams[NH * C + h] += dz
                    for i in 0..<C {
                        res.dparams[h * C + i] += dz * Double(x[(b * T + t) * C + i])
                        res.dx[(b * T + t) * C + i] += dz * Double(params[h * C + i])
                    }
                }
            }
        }
        return res
    }
}

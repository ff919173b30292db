// The oracle for SoftmaxRoPE: causal softmax attention with half-split RoPE and GQA written as
// plain loops in Double with the full (T, T) probability matrix (shared/spec/attention.md §1a, §1i).
import Foundation

enum NaiveSoftmaxRoPE {
    /// Rotates x (hs) at position p in Double; inverse = true rotates by -angle.
    static func rotate(_ x: [Double], _ p: Int, base: Double, inverse: Bool = false) -> [Double] {
        let hs = x.count
        let half = hs / 2
        var y = x
        for m in 0..<half {
            let a = Double(p) * pow(base, -2 * Double(m) / Double(hs)) * (inverse ? -1 : 1)
            y[m] = x[m] * cos(a) - x[m + half] * sin(a)
            y[m + half] = x[m + half] * cos(a) + x[m] * sin(a)
        }
        return y
    }

    /// out (B,T,NH*hs) and, if dout is given, dqkv (B,T,(NH+2NKV)*hs).
    static func run(
        qkv: [Float], dout: [Float]?, B: Int, T: Int, NH: Int, NKV: Int, hs: Int, pos0: Int,
        base: Double = 10_000
    ) -> (out: [Double], dqkv: [Double]) {
        let W = (NH + 2 * NKV) * hs
        let group = NH / NKV
        let s = 1 / Double(hs).squareRoot()
        var out = [Double](repeating: 0, count: B * T * NH * hs)
        var dqkv = [Double](repeating: 0, count: B * T * W)
        func vec(_ b: Int, _ t: Int, _ off: Int) -> [Double] {
            (0..<hs).map { Double(qkv[(b * T + t) * W + off + $0]) }
        }
        for b in 0..<B {
            for h in 0..<NH {
                let g = h / group
                let q = (0..<T).map { rotate(vec(b, $0, h * hs), pos0 + $0, base: base) }
                let k = (0..<T).map { rotate(vec(b, $0, (NH + g) * hs), pos0 + $0, base: base) }
                let v = (0..<T).map { vec(b, $0, (NH + NKV + g) * hs) }
                var P = [[Double]](repeating: [Double](repeating: 0, count: T), count: T)
                for i in 0..<T {
                    let S = (0...i).map { j in s * zip(q[i], k[j]).reduce(0) { $0 + $1.0 * $1.1 } }
                    let m = S.max()!
                    let e = S.map { exp($0 - m) }
                    let z = e.reduce(0, +)
                    for j in 0...i { P[i][j] = e[j] / z }
                    for d in 0..<hs {
                        out[(b * T + i) * NH * hs + h * hs + d] = (0...i).reduce(0) {
                            $0 + P[i][$1] * v[$1][d]
                        }
                    }
                }
                guard let dout else { continue }
                let dO = (0..<T).map { t in
                    (0..<hs).map { Double(dout[(b * T + t) * NH * hs + h * hs + $0]) }
                }
                var dq = [[Double]](repeating: [Double](repeating: 0, count: hs), count: T)
                var dk = dq
                for i in 0..<T {
                    let o = (0..<hs).map { out[(b * T + i) * NH * hs + h * hs + $0] }
                    let D = zip(dO[i], o).reduce(0) { $0 + $1.0 * $1.1 }
                    for j in 0...i {
                        let dP = zip(dO[i], v[j]).reduce(0) { $0 + $1.0 * $1.1 }
                        let dS = P[i][j] * (dP - D)
                        for d in 0..<hs {
                            dqkv[(b * T + j) * W + (NH + NKV + g) * hs + d] += P[i][j] * dO[i][d]
                            dq[i][d] += s * dS * k[j][d]
                            dk[j][d] += s * dS * q[i][d]
                        }
                    }
                }
                for t in 0..<T {
                    let rq = rotate(dq[t], pos0 + t, base: base, inverse: true)
                    let rk = rotate(dk[t], pos0 + t, base: base, inverse: true)
                    for d in 0..<hs {
                        dqkv[(b * T + t) * W + h * hs + d] += rq[d]
                        dqkv[(b * T + t) * W + (NH + g) * hs + d] += rk[d]
                    }
                }
            }
        }
        return (out, dqkv)
    }
}

// Oracle for mlstm: the quadratic parallel form of the official stabilised code (Beck et al. 2024),
// plain loops in Double on one head: log D_ij = Σ_{j<l<=i} log f_l + log i_j (j <= i),
// m_i = max_j log D_ij, C_ij = exp(log D_ij - m_i) s q_i·k_j, out_i = Σ_j C_ij v_j / max(|Σ_j C_ij|,
// exp(-m_i)); gates from x as the variant computes them.
import Foundation

enum NaiveMLSTM {
    /// One head: q, k [T][d], v [T][dv], log i and log f [T].
    static func head(q: [[Double]], k: [[Double]], v: [[Double]], logI: [Double], logF: [Double]) -> [[Double]] {
        let (T, s) = (q.count, 1 / Double(q[0].count).squareRoot())
        var cum = [Double](repeating: 0, count: T + 1)  // cum[t + 1] = Σ_{l<=t} log f_l
        for t in 0..<T { cum[t + 1] = cum[t] + logF[t] }
        return (0..<T).map { i in
            let logD = (0...i).map { j in cum[i + 1] - cum[j + 1] + logI[j] }
            let m = logD.max()!
            let c = (0...i).map { j in exp(logD[j] - m) * s * zip(q[i], k[j]).reduce(0) { $0 + $1.0 * $1.1 } }
            let den = max(abs(c.reduce(0, +)), exp(-m))
            return (0..<v[0].count).map { e in (0...i).reduce(0) { $0 + c[$1] * v[$1][e] } / den }
        }
    }

    /// log i and log f (NH, T) from x (T, C) and the parameters [w_i (NH, C) | w_f (NH, C) | b_i | b_f].
    static func gates(x: [Float], params: [Float], NH: Int, T: Int, C: Int) -> (logI: [[Double]], logF: [[Double]]) {
        func z(_ row: Int, _ t: Int) -> Double {
            (0..<C).reduce(Double(params[2 * NH * C + row])) {
                $0 + Double(params[row * C + $1]) * Double(x[t * C + $1])
            }
        }
        let logI = (0..<NH).map { h in (0..<T).map { z(h, $0) } }
        let logF = (0..<NH).map { h in (0..<T).map { t in -log1p(exp(-z(NH + h, t))) } }
        return (logI, logF)
    }

    /// Every head of sequence b of a fused (B, T, qkvWidth) buffer: out (T, NH*hs).
    static func sequence(
        qkv: [Float], x: [Float], params: [Float], b: Int, T: Int, NH: Int, NKV: Int, hs: Int, C: Int
    ) -> [Double] {
        let W = (NH + 2 * NKV) * hs
        func rows(_ col: Int) -> [[Double]] {
            (0..<T).map { t in (0..<hs).map { Double(qkv[(b * T + t) * W + col + $0]) } }
        }
        let g = gates(x: Array(x[(b * T * C)..<((b + 1) * T * C)]), params: params, NH: NH, T: T, C: C)
        var out = [Double](repeating: 0, count: T * NH * hs)
        for h in 0..<NH {
            let kv = h / (NH / NKV)
            let o = head(
                q: rows(h * hs), k: rows((NH + kv) * hs), v: rows((NH + NKV + kv) * hs), logI: g.logI[h],
                logF: g.logF[h])
            for t in 0..<T { for e in 0..<hs { out[t * NH * hs + h * hs + e] = o[t][e] } }
        }
        return out
    }
}

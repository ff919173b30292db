// The oracle for stick_breaking (shared/spec/attention.md §1b): plain loops in Double on one head,
// [T][d] rows. The forward is the product form A_ij = β_ij Π_{j<m<i} (1 - β_im), a different
// computation from the kernel's log-space cumsum; the backward is the spec's C/dZ recipe on the
// full (T, T) matrices. Multi-head driver with GQA as in Golden/reference.py `run`.
import Foundation

enum NaiveStickBreaking {
    struct Result { var out: [Double], dq: [Double], dk: [Double], dv: [Double], db: [Double] }

    static func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }

    /// One head: A (T, T) and rem (T) by the product form.
    static func weights(q: [[Double]], k: [[Double]], attendCurrent: Bool) -> ([[Double]], [Double]) {
        let T = q.count
        let s = 1 / Double(q[0].count).squareRoot()
        var A = [[Double]](repeating: [Double](repeating: 0, count: T), count: T)
        var rem = [Double](repeating: 1, count: T)
        for i in 0..<T {
            var left = 1.0  // Π (1 - β) over the keys already passed, newest first
            for j in stride(from: attendCurrent ? i : i - 1, through: 0, by: -1) {
                let beta = sigmoid(s * zip(q[i], k[j]).reduce(0) { $0 + $1.0 * $1.1 })
                A[i][j] = beta * left
                left *= 1 - beta
            }
            rem[i] = left
        }
        return (A, rem)
    }

    /// All heads: q [H][T][d], k [Hkv][T][d], v [Hkv][T][dv], bias [H][dv], dout [H][T][dv].
    static func run(
        q: [Float], k: [Float], v: [Float], bias: [Float], dout: [Float], H: Int, Hkv: Int,
        T: Int, d: Int, dv: Int, remainder: String, attendCurrent: Bool
    ) -> Result {
        func rows(_ x: [Float], _ head: Int, _ n: Int) -> [[Double]] {
            (0..<T).map { t in (0..<n).map { Double(x[(head * T + t) * n + $0]) } }
        }
        let s = 1 / Double(d).squareRoot()
        var r = Result(
            out: .init(repeating: 0, count: H * T * dv), dq: .init(repeating: 0, count: q.count),
            dk: .init(repeating: 0, count: k.count), dv: .init(repeating: 0, count: v.count),
            db: .init(repeating: 0, count: bias.count))
        for h in 0..<H {
            let g = h / (H / Hkv)
            let (Q, K, V, dO) = (rows(q, h, d), rows(k, g, d), rows(v, g, dv), rows(dout, h, dv))
            let (A, rem) = weights(q: Q, k: K, attendCurrent: attendCurrent)
            let Rv: [[Double]] = (0..<T).map { i in
                switch remainder {
                case "current": return V[i]
                case "bias": return (0..<dv).map { Double(bias[h * dv + $0]) }
                default: return [Double](repeating: 0, count: dv)
                }
            }
            for i in 0..<T {
                let allowed = attendCurrent ? i + 1 : i
                for e in 0..<dv {
                    r.out[(h * T + i) * dv + e] = (0..<allowed).reduce(rem[i] * Rv[i][e]) { $0 + A[i][$1] * V[$1][e] }
                }
                let rho = zip(dO[i], Rv[i]).reduce(0) { $0 + $1.0 * $1.1 }
                var C = 0.0
                for m in 0..<allowed {
                    let G = zip(dO[i], V[m]).reduce(0) { $0 + $1.0 * $1.1 }
                    C += G * A[i][m]
                    let z = s * zip(Q[i], K[m]).reduce(0) { $0 + $1.0 * $1.1 }
                    let dZ = A[i][m] * G - sigmoid(z) * (C + rho * rem[i])
                    for c in 0..<d {
                        r.dq[(h * T + i) * d + c] += s * dZ * K[m][c]
                        r.dk[(g * T + m) * d + c] += s * dZ * Q[i][c]
                    }
                    for e in 0..<dv { r.dv[(g * T + m) * dv + e] += A[i][m] * dO[i][e] }
                }
                for e in 0..<dv {
                    if remainder == "current" { r.dv[(g * T + i) * dv + e] += rem[i] * dO[i][e] }
                    if remainder == "bias" { r.db[h * dv + e] += rem[i] * dO[i][e] }
                }
            }
        }
        return r
    }
}

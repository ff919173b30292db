// Oracles for aaren and retnet (shared/spec/attention.md §1e, §1f), plain loops in Double on one
// head with [T][d] rows: Aaren's Hillis-Steele prefix scan and the parallel causal softmax with the
// query repeated (forward and the generic softmax backward); RetNet's recurrent form (forward and
// the reverse-time backward) and chunkwise form, on q and k already rotated.
import Foundation

enum NaiveAaren {
    static func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    /// Inclusive Hillis-Steele scan over the leaves (s_i, 1, v_i) with the (m, u, w) operator.
    static func scan(query: [Double], k: [[Double]], v: [[Double]], scale: Double) -> [[Double]] {
        var items = zip(k, v).map { (m: scale * dot(query, $0.0), u: 1.0, w: $0.1) }
        var step = 1
        while step < items.count {
            items = items.indices.map { i in
                guard i >= step else { return items[i] }
                let (a, b) = (items[i - step], items[i])
                let m = max(a.m, b.m)
                let fa = exp(a.m - m)
                let fb = exp(b.m - m)
                return (m, a.u * fa + b.u * fb, zip(a.w, b.w).map { $0.0 * fa + $0.1 * fb })
            }
            step *= 2
        }
        return items.map { item in item.w.map { $0 / item.u } }
    }

    /// Causal softmax with q_t = query for every t: out, and for dout the gradients
    /// (dquery = Σ_t dq_t, dk, dv) by the general softmax backward.
    static func softmax(query: [Double], k: [[Double]], v: [[Double]], dout: [[Double]], scale: Double)
        -> (out: [[Double]], dquery: [Double], dk: [[Double]], dv: [[Double]])
    {
        let T = k.count
        let d = query.count
        let dv = v[0].count
        var out = [[Double]]()
        var dquery = [Double](repeating: 0, count: d)
        var dk = [[Double]](repeating: [Double](repeating: 0, count: d), count: T)
        var dV = [[Double]](repeating: [Double](repeating: 0, count: dv), count: T)
        let S = k.map { scale * dot(query, $0) }
        for t in 0..<T {
            let m = S[0...t].max()!
            let e = S[0...t].map { exp($0 - m) }
            let z = e.reduce(0, +)
            let P = e.map { $0 / z }
            let o = (0..<dv).map { c in (0...t).reduce(0) { $0 + P[$1] * v[$1][c] } }
            out.append(o)
            let D = dot(dout[t], o)
            for j in 0...t {
                let dS = P[j] * (dot(dout[t], v[j]) - D)
                for c in 0..<d {
                    dquery[c] += scale * dS * k[j][c]
                    dk[j][c] += scale * dS * query[c]
                }
                for c in 0..<dv { dV[j][c] += P[j] * dout[t][c] }
            }
        }
        return (out, dquery, dk, dV)
    }
}

enum NaiveRetNet {
    /// S_n = γ S_{n-1} + k_nᵀ v_n, o_n = s q_n S_n; backward dS_n = γ dS_{n+1} + s q_nᵀ dO_n,
    /// dk_n = dS_n v_n, dv_n = k_n dS_n, dq_n = s dO_n S_nᵀ (gradients of the rotated q, k).
    static func recurrent(q: [[Double]], k: [[Double]], v: [[Double]], dout: [[Double]], gamma: Double)
        -> (out: [[Double]], dq: [[Double]], dk: [[Double]], dv: [[Double]])
    {
        let T = q.count
        let d = q[0].count
        let dv = v[0].count
        let s = 1 / Double(d).squareRoot()
        var S = [[Double]](repeating: [Double](repeating: 0, count: dv), count: d)
        var states = [[[Double]]]()
        var out = [[Double]]()
        for n in 0..<T {
            for a in 0..<d { for c in 0..<dv { S[a][c] = gamma * S[a][c] + k[n][a] * v[n][c] } }
            states.append(S)
            out.append((0..<dv).map { c in s * (0..<d).reduce(0) { $0 + q[n][$1] * S[$1][c] } })
        }
        var dS = [[Double]](repeating: [Double](repeating: 0, count: dv), count: d)
        var dq = [[Double]](repeating: [], count: T)
        var dk = dq
        var dV = dq
        for n in stride(from: T - 1, through: 0, by: -1) {
            for a in 0..<d { for c in 0..<dv { dS[a][c] = gamma * dS[a][c] + s * q[n][a] * dout[n][c] } }
            dk[n] = (0..<d).map { a in (0..<dv).reduce(0) { $0 + dS[a][$1] * v[n][$1] } }
            dV[n] = (0..<dv).map { c in (0..<d).reduce(0) { $0 + k[n][$1] * dS[$1][c] } }
            dq[n] = (0..<d).map { a in s * (0..<dv).reduce(0) { $0 + dout[n][$1] * states[n][a][$1] } }
        }
        return (out, dq, dk, dV)
    }

    /// Chunks of B: O = (s Q Kᵀ ∘ D) V inside + s (Q S) γ^(j+1) across; S = γ^B S + (K γ^(B-1-j))ᵀ V.
    static func chunkwise(q: [[Double]], k: [[Double]], v: [[Double]], gamma: Double, B: Int) -> [[Double]] {
        let T = q.count
        let d = q[0].count
        let dv = v[0].count
        let s = 1 / Double(d).squareRoot()
        var S = [[Double]](repeating: [Double](repeating: 0, count: dv), count: d)
        var out = [[Double]]()
        for c0 in stride(from: 0, to: T, by: B) {
            let n = min(B, T - c0)
            for j in 0..<n {
                let i = c0 + j
                out.append(
                    (0..<dv).map { c in
                        let inner = (0...j).reduce(0.0) { acc, m in
                            acc + s * NaiveAaren.dot(q[i], k[c0 + m]) * pow(gamma, Double(j - m)) * v[c0 + m][c]
                        }
                        return inner + s * (0..<d).reduce(0) { $0 + q[i][$1] * S[$1][c] } * pow(gamma, Double(j + 1))
                    })
            }
            for a in 0..<d {
                for c in 0..<dv {
                    var sum = pow(gamma, Double(n)) * S[a][c]
                    for m in 0..<n { sum += k[c0 + m][a] * pow(gamma, Double(n - 1 - m)) * v[c0 + m][c] }
                    S[a][c] = sum
                }
            }
        }
        return out
    }
}

// The per-head chunkwise kernel of mLSTM (MLSTM.swift; Beck et al. 2024, arXiv 2405.04517) on
// strided q, k, v: any d and dv, so training (fused qkv rows) and the tensor interface (head-major
// arrays) run the same code. With a_t = Σ_{l<=t} log f_l, b_j = log i_j - a_j, M_i = max_{j<=i} b_j
// (the stabiliser m_i = a_i + M_i) and the augmented value ṽ_j = [v_j, 1]:
//   W_ij = exp(b_j - M_i) (j <= i),  P = W ∘ (s q kᵀ),  H̃ = P Ṽ = [h̃, ñ],
//   out_i = h̃_i / max(|ñ_i|, exp(-m_i)).
// Chunks of L tokens: within a chunk P is one sgemm and a mask; before chunk c the state
// S̃ = Σ_{j<c0} exp(b_j - M_{c0-1}) k_j ṽ_jᵀ (d x (dv+1)) adds s exp(M_{c0-1} - M_i) q_i S̃.
// Every exponent is <= 0 (M is a running max), so nothing overflows.
// Backward, with g the upstream gradient, r_i = 1/den_i and σ_i the sign of ñ_i where |ñ_i| wins
// the max (0 where exp(-m_i) does): G̃_i = [r_i g_i, -r_i (g_i·out_i) σ_i], dP = G̃ Ṽᵀ,
// dS = dP ∘ W, dq = s dS k, dk = s dSᵀ q, dv = Pᵀ (r g), db_j = k_j·dk_j (this head's share),
// da_i = (g_i·out_i) where exp(-m_i) wins, minus db_i; d log i = db, d log f = reverse cumsum(da).
// The output does not depend on M (it cancels), so M is held fixed. Between chunks backward
// carries R = Σ_{i>e} exp(M_e - M_i) q_i G̃_iᵀ (e: the chunk's last row) from the end.
import Foundation
import Kernels

struct MLSTMKernel {
    let d: Int, dv: Int, chunk: Int

    /// One head's rows, `*s` floats apart.
    struct Head {
        var q: UnsafePointer<Float>, qs: Int
        var k: UnsafePointer<Float>, ks: Int
        var v: UnsafePointer<Float>, vs: Int
    }

    /// Where one head's output goes and what forward leaves for backward: r = 1/den and σ (T each).
    struct Output {
        var out: UnsafeMutablePointer<Float>, os: Int
        var rinv: UnsafeMutablePointer<Float>, sign: UnsafeMutablePointer<Float>
    }

    /// Where one head's backward accumulates (+=) dq, dk, dv, and writes d log i, d log f (T each).
    struct Grads {
        var dout: UnsafePointer<Float>, dos: Int
        var dq: UnsafeMutablePointer<Float>, dqs: Int
        var dk: UnsafeMutablePointer<Float>, dks: Int
        var dv: UnsafeMutablePointer<Float>, dvs: Int
        var dlogI: UnsafeMutablePointer<Double>, dlogF: UnsafeMutablePointer<Double>
    }

    /// a, b and M of one head in Double (T each, at `base`), from its gates log i and log f (T).
    struct Gates {
        let a: UnsafeMutablePointer<Double>, b: UnsafeMutablePointer<Double>, M: UnsafeMutablePointer<Double>

        init(base: UnsafeMutablePointer<Double>, logI: UnsafePointer<Float>, logF: UnsafePointer<Float>, T: Int) {
            (a, b, M) = (base, base + T, base + 2 * T)
            var (acc, top) = (0.0, -Double.infinity)
            for t in 0..<T {
                acc += Double(logF[t])
                a[t] = acc
                b[t] = Double(logI[t]) - acc
                top = max(top, b[t])
                M[t] = top
            }
        }

        static func doubles(T: Int) -> Int { 3 * T }
    }

    /// Columns of the augmented values [v, 1] and of the states.
    private var width: Int { dv + 1 }
    private var scale: Float { 1 / Float(d).squareRoot() }

    private func chunks(_ T: Int) -> Int { (T + chunk - 1) / chunk }

    func forwardScratchCount(T: Int) -> Int {
        let L = min(chunk, T)
        return 2 * L * L + L * width + d * width + L * d
    }

    func backwardScratchCount(T: Int) -> Int {
        let L = min(chunk, T)
        return (chunks(T) + 1) * d * width + T * width + 3 * L * L + L * max(d, dv) + L * d + T * d
    }

    /// P (n, n) = s q kᵀ ∘ W and W (n, n) of the chunk at c0, zero above the diagonal.
    private func intraChunk(
        _ x: Head, _ g: Gates, c0: Int, n: Int, P: UnsafeMutablePointer<Float>, W: UnsafeMutablePointer<Float>
    ) {
        BLAS.gemm(
            transB: true, M: n, N: n, K: d, alpha: scale, A: x.q + c0 * x.qs, lda: x.qs, B: x.k + c0 * x.ks,
            ldb: x.ks, beta: 0, C: P, ldc: n)
        for r in 0..<n {
            let (w, p, Mi) = (W + r * n, P + r * n, g.M[c0 + r])
            for j in 0...r { w[j] = Float(g.b[c0 + j] - Mi) }
            _ = expShiftSum(w, r + 1, shift: 0)
            (w + r + 1).update(repeating: 0, count: n - r - 1)
            for j in 0..<n { p[j] *= w[j] }
        }
    }

    /// The state after the chunk at c0 (n rows) from the one before it: S̃ = exp(M_{c0-1} - M_e) S̃
    /// + Σ_j exp(b_j - M_e) k_j ṽ_jᵀ, e = c0 + n - 1; kw (n, d) is scratch.
    private func advance(
        _ state: UnsafeMutablePointer<Float>, _ x: Head, _ g: Gates, c0: Int, n: Int, kw: UnsafeMutablePointer<Float>
    ) {
        let top = g.M[c0 + n - 1]
        if c0 > 0 { scaleInPlace(state, d * width, by: Float(exp(g.M[c0 - 1] - top))) }
        for r in 0..<n {
            let f = Float(exp(g.b[c0 + r] - top))
            for e in 0..<d { kw[r * d + e] = f * x.k[(c0 + r) * x.ks + e] }
        }
        BLAS.gemm(
            transA: true, M: d, N: dv, K: n, A: kw, lda: d, B: x.v + c0 * x.vs, ldb: x.vs, beta: 1, C: state,
            ldc: width)
        for r in 0..<n {
            for e in 0..<d { state[e * width + dv] += kw[r * d + e] }
        }
    }

    // MARK: - Forward

    /// Writes the head's output, r and σ.
    func forward(_ x: Head, _ g: Gates, _ o: Output, T: Int, scratch: UnsafeMutablePointer<Float>) {
        let L = min(chunk, T)
        let (P, W) = (scratch, scratch + L * L)
        let Ha = W + L * L
        let state = Ha + L * width
        let kw = state + d * width
        state.update(repeating: 0, count: d * width)
        for c0 in stride(from: 0, to: T, by: chunk) {
            let n = min(chunk, T - c0)
            if c0 > 0 {  // from earlier chunks: s exp(M_{c0-1} - M_i) q_i S̃
                BLAS.gemm(
                    M: n, N: width, K: d, alpha: scale, A: x.q + c0 * x.qs, lda: x.qs, B: state, ldb: width,
                    beta: 0, C: Ha, ldc: width)
                for r in 0..<n { scaleInPlace(Ha + r * width, width, by: Float(exp(g.M[c0 - 1] - g.M[c0 + r]))) }
            } else {
                Ha.update(repeating: 0, count: n * width)
            }
            intraChunk(x, g, c0: c0, n: n, P: P, W: W)
            BLAS.gemm(M: n, N: dv, K: n, A: P, lda: n, B: x.v + c0 * x.vs, ldb: x.vs, beta: 1, C: Ha, ldc: width)
            for r in 0..<n {
                let i = c0 + r
                var norm = Ha[r * width + dv]
                for j in 0...r { norm += P[r * n + j] }
                // out_i = h̃_i / max(|ñ_i|, exp(-m_i)), in Double: exp(-m_i) may pass Float's range
                let bound = exp(-(g.a[i] + g.M[i]))
                let den = max(Double(abs(norm)), bound)
                o.rinv[i] = Float(1 / den)
                o.sign[i] = Double(abs(norm)) > bound ? (norm > 0 ? 1 : -1) : 0
                for e in 0..<dv { o.out[i * o.os + e] = Float(Double(Ha[r * width + e]) / den) }
            }
            if c0 + n < T { advance(state, x, g, c0: c0, n: n, kw: kw) }
        }
    }

    // MARK: - Backward

    /// Accumulates dq, dk, dv; writes d log i and d log f. Needs forward's output, r and σ.
    func backward(_ x: Head, _ g: Gates, _ o: Output, _ dg: Grads, T: Int, scratch: UnsafeMutablePointer<Float>) {
        let (L, count) = (min(chunk, T), chunks(T))
        let states = scratch  // the state before each chunk, then R
        let R = states + count * d * width
        let G = R + d * width
        let dK = G + T * width
        let tiles = Scratch(P: dK + T * d, L: L, d: d, dv: dv)
        // the states before each chunk, as forward had them
        states.update(repeating: 0, count: d * width)
        for c in 1..<max(count, 1) {
            (states + c * d * width).update(from: states + (c - 1) * d * width, count: d * width)
            advance(states + c * d * width, x, g, c0: (c - 1) * chunk, n: chunk, kw: tiles.qw)
        }
        // G̃_i = [r g, c_i]; da_i (in dlogF until the end) from den = exp(-a_i - M_i)
        for i in 0..<T {
            let (gi, Gi) = (dg.dout + i * dg.dos, G + i * width)
            let gh = dot(gi, o.out + i * o.os, dv)
            for e in 0..<dv { Gi[e] = o.rinv[i] * gi[e] }
            Gi[dv] = -o.rinv[i] * gh * o.sign[i]
            dg.dlogF[i] = o.sign[i] == 0 ? Double(gh) : 0
        }
        dK.update(repeating: 0, count: T * d)
        R.update(repeating: 0, count: d * width)
        for c in stride(from: count - 1, through: 0, by: -1) {
            let c0 = c * chunk
            let n = min(chunk, T - c0)
            intraBackward(x, g, G: G, dK: dK, dg, c0: c0, n: n, tiles)
            if c > 0 { stateToQuery(x, g, G: G, state: states + c * d * width, dg, c0: c0, n: n, tmp: tiles.tmp) }
            if c < count - 1 { laterToKeys(x, g, R: R, dK: dK, dg, c0: c0, n: n, tmp: tiles.tmp) }
            if c > 0 { carry(R, x, g, G: G, c0: c0, n: n, qw: tiles.qw) }
        }
        // db_j = k_j·dk_j of this head; d log i = db, da -= db, d log f = reverse cumsum(da)
        for j in 0..<T {
            let (kj, dkj) = (x.k + j * x.ks, dK + j * d)
            let db = Double(dot(kj, dkj, d))
            dg.dlogI[j] = db
            dg.dlogF[j] -= db
            for e in 0..<d { dg.dk[j * dg.dks + e] += dkj[e] }
        }
        reverseCumsum(dg.dlogF, T)
    }

    /// The tiles of one chunk's backward.
    private struct Scratch {
        let P: UnsafeMutablePointer<Float>, W: UnsafeMutablePointer<Float>, dS: UnsafeMutablePointer<Float>
        let tmp: UnsafeMutablePointer<Float>, qw: UnsafeMutablePointer<Float>

        init(P: UnsafeMutablePointer<Float>, L: Int, d: Int, dv: Int) {
            (self.P, W, dS) = (P, P + L * L, P + 2 * L * L)
            tmp = P + 3 * L * L
            qw = tmp + L * max(d, dv)
        }
    }

    /// Within the chunk: dS = (G̃ Ṽᵀ) ∘ W, dv += Pᵀ (r g), dq += s dS k, dK += s dSᵀ q.
    private func intraBackward(
        _ x: Head, _ g: Gates, G: UnsafeMutablePointer<Float>, dK: UnsafeMutablePointer<Float>, _ dg: Grads,
        c0: Int, n: Int, _ t: Scratch
    ) {
        let (q, k, v, Gc) = (x.q + c0 * x.qs, x.k + c0 * x.ks, x.v + c0 * x.vs, G + c0 * width)
        intraChunk(x, g, c0: c0, n: n, P: t.P, W: t.W)
        // forward was: H̃ = P Ṽ ; so dP = G̃ Ṽᵀ (the ones column adds c_i to row i), dv += Pᵀ (r g)
        BLAS.gemm(transB: true, M: n, N: n, K: dv, A: Gc, lda: width, B: v, ldb: x.vs, beta: 0, C: t.dS, ldc: n)
        for r in 0..<n {
            let cr = Gc[r * width + dv]
            for j in 0..<n { t.dS[r * n + j] = (t.dS[r * n + j] + cr) * t.W[r * n + j] }
        }
        BLAS.gemm(
            transA: true, M: n, N: dv, K: n, A: t.P, lda: n, B: Gc, ldb: width, beta: 1, C: dg.dv + c0 * dg.dvs,
            ldc: dg.dvs)
        // forward was: P = W ∘ (s q kᵀ) ; so dq += s dS k, dk += s dSᵀ q
        BLAS.gemm(
            M: n, N: d, K: n, alpha: scale, A: t.dS, lda: n, B: k, ldb: x.ks, beta: 1, C: dg.dq + c0 * dg.dqs,
            ldc: dg.dqs)
        BLAS.gemm(
            transA: true, M: n, N: d, K: n, alpha: scale, A: t.dS, lda: n, B: q, ldb: x.qs, beta: 1,
            C: dK + c0 * d, ldc: d)
    }

    /// From earlier chunks (forward added s exp(M_{c0-1} - M_i) q_i S̃): dq_i += that factor S̃ G̃_i.
    private func stateToQuery(
        _ x: Head, _ g: Gates, G: UnsafeMutablePointer<Float>, state: UnsafePointer<Float>, _ dg: Grads, c0: Int,
        n: Int, tmp: UnsafeMutablePointer<Float>
    ) {
        BLAS.gemm(
            transB: true, M: n, N: d, K: width, A: G + c0 * width, lda: width, B: state, ldb: width, beta: 0,
            C: tmp, ldc: d)
        for r in 0..<n {
            let f = scale * Float(exp(g.M[c0 - 1] - g.M[c0 + r]))
            let dq = dg.dq + (c0 + r) * dg.dqs
            for e in 0..<d { dq[e] += f * tmp[r * d + e] }
        }
    }

    /// From later chunks through R: dK_j += s exp(b_j - M_e) R ṽ_j, dv_j += s exp(b_j - M_e) R_vᵀ k_j.
    private func laterToKeys(
        _ x: Head, _ g: Gates, R: UnsafePointer<Float>, dK: UnsafeMutablePointer<Float>, _ dg: Grads, c0: Int,
        n: Int, tmp: UnsafeMutablePointer<Float>
    ) {
        let top = g.M[c0 + n - 1]
        BLAS.gemm(
            transB: true, M: n, N: d, K: dv, A: x.v + c0 * x.vs, lda: x.vs, B: R, ldb: width, beta: 0, C: tmp,
            ldc: d)
        for r in 0..<n {
            let f = scale * Float(exp(g.b[c0 + r] - top))
            let row = dK + (c0 + r) * d
            for e in 0..<d { row[e] += f * (tmp[r * d + e] + R[e * width + dv]) }
        }
        BLAS.gemm(M: n, N: dv, K: d, A: x.k + c0 * x.ks, lda: x.ks, B: R, ldb: width, beta: 0, C: tmp, ldc: dv)
        for r in 0..<n {
            let f = scale * Float(exp(g.b[c0 + r] - top))
            let row = dg.dv + (c0 + r) * dg.dvs
            for e in 0..<dv { row[e] += f * tmp[r * dv + e] }
        }
    }

    /// R for the chunk before c0: R = exp(M' - M_e) R + Σ_i exp(M' - M_i) q_i G̃_iᵀ, M' = M_{c0-1}.
    private func carry(
        _ R: UnsafeMutablePointer<Float>, _ x: Head, _ g: Gates, G: UnsafePointer<Float>, c0: Int, n: Int,
        qw: UnsafeMutablePointer<Float>
    ) {
        let ref = g.M[c0 - 1]
        scaleInPlace(R, d * width, by: Float(exp(ref - g.M[c0 + n - 1])))
        for r in 0..<n {
            let f = Float(exp(ref - g.M[c0 + r]))
            for e in 0..<d { qw[r * d + e] = f * x.q[(c0 + r) * x.qs + e] }
        }
        BLAS.gemm(
            transA: true, M: d, N: width, K: n, A: qw, lda: d, B: G + c0 * width, ldb: width, beta: 1, C: R,
            ldc: width)
    }
}

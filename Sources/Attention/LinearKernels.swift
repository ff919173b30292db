// The chunked linear recurrence shared by `linear` (no decay, Linear.swift) and `gla` (a decay per
// key dimension, GLA.swift), per head on strided rows (Yang et al. 2024, arXiv 2312.06635, §3-4):
//   S_t = diag(a_t) S_{t-1} + k_tᵀ v_t,  o_t = s q_t S_t   (a_t = 1 without decay)
// in chunks of n rows, with b_t = Σ_{l=c0..t} log a_l (chunk-local, per key dimension) and the
// state S entering the chunk:
//   O_c = (Qs ⊙ e^b) S + tril(A) V,  A_ij = Σ_m qs_im k_jm e^(b_im - b_jm)  (j <= i), Qs = s Q
//   S  <- diag(e^(b_last)) S + (K ⊙ e^(b_last - b))ᵀ V
// Every exponent there is <= 0 except inside A. When the chunk's whole decay -b_last is at most
// `maxFactorExponent` (always, unless gates near 0 persist for a chunk), A is one gemm,
// A = (Qs ⊙ e^b)(K ⊙ e^(-b))ᵀ. Otherwise A is built in sub-chunks of 16 query rows, each factored
// against b at the start of its sub-chunk, r (fla's secondary chunking):
//   A = (Qs ⊙ e^(b - r)) (K ⊙ e^(r - b))ᵀ, exponents <= 0 for every key before the sub-chunk;
// for keys inside it r - b_j is at most the sub-chunk's own decay, and when that exceeds
// `maxFactorExponent` too the diagonal block is computed pair by pair (no overflow ever).
// Backward: the states entering each chunk are recomputed by a forward sweep, then a reverse sweep
// carries dS:  dV += Aᵀ dO + (K ⊙ e^(b_last - b)) dS,  dK += (V dSᵀ) ⊙ e^(b_last - b) + dAᵀ-terms,
// dQ += s (dO S_inᵀ) ⊙ e^b + dA-terms,  dS <- diag(e^(b_last)) dS + (Qs ⊙ e^b)ᵀ dO.
// The decay's gradient needs no sweep of its own: with the global cumulative B_t = Σ_{l<=t} log a_l,
// q_t meets e^(B_t) and k_j meets e^(-B_j), so dB_t = q_t ⊙ dq_t - k_t ⊙ dk_t (the caller's job,
// from this head's dq and dk) and d log a_l = Σ_{t>=l} dB_t.
import Basics
import Foundation
import Kernels

struct ChunkedLinearKernel {
    /// Option "chunk" of the variants on this kernel: rows per chunk (speed only).
    static let chunkOption = AttentionOption(
        "chunk", default: 64, range: .atLeast(1, "must be positive"),
        doc: "rows per chunk of the chunked training form (speed only, the results do not change)")

    let d: Int, dv: Int, chunk: Int
    /// Scale s of q.
    let scale: Float

    /// Query rows per factored block of A when the chunk decays too much for one block.
    static let sub = 16
    /// The largest e^x a factored key may carry (float32 overflows at x ≈ 88).
    static let maxFactorExponent: Float = 40

    /// One head: rows of q (T, d), k (T, d), v (T, dv) and, with decay, log a (T, d), each with
    /// its row stride.
    struct Head {
        var q: UnsafePointer<Float>, qs: Int
        var k: UnsafePointer<Float>, ks: Int
        var v: UnsafePointer<Float>, vs: Int
        var logA: UnsafePointer<Float>? = nil, las: Int = 0
    }

    /// How a chunk's A is factored.
    private enum Mode {
        /// No decay: A = Qs Kᵀ.
        case plain
        /// A = (Qs ⊙ e^b)(K ⊙ e^(-b))ᵀ in one gemm.
        case whole
        /// Per sub-chunk of query rows (strong decay).
        case sub
    }

    /// The scratch of one chunk (n rows), carved from one buffer: qs = s q; b; E = e^b; F =
    /// e^(b_last - b); Qe = qs ⊙ E; Ki = k ⊙ e^(-b) (k without decay); Ke = k ⊙ F; eq, qh, ek, kh
    /// the factors of a sub-chunk (ek = e^(-b) in the whole mode); then the states entering each
    /// chunk (backward).
    private struct Work {
        var S, dS, A, dA, qs, b, E, F, Qe, Ki, Ke, tmp, eq, qh, ek, kh, eL: UnsafeMutablePointer<Float>
        var states: UnsafeMutablePointer<Float>

        init(_ p: UnsafeMutablePointer<Float>, d: Int, dv: Int, n: Int) {
            var at = p
            func take(_ count: Int) -> UnsafeMutablePointer<Float> {
                defer { at += count }
                return at
            }
            (S, dS, A, dA) = (take(d * dv), take(d * dv), take(n * n), take(n * n))
            (qs, b, E, F, Qe, Ki, Ke, tmp) = (
                take(n * d), take(n * d), take(n * d), take(n * d), take(n * d), take(n * d), take(n * d),
                take(n * d)
            )
            (eq, qh, ek, kh, eL) = (take(sub * d), take(sub * d), take(n * d), take(n * d), take(d))
            states = at
        }

        static func count(d: Int, dv: Int, n: Int) -> Int { 2 * d * dv + 2 * n * n + 10 * n * d + 2 * sub * d + d }
    }

    /// Floats of scratch forward or backward needs for T rows.
    func scratchCount(T: Int) -> Int {
        Work.count(d: d, dv: dv, n: chunk) + (T + chunk - 1) / chunk * d * dv
    }

    // MARK: - Chunk preparation

    /// Fills the chunk's buffers (see Work) and says how A is factored.
    private func prepare(_ x: Head, c0: Int, n: Int, _ w: Work) -> Mode {
        for i in 0..<n {
            let (q, k) = (x.q + (c0 + i) * x.qs, x.k + (c0 + i) * x.ks)
            for m in 0..<d { w.qs[i * d + m] = scale * q[m] }
            guard let logA = x.logA else {
                (w.Ke + i * d).update(from: k, count: d)
                continue
            }
            let la = logA + (c0 + i) * x.las
            for m in 0..<d { w.b[i * d + m] = (i > 0 ? w.b[(i - 1) * d + m] : 0) + la[m] }
        }
        guard x.logA != nil else {
            w.Qe.update(from: w.qs, count: n * d)
            w.Ki.update(from: w.Ke, count: n * d)
            return .plain
        }
        let last = w.b + (n - 1) * d
        w.eL.update(from: last, count: d)
        _ = expShiftSum(w.eL, d, shift: 0)
        w.E.update(from: w.b, count: n * d)
        _ = expShiftSum(w.E, n * d, shift: 0)
        var whole = true
        for m in 0..<d where -last[m] > Self.maxFactorExponent { whole = false }
        if whole {  // ek = e^(-b)
            w.ek.update(from: w.b, count: n * d)
            _ = expShiftSum(w.ek, n * d, scale: -1, shift: 0)
        }
        for i in 0..<n {
            let k = x.k + (c0 + i) * x.ks
            for m in 0..<d {
                let j = i * d + m
                w.Qe[j] = w.qs[j] * w.E[j]
                if whole {
                    w.F[j] = w.ek[j] * w.eL[m]
                    w.Ki[j] = k[m] * w.ek[j]
                } else {
                    w.F[j] = exp(last[m] - w.b[j])
                }
                w.Ke[j] = k[m] * w.F[j]
            }
        }
        return whole ? .whole : .sub
    }

    /// For the query rows i0..<i1 of the chunk: eq = e^(b - r) and qh = qs ⊙ eq on those rows,
    /// ek = e^(r - b) and kh = k ⊙ ek on the keys before i1 (before i0 only when the diagonal block
    /// is not safe to factor), r = b at row i0 - 1 (0 for the first). Returns the keys factored.
    private func factor(_ x: Head, c0: Int, i0: Int, i1: Int, _ w: Work) -> Int {
        let r = i0 == 0 ? nil : UnsafePointer(w.b + (i0 - 1) * d)
        let lastRow = w.b + (i1 - 1) * d
        var safe = true
        for m in 0..<d where (r?[m] ?? 0) - lastRow[m] > Self.maxFactorExponent { safe = false }
        let keys = safe ? i1 : i0
        for i in i0..<i1 {
            for m in 0..<d {
                let e = exp(w.b[i * d + m] - (r?[m] ?? 0))
                w.eq[(i - i0) * d + m] = e
                w.qh[(i - i0) * d + m] = w.qs[i * d + m] * e
            }
        }
        for j in 0..<keys {
            let k = x.k + (c0 + j) * x.ks
            for m in 0..<d {
                let e = exp((r?[m] ?? 0) - w.b[j * d + m])
                w.ek[j * d + m] = e
                w.kh[j * d + m] = k[m] * e
            }
        }
        return keys
    }

    /// Σ_m qs_im k_jm e^(b_im - b_jm), pair by pair (the unfactored diagonal block).
    private func pair(_ x: Head, c0: Int, i: Int, j: Int, _ w: Work) -> Float {
        let k = x.k + (c0 + j) * x.ks
        var s: Float = 0
        for m in 0..<d { s += w.qs[i * d + m] * k[m] * exp(w.b[i * d + m] - w.b[j * d + m]) }
        return s
    }

    /// A (n, n) = tril of the chunk's intra scores (zeros above the diagonal).
    private func intraScores(_ x: Head, c0: Int, n: Int, mode: Mode, _ w: Work) {
        switch mode {
        case .plain, .whole:
            BLAS.gemm(transB: true, M: n, N: n, K: d, A: w.Qe, lda: d, B: w.Ki, ldb: d, beta: 0, C: w.A, ldc: n)
        case .sub:
            for i0 in stride(from: 0, to: n, by: Self.sub) {
                let i1 = min(i0 + Self.sub, n)
                let keys = factor(x, c0: c0, i0: i0, i1: i1, w)
                BLAS.gemm(
                    transB: true, M: i1 - i0, N: keys, K: d, A: w.qh, lda: d, B: w.kh, ldb: d, beta: 0,
                    C: w.A + i0 * n, ldc: n)
                for i in i0..<i1 where keys < i1 {
                    for j in i0...i { w.A[i * n + j] = pair(x, c0: c0, i: i, j: j, w) }
                }
            }
        }
        for i in 0..<n { (w.A + i * n + i + 1).update(repeating: 0, count: n - i - 1) }
    }

    // MARK: - Forward

    /// out (T, dv) rows os apart = every o_t; scratch (scratchCount(T:)).
    func forward(_ x: Head, out: UnsafeMutablePointer<Float>, os: Int, T: Int, scratch: UnsafeMutablePointer<Float>) {
        let w = Work(scratch, d: d, dv: dv, n: chunk)
        w.S.update(repeating: 0, count: d * dv)
        for c0 in stride(from: 0, to: T, by: chunk) {
            let n = min(chunk, T - c0)
            let mode = prepare(x, c0: c0, n: n, w)
            intraScores(x, c0: c0, n: n, mode: mode, w)
            let o = out + c0 * os
            // O = Qe S + A V
            BLAS.gemm(M: n, N: dv, K: d, A: w.Qe, lda: d, B: w.S, ldb: dv, beta: 0, C: o, ldc: os)
            BLAS.gemm(M: n, N: dv, K: n, A: w.A, lda: n, B: x.v + c0 * x.vs, ldb: x.vs, beta: 1, C: o, ldc: os)
            advance(x, c0: c0, n: n, mode: mode, w)
        }
    }

    /// S <- diag(eL) S + Keᵀ V of the chunk.
    private func advance(_ x: Head, c0: Int, n: Int, mode: Mode, _ w: Work) {
        if mode != .plain { for m in 0..<d { scaleInPlace(w.S + m * dv, dv, by: w.eL[m]) } }
        BLAS.gemm(
            transA: true, M: d, N: dv, K: n, A: w.Ke, lda: d, B: x.v + c0 * x.vs, ldb: x.vs, beta: 1, C: w.S, ldc: dv)
    }

    // MARK: - Backward

    /// Output gradients of one head, each (T, width) with its row stride; accumulated (+=).
    struct Grads {
        var dout: UnsafePointer<Float>, dos: Int
        var dq: UnsafeMutablePointer<Float>, dqs: Int
        var dk: UnsafeMutablePointer<Float>, dks: Int
        var dv: UnsafeMutablePointer<Float>, dvs: Int
    }

    /// Accumulates dq, dk, dv of sum(out * dout) after `forward` on the same head.
    func backward(_ x: Head, _ g: Grads, T: Int, scratch: UnsafeMutablePointer<Float>) {
        let w = Work(scratch, d: d, dv: dv, n: chunk)
        w.S.update(repeating: 0, count: d * dv)
        let chunks = (T + chunk - 1) / chunk
        for c in 0..<chunks {  // the state entering every chunk
            let c0 = c * chunk
            let n = min(chunk, T - c0)
            (w.states + c * d * dv).update(from: w.S, count: d * dv)
            advance(x, c0: c0, n: n, mode: prepare(x, c0: c0, n: n, w), w)
        }
        w.dS.update(repeating: 0, count: d * dv)
        for c in stride(from: chunks - 1, through: 0, by: -1) {
            let c0 = c * chunk
            let n = min(chunk, T - c0)
            let mode = prepare(x, c0: c0, n: n, w)
            let dO = g.dout + c0 * g.dos
            let (dq, dk, dV) = (g.dq + c0 * g.dqs, g.dk + c0 * g.dks, g.dv + c0 * g.dvs)
            let decay = mode != .plain
            // forward was: S_next = diag(eL) S + Keᵀ V ; so dV += Ke dS_next, dKe = V dS_nextᵀ
            BLAS.gemm(M: n, N: dv, K: d, A: w.Ke, lda: d, B: w.dS, ldb: dv, beta: 1, C: dV, ldc: g.dvs)
            BLAS.gemm(
                transB: true, M: n, N: d, K: dv, A: x.v + c0 * x.vs, lda: x.vs, B: w.dS, ldb: dv, beta: 0,
                C: w.tmp, ldc: d)
            add(w.tmp, times: decay ? w.F : nil, weight: 1, to: dk, ld: g.dks, n: n)
            // forward was: O = Qe S + A V ; so dQe = dO Sᵀ (dq = s dQe ⊙ E) and dS += Qeᵀ dO
            BLAS.gemm(
                transB: true, M: n, N: d, K: dv, A: dO, lda: g.dos, B: w.states + c * d * dv, ldb: dv, beta: 0,
                C: w.tmp, ldc: d)
            add(w.tmp, times: decay ? w.E : nil, weight: scale, to: dq, ld: g.dqs, n: n)
            if decay { for m in 0..<d { scaleInPlace(w.dS + m * dv, dv, by: w.eL[m]) } }
            BLAS.gemm(transA: true, M: d, N: dv, K: n, A: w.Qe, lda: d, B: dO, ldb: g.dos, beta: 1, C: w.dS, ldc: dv)
            intraBackward(x, g, c0: c0, n: n, mode: mode, w)
        }
    }

    /// dst (n rows ld apart) += weight * src (n, d) ⊙ factor (n, d) (nil: 1).
    private func add(
        _ src: UnsafePointer<Float>, times factor: UnsafePointer<Float>?, weight: Float,
        to dst: UnsafeMutablePointer<Float>, ld: Int, n: Int
    ) {
        for i in 0..<n {
            let (row, s) = (dst + i * ld, src + i * d)
            if let f = factor.map({ $0 + i * d }) {
                for m in 0..<d { row[m] += weight * f[m] * s[m] }
            } else {
                for m in 0..<d { row[m] += weight * s[m] }
            }
        }
    }

    /// The intra-chunk part: dV += Aᵀ dO, dA = tril(dO Vᵀ), then dq, dk through A's factors.
    private func intraBackward(_ x: Head, _ g: Grads, c0: Int, n: Int, mode: Mode, _ w: Work) {
        let dO = g.dout + c0 * g.dos
        let (dq, dk) = (g.dq + c0 * g.dqs, g.dk + c0 * g.dks)
        intraScores(x, c0: c0, n: n, mode: mode, w)
        // forward was: O += A V ; so dV += Aᵀ dO and dA = dO Vᵀ (lower triangle)
        BLAS.gemm(
            transA: true, M: n, N: dv, K: n, A: w.A, lda: n, B: dO, ldb: g.dos, beta: 1, C: g.dv + c0 * g.dvs,
            ldc: g.dvs)
        BLAS.gemm(
            transB: true, M: n, N: n, K: dv, A: dO, lda: g.dos, B: x.v + c0 * x.vs, ldb: x.vs, beta: 0, C: w.dA,
            ldc: n)
        for i in 0..<n { (w.dA + i * n + i + 1).update(repeating: 0, count: n - i - 1) }
        switch mode {
        case .plain:
            // forward was: A = s q kᵀ ; so dq += s dA k and dk += dAᵀ (s q)
            BLAS.gemm(M: n, N: d, K: n, alpha: scale, A: w.dA, lda: n, B: w.Ki, ldb: d, beta: 1, C: dq, ldc: g.dqs)
            BLAS.gemm(transA: true, M: n, N: d, K: n, A: w.dA, lda: n, B: w.qs, ldb: d, beta: 1, C: dk, ldc: g.dks)
        case .whole:
            // forward was: A = Qe Kiᵀ, Qe = s q ⊙ E, Ki = k ⊙ e^(-b) ; so dq += s (dA Ki) ⊙ E and
            // dk += (dAᵀ Qe) ⊙ e^(-b)
            BLAS.gemm(M: n, N: d, K: n, A: w.dA, lda: n, B: w.Ki, ldb: d, beta: 0, C: w.tmp, ldc: d)
            add(w.tmp, times: w.E, weight: scale, to: dq, ld: g.dqs, n: n)
            BLAS.gemm(transA: true, M: n, N: d, K: n, A: w.dA, lda: n, B: w.Qe, ldb: d, beta: 0, C: w.tmp, ldc: d)
            add(w.tmp, times: w.ek, weight: 1, to: dk, ld: g.dks, n: n)
        case .sub:
            subBackward(x, g, c0: c0, n: n, w)
        }
    }

    /// dq, dk of the intra scores built per sub-chunk.
    private func subBackward(_ x: Head, _ g: Grads, c0: Int, n: Int, _ w: Work) {
        let (dq, dk) = (g.dq + c0 * g.dqs, g.dk + c0 * g.dks)
        for i0 in stride(from: 0, to: n, by: Self.sub) {
            let i1 = min(i0 + Self.sub, n)
            let keys = factor(x, c0: c0, i0: i0, i1: i1, w)
            let m = i1 - i0
            if keys > 0 {
                // forward was: A[rows] = qh khᵀ, qh = s q ⊙ eq, kh = k ⊙ ek
                BLAS.gemm(M: m, N: d, K: keys, A: w.dA + i0 * n, lda: n, B: w.kh, ldb: d, beta: 0, C: w.tmp, ldc: d)
                for i in 0..<m {
                    for c in 0..<d { dq[(i0 + i) * g.dqs + c] += scale * w.tmp[i * d + c] * w.eq[i * d + c] }
                }
                BLAS.gemm(
                    transA: true, M: keys, N: d, K: m, A: w.dA + i0 * n, lda: n, B: w.qh, ldb: d, beta: 0, C: w.tmp,
                    ldc: d)
                for j in 0..<keys {
                    for c in 0..<d { dk[j * g.dks + c] += w.tmp[j * d + c] * w.ek[j * d + c] }
                }
            }
            if keys < i1 { pairBackward(x, dq: dq, dqs: g.dqs, dk: dk, dks: g.dks, c0: c0, i0: i0, i1: i1, n: n, w) }
        }
    }

    /// The unfactored diagonal block's dq and dk, pair by pair.
    private func pairBackward(
        _ x: Head, dq: UnsafeMutablePointer<Float>, dqs: Int, dk: UnsafeMutablePointer<Float>, dks: Int, c0: Int,
        i0: Int, i1: Int, n: Int, _ w: Work
    ) {
        for i in i0..<i1 {
            for j in i0...i {
                let a = w.dA[i * n + j]
                let k = x.k + (c0 + j) * x.ks
                for m in 0..<d {
                    let e = exp(w.b[i * d + m] - w.b[j * d + m])
                    dq[i * dqs + m] += scale * a * k[m] * e
                    dk[j * dks + m] += a * w.qs[i * d + m] * e
                }
            }
        }
    }
}

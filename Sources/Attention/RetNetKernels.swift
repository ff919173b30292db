// The per-head kernels of RetNet retention (RetNet.swift, arXiv 2307.08621,
// shared/spec/attention.md §1f) on strided, already rotated q and k, and the tensor-level entry
// point ([H][T][d] arrays, any dv) for the `tracker attention` command and the golden tests.
//   forward:  A = s (q kᵀ ∘ D), D_ij = γ^(i-j) (j <= i), O = A v;  optional y = O / rms(O) per head
//   backward: dA = (dO vᵀ) ∘ D, dv = Aᵀ dO, dq = s dA k, dk = s dAᵀ q
// Tiles of query rows as in SoftmaxRoPE: one sgemm for the tile's scores against keys 0..<end of
// tile, the decay applied as a contiguous multiply with a reversed power table, one sgemm for A v.
import Foundation
import Kernels

struct RetentionKernel {
    let d: Int, dv: Int, tile: Int

    struct Head {
        var q: UnsafePointer<Float>, qs: Int  // (T, d) rotated
        var k: UnsafePointer<Float>, ks: Int  // (T, d) rotated
        var v: UnsafePointer<Float>, vs: Int  // (T, dv)
    }

    /// decay (T): decay[n] = γ^(T-1-n), so D_ij = decay[T-1-i+j]; powers below 1e-30 are 0.
    static func fillDecay(_ decay: UnsafeMutablePointer<Float>, gamma: Double, T: Int) {
        for n in 0..<T {
            let p = pow(gamma, Double(T - 1 - n))
            decay[n] = p < 1e-30 ? 0 : Float(p)
        }
    }

    /// S (R, N) = s q[i0..<i0+R] kᵀ ∘ D with zeros where j > i.
    private func scores(
        _ x: Head, i0: Int, R: Int, decay: UnsafePointer<Float>, T: Int,
        S: UnsafeMutablePointer<Float>
    ) {
        let N = i0 + R
        BLAS.gemm(
            transB: true, M: R, N: N, K: d, alpha: 1 / Float(d).squareRoot(), A: x.q + i0 * x.qs,
            lda: x.qs, B: x.k, ldb: x.ks, beta: 0, C: S, ldc: N)
        for r in 0..<R {
            let i = i0 + r
            decayRow(S + r * N, decay + T - 1 - i, i + 1)
            (S + r * N + i + 1).update(repeating: 0, count: N - i - 1)
        }
    }

    private func decayRow(_ row: UnsafeMutablePointer<Float>, _ dec: UnsafePointer<Float>, _ n: Int) {
        for j in 0..<n { row[j] *= dec[j] }
    }

    // MARK: - Forward

    /// out (T, dv) rows os apart; scratch (tile * T).
    func forward(
        _ x: Head, decay: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, os: Int, T: Int,
        scratch: UnsafeMutablePointer<Float>
    ) {
        for i0 in stride(from: 0, to: T, by: tile) {
            let R = min(tile, T - i0)
            let N = i0 + R
            scores(x, i0: i0, R: R, decay: decay, T: T, S: scratch)
            // O[i0..<N] (R, dv) = A (R, N) v[0..<N]
            BLAS.gemm(M: R, N: dv, K: N, A: scratch, lda: N, B: x.v, ldb: x.vs, beta: 0, C: out + i0 * os, ldc: os)
        }
    }

    // MARK: - Backward

    /// Accumulates dq, dk (gradients of the rotated q, k) and dv; scratch (2 * tile * T).
    func backward(
        _ x: Head, decay: UnsafePointer<Float>, dout: UnsafePointer<Float>, dos: Int,
        dq: UnsafeMutablePointer<Float>, dqs: Int, dk: UnsafeMutablePointer<Float>, dks: Int,
        dv dV: UnsafeMutablePointer<Float>, dvs: Int, T: Int, scratch: UnsafeMutablePointer<Float>
    ) {
        let scale = 1 / Float(d).squareRoot()
        let A = scratch
        let dA = scratch + tile * T
        for i0 in stride(from: 0, to: T, by: tile) {
            let R = min(tile, T - i0)
            let N = i0 + R
            let dO = dout + i0 * dos
            scores(x, i0: i0, R: R, decay: decay, T: T, S: A)
            // forward was: O = A v ; so dv += Aᵀ dO and dA = dO vᵀ (∘ D from A = s q kᵀ ∘ D)
            BLAS.gemm(transA: true, M: N, N: dv, K: R, A: A, lda: N, B: dO, ldb: dos, beta: 1, C: dV, ldc: dvs)
            BLAS.gemm(transB: true, M: R, N: N, K: dv, A: dO, lda: dos, B: x.v, ldb: x.vs, beta: 0, C: dA, ldc: N)
            for r in 0..<R {
                let i = i0 + r
                decayRow(dA + r * N, decay + T - 1 - i, i + 1)
                (dA + r * N + i + 1).update(repeating: 0, count: N - i - 1)
            }
            // forward was: A = s q kᵀ ∘ D ; so dq += s (dA∘D) k and dk += s (dA∘D)ᵀ q
            BLAS.gemm(
                M: R, N: d, K: N, alpha: scale, A: dA, lda: N, B: x.k, ldb: x.ks, beta: 1,
                C: dq + i0 * dqs, ldc: dqs)
            BLAS.gemm(
                transA: true, M: N, N: d, K: R, alpha: scale, A: dA, lda: N, B: x.q + i0 * x.qs,
                ldb: x.qs, beta: 1, C: dk, ldc: dks)
        }
    }

    /// Per-row RMS norm in place, y = o / sqrt(mean(o²) + eps) (no gain: Wo absorbs it); rstd (T).
    static func normForward(
        _ o: UnsafeMutablePointer<Float>, os: Int, rstd: UnsafeMutablePointer<Float>,
        T: Int, n: Int
    ) {
        for t in 0..<T {
            let row = o + t * os
            let r = 1 / (dot(row, row, n) / Float(n) + normEpsilon).squareRoot()
            for c in 0..<n { row[c] *= r }
            rstd[t] = r
        }
    }

    /// dO (T, n) = rstd (dy - y (dy·y)/n), the gradient before the norm, from y and rstd only.
    static func normBackward(
        dO: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, dys: Int,
        y: UnsafePointer<Float>, ys: Int, rstd: UnsafePointer<Float>, T: Int, n: Int
    ) {
        for t in 0..<T {
            let g = dy + t * dys
            let yt = y + t * ys
            let r = rstd[t]
            let gy = dot(g, yt, n) / Float(n)
            for c in 0..<n { dO[t * n + c] = r * (g[c] - yt[c] * gy) }
        }
    }
}

extension RetNet {
    /// Output and gradients of sum(out * dout) from `compute`.
    public struct Result: Sendable {
        public var out: [Float], dq: [Float], dk: [Float], dv: [Float]
    }

    /// The whole map on plain tensors: q [H][T][d], k [Hkv][T][d], v [Hkv][T][dv], dout [H][T][dv]
    /// (nil: forward only), gammas [H], tokens at pos0 ..< pos0+T, the options as RetNet's.
    /// groupNorm false gives the spec's un-normalised core.
    public static func compute(
        q: [Float], k: [Float], v: [Float], dout: [Float]?, heads H: Int, kvHeads: Int, T: Int, d: Int,
        dv: Int, gammas: [Double], pos0: Int = 0, groupNorm: Bool, ropeBase: Double, tile: Int
    ) -> Result {
        precondition(kvHeads >= 1 && H % kvHeads == 0 && d % 2 == 0, "kvHeads must divide heads, d even")
        precondition(q.count == H * T * d && k.count == kvHeads * T * d && v.count == kvHeads * T * dv)
        let gam = gammas
        precondition(gam.count == H, "one gamma per query head")
        let kernel = RetentionKernel(d: d, dv: dv, tile: tile)
        // one arena: qr, kr, cos|sin, dqr, dkr, dv, out, rstd, scores, decay, dO before the norm
        let sizes = [q.count, k.count, T * d, q.count, k.count, v.count, H * T * dv, T, 2 * tile * T, T, T * dv]
        let arena = Arena(sizes)
        defer { arena.free() }
        let parts = arena.parts
        let (qr, kr, cos, dqr, dkr, dvv, out) = (parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6])
        let (rstd, S, decay, dOraw) = (parts[7], parts[8], parts[9], parts[10])
        let sin = cos + T * d / 2
        ropeTables(cos: cos, sin: sin, T: T, hs: d, pos0: pos0, base: ropeBase)
        ropeForward(out: qr, inp: q, cos: cos, sin: sin, B: H, T: T, heads: 1, hs: d, outStride: d, inpStride: d)
        ropeForward(
            out: kr, inp: k, cos: cos, sin: sin, B: kvHeads, T: T, heads: 1, hs: d, outStride: d,
            inpStride: d)
        v.withUnsafeBufferPointer { vp in
            for h in 0..<H {
                let g = h / (H / kvHeads)
                let o = out + h * T * dv
                let head = RetentionKernel.Head(
                    q: qr + h * T * d, qs: d, k: kr + g * T * d, ks: d,
                    v: vp.baseAddress! + g * T * dv, vs: dv)
                RetentionKernel.fillDecay(decay, gamma: gam[h], T: T)
                kernel.forward(head, decay: decay, out: o, os: dv, T: T, scratch: S)
                if groupNorm { RetentionKernel.normForward(o, os: dv, rstd: rstd, T: T, n: dv) }
                guard let dout else { continue }
                dout.withUnsafeBufferPointer { dy in
                    var g0 = dy.baseAddress! + h * T * dv
                    if groupNorm {
                        RetentionKernel.normBackward(dO: dOraw, dy: g0, dys: dv, y: o, ys: dv, rstd: rstd, T: T, n: dv)
                        g0 = UnsafePointer(dOraw)
                    }
                    kernel.backward(
                        head, decay: decay, dout: g0, dos: dv, dq: dqr + h * T * d, dqs: d,
                        dk: dkr + g * T * d, dks: d, dv: dvv + g * T * dv, dvs: dv, T: T, scratch: S)
                }
            }
        }
        var r = Result(out: Array(UnsafeBufferPointer(start: out, count: H * T * dv)), dq: [], dk: [], dv: [])
        guard dout != nil else { return r }
        r.dv = Array(UnsafeBufferPointer(start: dvv, count: v.count))
        (r.dq, r.dk) = (.init(repeating: 0, count: q.count), .init(repeating: 0, count: k.count))
        ropeBackward(
            dinp: &r.dq, dout: dqr, cos: cos, sin: sin, B: H, T: T, heads: 1, hs: d, dinpStride: d,
            doutStride: d)
        ropeBackward(
            dinp: &r.dk, dout: dkr, cos: cos, sin: sin, B: kvHeads, T: T, heads: 1, hs: d,
            dinpStride: d, doutStride: d)
        return r
    }

    /// γ_h = 1 - 2^(-5-h) (§1f).
    public static func defaultGammas(_ H: Int) -> [Double] { (0..<H).map { 1 - pow(2, -5 - Double($0)) } }
}

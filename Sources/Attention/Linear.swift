// Linear attention (Katharopoulos, Vyas, Pappas, Fleuret 2020, "Transformers are RNNs",
// arXiv 2006.16236), causal, with MQA/GQA (shared/spec/attention.md §1i):
//   φ(x) = elu(x) + 1,  S_t = Σ_{j<=t} φ(k_j)ᵀ v_j,  z_t = Σ_{j<=t} φ(k_j),
//   o_t = φ(q_t) S_t / (φ(q_t)·z_t + ε).
// Choices the paper leaves open: ε = 1e-6, added to the denominator (as the authors'
// fast-transformers code does; the denominator is > 0 anyway since φ > 0, ε only bounds 1/D when
// φ(q) is tiny); no 1/sqrt(d) scale (the normalisation cancels any scale of q up to ε); no
// positional encoding (the paper has none); with kv heads the state (S, z) belongs to the kv head
// and every query head of its group reads it.
// Training: the chunked form (LinearKernels.swift, option `chunk`, speed only) on v with a column
// of ones appended, whose output column is the denominator:
//   U = causal(φ(Q) φ(K)ᵀ) [V | 1],  D = U[:, dv] + ε,  o = U[:, :dv] / D.
// Backward: dU = [dO / D, -(dO·o) / D], the kernel's backward, then dq = dφ(q) ⊙ φ'(q) with
// φ'(x) = 1 (x > 0) or e^x, the same for k; dv is the first dv columns of d[V | 1].
// Decode: the recurrent form, S (hs, hs) and z (hs) per kv head: O(1) time and memory per token.
import Basics
import Foundation
import Kernels

public struct Linear: AttentionVariant {
    public static let name = "linear"
    public let shape: AttentionShape
    /// Option "chunk" (speed only).
    public let chunk: Int

    /// ε of the denominator.
    public static let epsilon: Float = 1e-6

    public static let options: [any AttentionOptionInfo] = [ChunkedLinearKernel.chunkOption]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        chunk = try reader.read(ChunkedLinearKernel.chunkOption, shape: shape)
        try reader.finish()
        self.shape = shape
    }

    private var core: LinearCore {
        LinearCore(H: shape.heads, Hkv: shape.kvHeads, d: shape.headSize, dv: shape.headSize, chunk: chunk)
    }

    /// Saved: the denominators D (B, NH, T).
    public func savedCount(B: Int, T: Int) -> Int { B * shape.heads * T }

    public func scratchCount(B: Int, T: Int) -> Int { core.scratchCount(T: T) }

    /// Head rows of sequence b of a layer call.
    private func sequence(_ io: AttentionIO, _ b: Int) -> LinearCore.Sequence {
        let (T, NH, NKV, hs, W) = (io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        let row = io.qkv + b * T * W
        return LinearCore.Sequence(
            T: T, q: HeadRows(row, head: hs, row: W), k: HeadRows(row + NH * hs, head: hs, row: W),
            v: HeadRows(row + (NH + NKV) * hs, head: hs, row: W), out: io.out + b * T * NH * hs, outHead: hs,
            outRow: NH * hs, den: io.saved + b * NH * T)
    }

    public func forward(_ io: AttentionIO) {
        for b in 0..<io.B { core.forward(sequence(io, b), scratch: io.scratch) }
    }

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let (T, NH, NKV, hs, W) = (io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        for b in 0..<io.B {
            let d = grads.dqkv + b * T * W
            core.backward(
                sequence(io, b), dout: HeadRows(grads.dout + b * T * NH * hs, head: hs, row: NH * hs),
                dq: MutableHeadRows(d, head: hs, row: W), dk: MutableHeadRows(d + NH * hs, head: hs, row: W),
                dv: MutableHeadRows(d + (NH + NKV) * hs, head: hs, row: W), scratch: io.scratch)
        }
    }

    /// The same core on head-major tensors (any dv).
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        let r = LinearCore(H: call.H, Hkv: call.Hkv, d: call.d, dv: call.dv, chunk: chunk).headMajor(
            q: call.q, k: call.k, v: call.v, dout: call.dout, T: call.T)
        return call.output(r)
    }

    // MARK: - Decode

    /// S (hs, hs) then z (hs) per kv head.
    public func cacheCount(maxTokens: Int) -> Int { shape.kvHeads * (shape.headSize + 1) * shape.headSize }

    /// φ(q) (hs) and the numerator with its denominator (hs + 1).
    public func decodeScratchCount(maxTokens: Int) -> Int { 2 * shape.headSize + 1 }

    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs) = (shape.heads, shape.kvHeads, shape.headSize)
        let width = (hs + 1) * hs
        if step.position == 0 { step.cache.update(repeating: 0, count: cacheCount(maxTokens: 1)) }
        for g in 0..<NKV {  // S += φ(k)ᵀ v, z += φ(k)
            let (k, v) = (step.qkv + (NH + g) * hs, step.qkv + (NH + NKV + g) * hs)
            let S = step.cache + g * width
            for a in 0..<hs {
                let f = LinearCore.phi(k[a])
                for c in 0..<hs { S[a * hs + c] += f * v[c] }
                S[hs * hs + a] += f
            }
        }
        let (fq, num) = (step.scratch, step.scratch + hs)
        for h in 0..<NH {  // o = φ(q) S / (φ(q)·z + ε)
            let S = step.cache + h / shape.groupSize * width
            for a in 0..<hs { fq[a] = LinearCore.phi(step.qkv[h * hs + a]) }
            BLAS.gemm(M: 1, N: hs, K: hs, A: fq, lda: hs, B: S, ldb: hs, beta: 0, C: num, ldc: hs)
            let den = dot(fq, S + hs * hs, hs) + Self.epsilon
            for c in 0..<hs { step.out[h * hs + c] = num[c] / den }
        }
    }
}

/// Rows of every head of one sequence: head h's row t at `base + h * head + t * row`.
struct HeadRows {
    var base: UnsafePointer<Float>, head: Int, row: Int
    init(_ base: UnsafePointer<Float>, head: Int, row: Int) { (self.base, self.head, self.row) = (base, head, row) }
    func at(_ h: Int) -> UnsafePointer<Float> { base + h * head }
}

/// The same, writable.
struct MutableHeadRows {
    var base: UnsafeMutablePointer<Float>, head: Int, row: Int
    init(_ base: UnsafeMutablePointer<Float>, head: Int, row: Int) {
        (self.base, self.head, self.row) = (base, head, row)
    }
    func at(_ h: Int) -> UnsafeMutablePointer<Float> { base + h * head }
}

/// Normalised linear attention over the heads of one sequence (the map in Linear.swift's header).
struct LinearCore {
    let H: Int, Hkv: Int, d: Int, dv: Int, chunk: Int

    /// φ(x) = elu(x) + 1.
    static func phi(_ x: Float) -> Float { x > 0 ? x + 1 : fastExp(x) }
    /// φ'(x).
    static func phiGrad(_ x: Float) -> Float { x > 0 ? 1 : fastExp(x) }

    /// Numerator and denominator in one: value width dv + 1.
    private var kernel: ChunkedLinearKernel { ChunkedLinearKernel(d: d, dv: dv + 1, chunk: chunk, scale: 1) }

    struct Sequence {
        var T: Int
        var q: HeadRows, k: HeadRows, v: HeadRows
        var out: UnsafeMutablePointer<Float>, outHead: Int, outRow: Int
        /// D (H, T).
        var den: UnsafeMutablePointer<Float>
    }

    /// φ(k), [v | 1], φ(q), U (T rows each) and their gradients, then the kernel's scratch.
    private struct Work {
        var fk, v1, fq, U, dfk, dv1, dfq, dU, kernel: UnsafeMutablePointer<Float>
        init(_ p: UnsafeMutablePointer<Float>, T: Int, d: Int, dv: Int) {
            (fk, v1, fq, U) = (p, p + T * d, p + T * (d + dv + 1), p + T * (2 * d + dv + 1))
            let g = p + T * (2 * d + 2 * dv + 2)
            (dfk, dv1, dfq, dU) = (g, g + T * d, g + T * (d + dv + 1), g + T * (2 * d + dv + 1))
            kernel = g + T * (2 * d + 2 * dv + 2)
        }
    }

    func scratchCount(T: Int) -> Int { 2 * T * (2 * d + 2 * dv + 2) + kernel.scratchCount(T: T) }

    /// φ(x) lane-wise.
    @inline(__always)
    private static func phi8(_ x: Vec8) -> Vec8 {
        vexp(x.replacing(with: 0, where: x .> 0)).replacing(with: x + 1, where: x .> 0)
    }

    /// φ of T rows (stride `stride`) into dst (T, d).
    func phiRows(_ src: UnsafePointer<Float>, stride: Int, T: Int, into dst: UnsafeMutablePointer<Float>) {
        for t in 0..<T {
            let (x, y) = (src + t * stride, dst + t * d)
            var m = 0
            while m + 8 <= d {
                store8(Self.phi8(load8(x + m)), y + m)
                m += 8
            }
            for m in m..<d { y[m] = Self.phi(x[m]) }
        }
    }

    /// φ(k) and [v | 1] of kv head g.
    private func prepareKV(_ s: Sequence, _ g: Int, _ w: Work) {
        phiRows(s.k.at(g), stride: s.k.row, T: s.T, into: w.fk)
        for t in 0..<s.T {
            (w.v1 + t * (dv + 1)).update(from: s.v.at(g) + t * s.v.row, count: dv)
            w.v1[t * (dv + 1) + dv] = 1
        }
    }

    private func head(_ w: Work) -> ChunkedLinearKernel.Head {
        ChunkedLinearKernel.Head(q: w.fq, qs: d, k: w.fk, ks: d, v: w.v1, vs: dv + 1)
    }

    func forward(_ s: Sequence, scratch: UnsafeMutablePointer<Float>) {
        let (T, w) = (s.T, Work(scratch, T: s.T, d: d, dv: dv))
        for g in 0..<Hkv {
            prepareKV(s, g, w)
            for h in g * (H / Hkv)..<(g + 1) * (H / Hkv) {
                phiRows(s.q.at(h), stride: s.q.row, T: T, into: w.fq)
                kernel.forward(head(w), out: w.U, os: dv + 1, T: T, scratch: w.kernel)
                for t in 0..<T {
                    let D = w.U[t * (dv + 1) + dv] + Linear.epsilon
                    s.den[h * T + t] = D
                    let o = s.out + h * s.outHead + t * s.outRow
                    for c in 0..<dv { o[c] = w.U[t * (dv + 1) + c] / D }
                }
            }
        }
    }

    /// Accumulates dq, dk, dv after `forward(s)` (out and den intact).
    func backward(
        _ s: Sequence, dout: HeadRows, dq: MutableHeadRows, dk: MutableHeadRows, dv dV: MutableHeadRows,
        scratch: UnsafeMutablePointer<Float>
    ) {
        let (T, w) = (s.T, Work(scratch, T: s.T, d: d, dv: dv))
        for g in 0..<Hkv {
            prepareKV(s, g, w)
            w.dfk.update(repeating: 0, count: T * d)
            w.dv1.update(repeating: 0, count: T * (dv + 1))
            for h in g * (H / Hkv)..<(g + 1) * (H / Hkv) {
                phiRows(s.q.at(h), stride: s.q.row, T: T, into: w.fq)
                for t in 0..<T {
                    // forward was: o = U[:dv] / D, D = U[dv] + ε ; so dU = [dO / D, -(dO·o) / D]
                    let (dO, o) = (dout.at(h) + t * dout.row, s.out + h * s.outHead + t * s.outRow)
                    let D = s.den[h * T + t]
                    for c in 0..<dv { w.dU[t * (dv + 1) + c] = dO[c] / D }
                    w.dU[t * (dv + 1) + dv] = -dot(dO, o, dv) / D
                }
                w.dfq.update(repeating: 0, count: T * d)
                kernel.backward(
                    head(w),
                    .init(dout: w.dU, dos: dv + 1, dq: w.dfq, dqs: d, dk: w.dfk, dks: d, dv: w.dv1, dvs: dv + 1),
                    T: T, scratch: w.kernel)
                // forward was: φ(q) ; so dq += dφ ⊙ φ'(q)
                chainPhi(w.dfq, s.q.at(h), s.q.row, into: dq.at(h), dq.row, T: T)
            }
            chainPhi(w.dfk, s.k.at(g), s.k.row, into: dk.at(g), dk.row, T: T)
            for t in 0..<T {
                let dst = dV.at(g) + t * dV.row
                for c in 0..<dv { dst[c] += w.dv1[t * (dv + 1) + c] }
            }
        }
    }

    /// dx (rows dxs apart) += dφ (T, d) ⊙ φ'(x) (rows xs apart).
    func chainPhi(
        _ dphi: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ xs: Int, into dx: UnsafeMutablePointer<Float>,
        _ dxs: Int, T: Int
    ) {
        for t in 0..<T {
            let (g, xt, dxt) = (dphi + t * d, x + t * xs, dx + t * dxs)
            var m = 0
            while m + 8 <= d {  // φ'(x) = 1 for x > 0, else e^x = φ(x)
                let v = load8(xt + m)
                let grad = vexp(v.replacing(with: 0, where: v .> 0)).replacing(with: 1, where: v .> 0)
                store8(load8(dxt + m) + load8(g + m) * grad, dxt + m)
                m += 8
            }
            for m in m..<d { dxt[m] += g[m] * Self.phiGrad(xt[m]) }
        }
    }

    /// The map on head-major arrays q (H, T, d), k (Hkv, T, d), v (Hkv, T, dv), dout (H, T, dv).
    func headMajor(q: [Float], k: [Float], v: [Float], dout: [Float]?, T: Int) -> AttentionCoreResult {
        let buffers = CoreBuffers()
        defer { buffers.free() }
        let (out, den, scratch) = (buffers.zeros(H * T * dv), buffers.zeros(H * T), buffers.zeros(scratchCount(T: T)))
        let s = Sequence(
            T: T, q: HeadRows(buffers.copy(q), head: T * d, row: d), k: HeadRows(buffers.copy(k), head: T * d, row: d),
            v: HeadRows(buffers.copy(v), head: T * dv, row: dv), out: out, outHead: T * dv, outRow: dv, den: den)
        forward(s, scratch: scratch)
        let array = { (p: UnsafeMutablePointer<Float>, n: Int) in Array(UnsafeBufferPointer(start: p, count: n)) }
        guard let dout else { return AttentionCoreResult(out: array(out, H * T * dv)) }
        let (dq, dk, dV) = (buffers.zeros(q.count), buffers.zeros(k.count), buffers.zeros(v.count))
        backward(
            s, dout: HeadRows(buffers.copy(dout), head: T * dv, row: dv), dq: MutableHeadRows(dq, head: T * d, row: d),
            dk: MutableHeadRows(dk, head: T * d, row: d), dv: MutableHeadRows(dV, head: T * dv, row: dv),
            scratch: scratch)
        return AttentionCoreResult(
            out: array(out, H * T * dv), dq: array(dq, q.count), dk: array(dk, k.count), dv: array(dV, v.count))
    }
}

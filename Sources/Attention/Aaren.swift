// Aaren, attention as a many-to-many RNN (Feng et al. 2024, arXiv 2405.13956),
// shared/spec/attention.md §1e, with MQA/GQA (§1i). One learned query per head, parameter
// "query" (NH, hs); the layer computes no q projection (projections = .keyValue: the wqkv weight
// holds only the k and v rows, and the q columns of the qkv buffer are never read):
//   s_t = s q_h·k_t,  o_t = Σ_{i<=t} e^{s_i} v_i / Σ_{i<=t} e^{s_i}   (s = 1/sqrt(hs) or 1)
// Forward: the RNN with state (m, u, w) = (running max, Σ e^{s-m}, Σ e^{s-m} v), O(T hs).
// Backward, O(T hs), in each prefix's own max frame (float32-safe): with f_j = e^{m_j - m_{j+1}},
//   G_j = dO_j/u_j + f_j G_{j+1},  Γ_j = dO_j·o_j/u_j + f_j Γ_{j+1},  e_j = e^{s_j - m_j},
//   dv_j = e_j G_j,  ds_j = e_j (v_j·G_j - Γ_j),  dq = s Σ ds_j k_j,  dk_j = s ds_j q.
import Basics
import Foundation
import Kernels

public struct Aaren: AttentionVariant {
    public static let name = "aaren"
    public let shape: AttentionShape
    /// Option "scale": multiply scores by 1/sqrt(hs) (true) or by 1.
    public let scaled: Bool

    static let scaleOption = AttentionOption("scale", default: true, doc: "scores times 1/sqrt(hs) (false: times 1)")

    public static let options: [any AttentionOptionInfo] = [scaleOption]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        scaled = try reader.read(Self.scaleOption, shape: shape)
        try reader.finish()
        self.shape = shape
    }

    /// The query is learned: the layer projects only k and v.
    public var projections: AttentionProjections { .keyValue }

    /// The tensor interface takes the learned query of each head as "q": [H][1][d].
    public static func tensorQueryRows(T: Int) -> Int { 1 }

    /// The same kernel on head-major tensors, with the learned query as q [H][1][d].
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        let r = Self.compute(
            query: call.q, k: call.k, v: call.v, dout: call.dout, heads: call.H, kvHeads: call.Hkv, T: call.T,
            d: call.d, dv: call.dv, scale: scaled)
        return call.output(AttentionCoreResult(out: r.out, dq: r.dquery, dk: r.dk, dv: r.dv))
    }

    /// "query" (NH, hs): the learned query of each head, N(0, 0.02) like the projections.
    public var parameters: [TensorSpec] {
        [TensorSpec(name: "query", shape: [shape.heads, shape.headSize])]
    }

    /// Per (b, h, t): the score s, the running max m and the running sum u.
    public func savedCount(B: Int, T: Int) -> Int { 3 * B * shape.heads * T }

    public func scratchCount(B: Int, T: Int) -> Int { 2 * shape.headSize }

    private var kernel: AarenKernel {
        AarenKernel(d: shape.headSize, dv: shape.headSize, scale: scaled ? 1 / Float(shape.headSize).squareRoot() : 1)
    }

    /// Operands of query head h of batch row b: k, v inside qkv (rows W apart), out rows NH*hs apart.
    private func head(_ io: AttentionIO, b: Int, h: Int) -> AarenKernel.Head {
        let (T, NH, NKV, hs, W) = (io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        let g = h / shape.groupSize
        let base = io.qkv + b * T * W
        let saved = io.saved + 3 * (b * NH + h) * T
        return .init(
            query: io.params + h * hs, k: base + (NH + g) * hs, ks: W, v: base + (NH + NKV + g) * hs,
            vs: W, out: io.out + b * T * NH * hs + h * hs, os: NH * hs,
            s: saved, m: saved + T, u: saved + 2 * T)
    }

    // MARK: - Forward

    public func forward(_ io: AttentionIO) {
        for b in 0..<io.B {
            for h in 0..<shape.heads { kernel.forward(head(io, b: b, h: h), T: io.T, w: io.scratch) }
        }
    }

    // MARK: - Backward

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let (T, NH, NKV, hs, W) = (io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        for b in 0..<io.B {
            for h in 0..<NH {
                let g = h / shape.groupSize
                let base = grads.dqkv + b * T * W
                let dHead = AarenKernel.Grads(
                    dout: grads.dout + b * T * NH * hs + h * hs, dos: NH * hs, dquery: grads.dparams + h * hs,
                    dk: base + (NH + g) * hs, dks: W, dv: base + (NH + NKV + g) * hs, dvs: W)
                kernel.backward(head(io, b: b, h: h), dHead, T: T, scratch: io.scratch)
            }
        }
    }

    // MARK: - Decode

    /// The constant-size RNN state per query head: m, u, then w (hs).
    public func cacheCount(maxTokens: Int) -> Int { shape.heads * (2 + shape.headSize) }

    public func decodeScratchCount(maxTokens: Int) -> Int { 0 }

    /// One RNN step per head: m' = max(m, s_t), u' = u e^{m-m'} + e^{s_t-m'}, w' likewise, o = w'/u'.
    /// Position 0 starts from the empty state (m, u, w) = (-inf, 0, 0) whatever the cache held (a
    /// reset decoder's cache keeps its last sequence's state: w * 0 is NaN where w is not finite).
    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs) = (shape.heads, shape.kvHeads, shape.headSize)
        let scale = kernel.scale
        for h in 0..<NH {
            let g = h / shape.groupSize
            let state = step.cache + h * (2 + hs)
            let w = state + 2
            if step.position == 0 {
                (state[0], state[1]) = (-.infinity, 0)
                w.update(repeating: 0, count: hs)
            }
            let k = step.qkv + (NH + g) * hs
            let v = step.qkv + (NH + NKV + g) * hs
            let st = scale * dot(step.params + h * hs, k, hs)
            let m = max(state[0], st)
            let decay = step.position == 0 ? 0 : exp(state[0] - m)
            let e = exp(st - m)
            state[0] = m
            state[1] = state[1] * decay + e
            let o = step.out + h * hs
            for d in 0..<hs {
                w[d] = w[d] * decay + e * v[d]
                o[d] = w[d] / state[1]
            }
        }
    }
}

/// The per-head O(T d) kernels of Aaren on strided matrices.
struct AarenKernel {
    let d: Int, dv: Int, scale: Float

    struct Head {
        var query: UnsafePointer<Float>  // (d)
        var k: UnsafePointer<Float>, ks: Int  // (T, d)
        var v: UnsafePointer<Float>, vs: Int  // (T, dv)
        var out: UnsafeMutablePointer<Float>, os: Int  // (T, dv)
        var s: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, u: UnsafeMutablePointer<Float>  // (T) saved
    }

    struct Grads {
        var dout: UnsafePointer<Float>, dos: Int  // (T, dv)
        var dquery: UnsafeMutablePointer<Float>  // (d)
        var dk: UnsafeMutablePointer<Float>, dks: Int  // (T, d)
        var dv: UnsafeMutablePointer<Float>, dvs: Int  // (T, dv)
    }

    /// w: scratch (dv), the running weighted sum.
    func forward(_ x: Head, T: Int, w: UnsafeMutablePointer<Float>) {
        var m = -Float.infinity
        var u: Float = 0
        w.update(repeating: 0, count: dv)
        for t in 0..<T {
            let st = scale * dot(x.query, x.k + t * x.ks, d)
            let m2 = max(m, st)
            let decay = t == 0 ? 0 : exp(m - m2)
            let e = exp(st - m2)
            u = u * decay + e
            let v = x.v + t * x.vs
            let o = x.out + t * x.os
            for c in 0..<dv {
                w[c] = w[c] * decay + e * v[c]
                o[c] = w[c] / u
            }
            (m, x.s[t], x.m[t], x.u[t]) = (m2, st, m2, u)
        }
    }

    /// scratch: (dv) for G.
    func backward(_ x: Head, _ g: Grads, T: Int, scratch: UnsafeMutablePointer<Float>) {
        let G = scratch  // Σ_{t>=j} e^{m_j - m_t} dO_t / u_t
        G.update(repeating: 0, count: dv)
        var gam: Float = 0  // Σ_{t>=j} e^{m_j - m_t} dO_t·o_t / u_t
        for j in stride(from: T - 1, through: 0, by: -1) {
            let f = j == T - 1 ? 0 : exp(x.m[j] - x.m[j + 1])
            let inv = 1 / x.u[j]
            let dO = g.dout + j * g.dos
            let v = x.v + j * x.vs
            let dvj = g.dv + j * g.dvs
            gam = dot(dO, x.out + j * x.os, dv) * inv + f * gam
            let e = exp(x.s[j] - x.m[j])
            var vG: Float = 0
            for c in 0..<dv {
                G[c] = dO[c] * inv + f * G[c]
                // forward was: w_t += e^{s_j} v_j for every t >= j, o_t = w_t/u_t
                dvj[c] += e * G[c]
                vG += v[c] * G[c]
            }
            // forward was: s_j = scale q·k_j, entering o_t through e^{s_j} in w_t and u_t
            let ds = scale * e * (vG - gam)
            let k = x.k + j * x.ks
            let dk = g.dk + j * g.dks
            for c in 0..<d {
                g.dquery[c] += ds * k[c]
                dk[c] += ds * x.query[c]
            }
        }
    }
}

extension Aaren {
    /// Output and gradients of sum(out * dout) from `compute`.
    public struct Result: Sendable {
        public var out: [Float], dquery: [Float], dk: [Float], dv: [Float]
    }

    /// The whole map on plain tensors: query [H][d], k [Hkv][T][d], v [Hkv][T][dv],
    /// dout [H][T][dv] (nil: forward only, gradients empty).
    public static func compute(
        query: [Float], k: [Float], v: [Float], dout: [Float]?, heads H: Int, kvHeads: Int, T: Int,
        d: Int, dv: Int, scale: Bool
    ) -> Result {
        precondition(kvHeads >= 1 && H % kvHeads == 0, "kvHeads must divide heads")
        precondition(query.count == H * d && k.count == kvHeads * T * d && v.count == kvHeads * T * dv)
        let kernel = AarenKernel(d: d, dv: dv, scale: scale ? 1 / Float(d).squareRoot() : 1)
        var r = Result(out: .init(repeating: 0, count: H * T * dv), dquery: [], dk: [], dv: [])
        if dout != nil {
            (r.dquery, r.dk, r.dv) = (
                .init(repeating: 0, count: query.count),
                .init(repeating: 0, count: k.count), .init(repeating: 0, count: v.count)
            )
        }
        var saved = [Float](repeating: 0, count: 3 * T)
        var scratch = [Float](repeating: 0, count: dv)
        query.withUnsafeBufferPointer { q in
            k.withUnsafeBufferPointer { k in
                v.withUnsafeBufferPointer { v in
                    saved.withUnsafeMutableBufferPointer { sv in
                        r.out.withUnsafeMutableBufferPointer { out in
                            scratch.withUnsafeMutableBufferPointer { w in
                                for h in 0..<H {
                                    let g = h / (H / kvHeads)
                                    let sp = sv.baseAddress!
                                    let head = AarenKernel.Head(
                                        query: q.baseAddress! + h * d, k: k.baseAddress! + g * T * d, ks: d,
                                        v: v.baseAddress! + g * T * dv, vs: dv,
                                        out: out.baseAddress! + h * T * dv, os: dv, s: sp, m: sp + T, u: sp + 2 * T)
                                    kernel.forward(head, T: T, w: w.baseAddress!)
                                    guard let dout else { continue }
                                    dout.withUnsafeBufferPointer { dO in
                                        r.dquery.withUnsafeMutableBufferPointer { dq in
                                            r.dk.withUnsafeMutableBufferPointer { dk in
                                                r.dv.withUnsafeMutableBufferPointer { dvv in
                                                    let grads = AarenKernel.Grads(
                                                        dout: dO.baseAddress! + h * T * dv, dos: dv,
                                                        dquery: dq.baseAddress! + h * d,
                                                        dk: dk.baseAddress! + g * T * d, dks: d,
                                                        dv: dvv.baseAddress! + g * T * dv, dvs: dv)
                                                    kernel.backward(head, grads, T: T, scratch: w.baseAddress!)
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return r
    }
}

// RetNet retention (Sun et al. 2023, arXiv 2307.08621), shared/spec/attention.md §1f, with MQA/GQA
// (§1i): half-split RoPE on q, k (the xPos-style rotation, as fla does), per-query-head decay γ_h:
//   O = (s (R q)(R k)ᵀ ∘ D) v,  D_ij = γ_h^(i-j) (j <= i),  γ_h = 1 - 2^(-5-h) by default,
//   then (group_norm) y = O / sqrt(mean(O²) + eps) per (token, head), without a gain.
// Not included: the MSR gate swish(X W_G) and the value width 2D/H (they belong to the layer).
// Training uses the parallel form on row tiles (RetNetKernels.swift); decode the recurrent form
// S_n = γ S_{n-1} + k_nᵀ v_n, o_n = s q_n S_n with a (hs, hs) state per query head.
import Basics
import Foundation
import Kernels

public struct RetNet: AttentionVariant {
    public static let name = "retnet"
    public let shape: AttentionShape
    /// Decay per query head; option "gammas", a list of NH numbers in (0, 1] (e.g. [0.5, 0.9];
    /// the comma string "0.5, 0.9" of older configs also reads), default 1 - 2^(-5-h).
    public let gammas: [Double]
    /// Option "group_norm": RMS-normalise each head's output.
    public let groupNorm: Bool
    /// Option "rope_base"; option "tile" (speed only).
    public let ropeBase: Double, tile: Int

    static let gammasOption = AttentionOption<[Double]>(
        "gammas", default: { RetNet.defaultGammas($0.heads) }, defaultText: "1 - 2^(-5-h) for head h",
        range: OptionRange("in (0, 1], one per query head") { gammas, shape in
            gammas.count == shape.heads && gammas.allSatisfy({ $0 > 0 && $0 <= 1 })
                ? nil : "must list \(shape.heads) numbers in (0, 1], one per head, e.g. [0.9, 0.99]"
        },
        doc: "decay γ_h of each query head")
    static let groupNormOption = AttentionOption(
        "group_norm", default: true, doc: "RMS-normalise each head's output (per token, no gain)")
    static let ropeBaseOption = CommonOptions.ropeBase(default: 10_000)

    public static let options: [any AttentionOptionInfo] = [
        gammasOption, groupNormOption, ropeBaseOption, CommonOptions.tile,
    ]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        gammas = try reader.read(Self.gammasOption, shape: shape)
        groupNorm = try reader.read(Self.groupNormOption, shape: shape)
        ropeBase = try reader.read(Self.ropeBaseOption, shape: shape)
        tile = try reader.read(CommonOptions.tile, shape: shape)
        try reader.finish()
        guard shape.headSize % 2 == 0 else {
            throw AttentionError.invalidShape(
                "retnet rotates pairs, so the head size (\(shape.headSize)) must be even")
        }
        self.shape = shape
    }

    /// The same retention on head-major tensors (RetNetKernels.swift).
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        let r = Self.compute(
            q: call.q, k: call.k, v: call.v, dout: call.dout, heads: call.H, kvHeads: call.Hkv, T: call.T,
            d: call.d, dv: call.dv, gammas: gammas, groupNorm: groupNorm, ropeBase: ropeBase, tile: tile)
        return call.output(AttentionCoreResult(out: r.out, dq: r.dq, dk: r.dk, dv: r.dv))
    }

    private var kernel: RetentionKernel { RetentionKernel(d: shape.headSize, dv: shape.headSize, tile: tile) }

    /// Offsets of saved: qr (B,T,NH,hs), kr (B,T,NKV,hs), rstd (B,T,NH), cos, sin (T,hs/2).
    private func savedLayout(B: Int, T: Int) -> (kr: Int, rstd: Int, cos: Int, sin: Int, end: Int) {
        let (NH, NKV, hs) = (shape.heads, shape.kvHeads, shape.headSize)
        let kr = B * T * NH * hs
        let rstd = kr + B * T * NKV * hs
        let cos = rstd + B * T * NH
        return (kr, rstd, cos, cos + T * hs / 2, cos + T * hs)
    }

    public func savedCount(B: Int, T: Int) -> Int { savedLayout(B: B, T: T).end }

    /// Score tiles (2 tile T), decay (T), dq and dk of rotated heads and dO before the norm (3 T hs).
    public func scratchCount(B: Int, T: Int) -> Int { 2 * tile * T + T + 3 * T * shape.headSize }

    // MARK: - Forward

    public func forward(_ io: AttentionIO) {
        let (B, T, NH, NKV, hs, W) = (io.B, io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        let L = savedLayout(B: B, T: T)
        let qr = io.saved
        let kr = io.saved + L.kr
        let cos = io.saved + L.cos
        let sin = io.saved + L.sin
        ropeTables(cos: cos, sin: sin, T: T, hs: hs, pos0: io.pos0, base: ropeBase)
        ropeForward(
            out: qr, inp: io.qkv, cos: cos, sin: sin, B: B, T: T, heads: NH, hs: hs,
            outStride: NH * hs, inpStride: W)
        ropeForward(
            out: kr, inp: io.qkv + NH * hs, cos: cos, sin: sin, B: B, T: T, heads: NKV, hs: hs,
            outStride: NKV * hs, inpStride: W)
        let decay = io.scratch + 2 * tile * T
        for h in 0..<NH {
            RetentionKernel.fillDecay(decay, gamma: gammas[h], T: T)
            let g = h / shape.groupSize
            for b in 0..<B {
                let head = RetentionKernel.Head(
                    q: qr + b * T * NH * hs + h * hs, qs: NH * hs, k: kr + b * T * NKV * hs + g * hs, ks: NKV * hs,
                    v: io.qkv + b * T * W + (NH + NKV + g) * hs, vs: W)
                let o = io.out + b * T * NH * hs + h * hs  // (T, hs) rows NH*hs apart
                kernel.forward(head, decay: decay, out: o, os: NH * hs, T: T, scratch: io.scratch)
                guard groupNorm else { continue }
                // rstd of (b, t, h) at b*T*NH + t*NH + h: rows NH apart, normalised one row at a time
                let rstd = io.saved + L.rstd + b * T * NH + h
                for t in 0..<T { RetentionKernel.normForward(o + t * NH * hs, os: 0, rstd: rstd + t * NH, T: 1, n: hs) }
            }
        }
    }

    // MARK: - Backward

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let (B, T, NH, NKV, hs, W) = (io.B, io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        let L = savedLayout(B: B, T: T)
        let cos = io.saved + L.cos
        let sin = io.saved + L.sin
        let decay = io.scratch + 2 * tile * T
        let dQ = decay + T
        let dK = dQ + T * hs
        let dO = dK + T * hs  // (T, hs)
        for b in 0..<B {
            for g in 0..<NKV {
                dK.update(repeating: 0, count: T * hs)
                for h in g * shape.groupSize..<(g + 1) * shape.groupSize {
                    RetentionKernel.fillDecay(decay, gamma: gammas[h], T: T)
                    let head = RetentionKernel.Head(
                        q: io.saved + b * T * NH * hs + h * hs, qs: NH * hs,
                        k: io.saved + L.kr + b * T * NKV * hs + g * hs, ks: NKV * hs,
                        v: io.qkv + b * T * W + (NH + NKV + g) * hs, vs: W)
                    var dy = grads.dout + b * T * NH * hs + h * hs
                    var dys = NH * hs
                    if groupNorm {
                        // forward was: y = O rstd ; so dO = rstd (dy - y (dy·y)/hs)
                        let rstd = io.saved + L.rstd + b * T * NH + h
                        let y = io.out + b * T * NH * hs + h * hs
                        for t in 0..<T {
                            RetentionKernel.normBackward(
                                dO: dO + t * hs, dy: dy + t * dys, dys: 0, y: y + t * dys,
                                ys: 0, rstd: rstd + t * NH, T: 1, n: hs)
                        }
                        (dy, dys) = (UnsafePointer(dO), hs)
                    }
                    dQ.update(repeating: 0, count: T * hs)
                    kernel.backward(
                        head, decay: decay, dout: dy, dos: dys, dq: dQ, dqs: hs, dk: dK, dks: hs,
                        dv: grads.dqkv + b * T * W + (NH + NKV + g) * hs, dvs: W, T: T, scratch: io.scratch)
                    // forward was: qr = R(pos) q
                    ropeBackward(
                        dinp: grads.dqkv + b * T * W + h * hs, dout: dQ, cos: cos, sin: sin, B: 1, T: T,
                        heads: 1, hs: hs, dinpStride: W, doutStride: hs)
                }
                // forward was: kr = R(pos) k (summed over the query heads of the group)
                ropeBackward(
                    dinp: grads.dqkv + b * T * W + (NH + g) * hs, dout: dK, cos: cos, sin: sin, B: 1,
                    T: T, heads: 1, hs: hs, dinpStride: W, doutStride: hs)
            }
        }
    }

    // MARK: - Decode

    /// The recurrent state S (hs, hs) per query head.
    public func cacheCount(maxTokens: Int) -> Int { shape.heads * shape.headSize * shape.headSize }

    /// cos, sin (hs/2 each), rotated q (NH*hs) and k (NKV*hs).
    public func decodeScratchCount(maxTokens: Int) -> Int { (1 + shape.heads + shape.kvHeads) * shape.headSize }

    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs) = (shape.heads, shape.kvHeads, shape.headSize)
        let cos = step.scratch
        let sin = cos + hs / 2
        let qr = sin + hs / 2
        let kr = qr + NH * hs
        if step.position == 0 { step.cache.update(repeating: 0, count: cacheCount(maxTokens: 1)) }
        ropeTables(cos: cos, sin: sin, T: 1, hs: hs, pos0: step.absolutePosition, base: ropeBase)
        ropeForward(
            out: qr, inp: step.qkv, cos: cos, sin: sin, B: 1, T: 1, heads: NH, hs: hs,
            outStride: NH * hs, inpStride: NH * hs)
        ropeForward(
            out: kr, inp: step.qkv + NH * hs, cos: cos, sin: sin, B: 1, T: 1, heads: NKV, hs: hs,
            outStride: NKV * hs, inpStride: NKV * hs)
        let scale = 1 / Float(hs).squareRoot()
        for h in 0..<NH {
            let g = h / shape.groupSize
            let gamma = Float(gammas[h])
            let S = step.cache + h * hs * hs
            let k = kr + g * hs
            let v = step.qkv + (NH + NKV + g) * hs
            let q = qr + h * hs
            let o = step.out + h * hs
            o.update(repeating: 0, count: hs)
            for a in 0..<hs {
                // S = γ S + kᵀ v ; o = s q S
                for c in 0..<hs {
                    S[a * hs + c] = gamma * S[a * hs + c] + k[a] * v[c]
                    o[c] += scale * q[a] * S[a * hs + c]
                }
            }
            var r: Float = 0
            if groupNorm { RetentionKernel.normForward(o, os: 0, rstd: &r, T: 1, n: hs) }
        }
    }
}

// Sigmoid attention (Ramapuram et al. 2024, arXiv 2409.04431), shared/spec/attention.md §1g, with
// MQA/GQA (§1i): P_ij = sigmoid(s R(i)q_i·R(j)k_j + b) (j <= i), O = P V, no normalisation over j.
// Backward: dP = dO Vᵀ, dS = dP P (1 - P), dq = s dS k, dk = s dSᵀ q, dV = Pᵀ dO, db = Σ dS.
// b = -log(T_train) by default (project choice of §1g: fixed, also beyond T_train), a fixed number,
// or "learned" (one scalar per layer, initialised to -log(T_train)). Half-split RoPE by default.
import Basics
import Foundation
import Kernels

public struct Sigmoid: AttentionVariant {
    public static let name = "sigmoid"
    public let shape: AttentionShape
    /// Option "rope", default true; "rope_base", default 10000.
    public let rope: Bool
    public let ropeBase: Double
    /// Option "bias": a number (fixed b) or "learned"; default the fixed b = -log(context).
    public let learnedBias: Bool
    /// The fixed b, or the initial value of the learned one.
    public let bias: Double
    /// Query rows per BLAS tile; option "tile" (speed only), default 64.
    public let tile: Int
    /// Option "probs_cache_mib" (speed only), in bytes: see `OptionReader.probsCacheBytes`.
    public let probsCacheBytes: Int

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, variant: Self.name)
        rope = try reader.bool("rope", default: true)
        ropeBase = try reader.double("rope_base", default: 10_000)
        tile = try reader.int("tile", default: 64)
        probsCacheBytes = try reader.probsCacheBytes(variant: Self.name)
        let defaultBias = -log(Double(max(shape.context, 1)))
        if case .string = options["bias"] {
            guard try reader.string("bias", default: "learned") == "learned" else {
                throw AttentionError.invalidOption(
                    variant: Self.name, option: "bias", reason: "must be a number or \"learned\"")
            }
            (learnedBias, bias) = (true, defaultBias)
        } else {
            (learnedBias, bias) = (false, try reader.double("bias", default: defaultBias))
        }
        try reader.finish()
        guard tile >= 1 else {
            throw AttentionError.invalidOption(
                variant: Self.name, option: "tile", reason: "must be positive")
        }
        guard ropeBase > 1 else {
            throw AttentionError.invalidOption(
                variant: Self.name, option: "rope_base", reason: "must be greater than 1")
        }
        guard !rope || shape.headSize % 2 == 0 else {
            throw AttentionError.invalidShape(
                "sigmoid with rope rotates pairs, so the head size (\(shape.headSize)) must be even"
            )
        }
        self.shape = shape
    }

    /// "bias" (1) when learned.
    public var parameters: [TensorSpec] {
        learnedBias ? [TensorSpec(name: "bias", shape: [1])] : []
    }

    public func initialize(params: UnsafeMutablePointer<Float>, rng: inout SplitMix64) {
        if learnedBias { params[0] = Float(bias) }
    }

    private var driver: HeadDriver { HeadDriver(shape: shape, tile: tile, probsCacheBytes: probsCacheBytes) }

    private func kernel(_ params: UnsafePointer<Float>) -> TileKernel {
        TileKernel(
            scale: 1 / Float(shape.headSize).squareRoot(),
            map: .sigmoid(learnedBias ? params[0] : Float(bias)), tile: tile)
    }

    /// With rope: qr (B,T,NH,hs), kr (B,T,NKV,hs), cos, sin (T, hs/2); then the kept weights
    /// if they fit.
    public func savedCount(B: Int, T: Int) -> Int { ropeCount(B: B, T: T) + driver.probsCount(B: B, T: T) }

    private func ropeCount(B: Int, T: Int) -> Int {
        rope ? B * T * (shape.heads + shape.kvHeads) * shape.headSize + T * shape.headSize : 0
    }

    public func scratchCount(B: Int, T: Int) -> Int { driver.scratchCount(T: T, rope: rope) }

    private func rotated(_ io: AttentionIO) -> RotatedQK? {
        guard rope else { return nil }
        let (hs, kr) = (shape.headSize, io.saved + io.B * io.T * shape.heads * shape.headSize)
        let cos = kr + io.B * io.T * shape.kvHeads * hs
        return RotatedQK(qr: io.saved, kr: kr, cos: cos, sin: cos + io.T * hs / 2, base: ropeBase)
    }

    // MARK: - Forward

    public func forward(_ io: AttentionIO) {
        let kernel = kernel(io.params)
        let probs = driver.probs(io, at: ropeCount(B: io.B, T: io.T))
        driver.forward(io, lse: nil, rope: rotated(io), probs: probs) { _, _ in kernel }
    }

    // MARK: - Backward

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let kernel = kernel(io.params)
        let probs = driver.probs(io, at: ropeCount(B: io.B, T: io.T))
        let db = driver.backward(io, grads, lse: nil, rope: rotated(io), probs: probs) { _, _ in kernel }
        // forward was: P = sigmoid(S + b) with one b for every head
        if learnedBias { grads.dparams[0] += Float(db) }
    }

    /// The head-major core with b given: q (H,T,d), k (Hkv,T,d), v (Hkv,T,dv), dout (H,T,dv) ->
    /// out, dq, dk, dv and dbias = Σ dS. RoPE (half-split) unless ropeBase is nil.
    public static func core(
        q: [Float], k: [Float], v: [Float], dout: [Float]?, H: Int, Hkv: Int, T: Int, d: Int,
        dv: Int, bias: Float, ropeBase: Double? = 10_000
    ) -> AttentionCoreResult {
        HeadMajorCore.run(
            q: q, k: k, v: v, dout: dout, H: H, Hkv: Hkv, T: T, d: d, dv: dv, map: .sigmoid(bias),
            ropeBase: ropeBase)
    }

    // MARK: - Decode

    /// Per token: k (NKV*hs, rotated with rope) then v (NKV*hs).
    public func cacheCount(maxTokens: Int) -> Int {
        maxTokens * 2 * shape.kvHeads * shape.headSize
    }

    /// cos, sin (hs/2 each), rotated q (NH*hs), scores (maxTokens).
    public func decodeScratchCount(maxTokens: Int) -> Int {
        shape.headSize + shape.heads * shape.headSize + maxTokens
    }

    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs) = (shape.heads, shape.kvHeads, shape.headSize)
        let p = step.position
        let rowWidth = 2 * NKV * hs
        let row = step.cache + p * rowWidth
        let cos = step.scratch
        let sin = cos + hs / 2
        let qr = sin + hs / 2
        let scores = qr + NH * hs
        qr.update(from: step.qkv, count: NH * hs)
        row.update(from: step.qkv + NH * hs, count: 2 * NKV * hs)
        if rope {
            ropeTables(cos: cos, sin: sin, T: 1, hs: hs, pos0: p, base: ropeBase)
            ropeForward(
                out: qr, inp: qr, cos: cos, sin: sin, B: 1, T: 1, heads: NH, hs: hs,
                outStride: NH * hs, inpStride: NH * hs)
            ropeForward(
                out: row, inp: row, cos: cos, sin: sin, B: 1, T: 1, heads: NKV, hs: hs,
                outStride: NKV * hs, inpStride: NKV * hs)
        }
        let kernel = kernel(step.params)
        for h in 0..<NH {
            let g = h / shape.groupSize
            for j in 0...p {
                scores[j] = kernel.scale * dot(qr + h * hs, step.cache + j * rowWidth + g * hs, hs)
            }
            kernel.decodeRow(
                scores: scores, n: p + 1, v: step.cache + NKV * hs + g * hs, ldv: rowWidth, dv: hs,
                out: step.out + h * hs)
        }
    }
}

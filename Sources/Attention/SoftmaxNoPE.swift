// Causal softmax attention without positional encoding ("NoPE"; Kazemnejad et al. 2023,
// arXiv 2305.19466), shared/spec/attention.md §1h, with MQA/GQA (§1i):
//   S_ij = λ_i s q_i·k_j (j <= i), P = softmax_j(S), O = P V, s = 1/sqrt(hs).
// λ_i = 1, or with option length_scale, λ_i = max(1, log(p_i + 1) / log(T_train)) at absolute
// position p_i (the "log n" temperature of §1h end, J. Wang et al., arXiv 2404.12224): 1 inside
// the training length, so training is unchanged. Tiled BLAS path in CausalTiles.swift.
import Basics
import Foundation
import Kernels

public struct SoftmaxNoPE: AttentionVariant {
    public static let name = "softmax_nope"
    public let shape: AttentionShape
    /// Option "length_scale": scale logits by log(n)/log(T_train) beyond T_train.
    public let lengthScale: Bool
    /// Query rows per BLAS tile; option "tile" (speed only).
    public let tile: Int
    /// Option "probs_cache_mib" (speed only), in bytes: see `CommonOptions.probsCacheMiB`.
    public let probsCacheBytes: Int

    static let lengthScaleOption = AttentionOption(
        "length_scale", default: false,
        range: OptionRange("") { on, shape in
            !on || shape.context >= 2 ? nil : "needs a training context of at least 2 tokens"
        },
        doc: "scale the logits of a query at position p by max(1, log(p+1) / log(context)) (1 in training)")

    public static let options: [any AttentionOptionInfo] = [
        lengthScaleOption, CommonOptions.tile, CommonOptions.probsCacheMiB,
    ]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        lengthScale = try reader.read(Self.lengthScaleOption, shape: shape)
        tile = try reader.read(CommonOptions.tile, shape: shape)
        probsCacheBytes = try reader.probsCacheBytes(shape: shape)
        try reader.finish()
        self.shape = shape
    }

    private var driver: HeadDriver { HeadDriver(shape: shape, tile: tile, probsCacheBytes: probsCacheBytes) }

    private func kernel(pos0: Int) -> TileKernel {
        let scale =
            lengthScale
            ? LengthScale(pos0: pos0, invLogTrain: 1 / log(Double(shape.context))) : nil
        return TileKernel(
            scale: 1 / Float(shape.headSize).squareRoot(), lengthScale: scale, tile: tile)
    }

    /// lse (B, NH, T), then the kept weights if they fit.
    public func savedCount(B: Int, T: Int) -> Int { B * shape.heads * T + driver.probsCount(B: B, T: T) }

    public func scratchCount(B: Int, T: Int) -> Int { driver.scratchCount(T: T, rope: false) }

    // MARK: - Forward

    public func forward(_ io: AttentionIO) {
        let kernel = kernel(pos0: io.pos0)
        let probs = driver.probs(io, at: io.B * shape.heads * io.T)  // after lse (B, NH, T)
        driver.forward(io, lse: io.saved, rope: nil, probs: probs) { _, _ in kernel }
    }

    // MARK: - Backward

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let kernel = kernel(pos0: io.pos0)
        let probs = driver.probs(io, at: io.B * shape.heads * io.T)
        driver.backward(io, grads, lse: io.saved, rope: nil, probs: probs) { _, _ in kernel }
    }

    /// The same tile kernel on head-major tensors (positions 0..<T, context T: λ = 1).
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        let kernel = kernel(pos0: 0)
        return call.output(HeadMajorCore.run(call) { _ in kernel })
    }

    // MARK: - Decode

    /// Per token: k (NKV*hs) then v (NKV*hs).
    public func cacheCount(maxTokens: Int) -> Int {
        maxTokens * 2 * shape.kvHeads * shape.headSize
    }

    /// Scores (maxTokens).
    public func decodeScratchCount(maxTokens: Int) -> Int { maxTokens }

    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs) = (shape.heads, shape.kvHeads, shape.headSize)
        let p = step.position
        let rowWidth = 2 * NKV * hs
        let scores = step.scratch
        (step.cache + p * rowWidth).update(from: step.qkv + NH * hs, count: 2 * NKV * hs)
        let kernel = kernel(pos0: step.absolutePosition)
        let scale = kernel.scale * (kernel.lengthScale?.factor(0) ?? 1)
        for h in 0..<NH {
            let g = h / shape.groupSize
            for j in 0...p {
                scores[j] = scale * dot(step.qkv + h * hs, step.cache + j * rowWidth + g * hs, hs)
            }
            kernel.decodeRow(
                scores: scores, n: p + 1, v: step.cache + NKV * hs + g * hs, ldv: rowWidth, dv: hs,
                out: step.out + h * hs)
        }
    }
}

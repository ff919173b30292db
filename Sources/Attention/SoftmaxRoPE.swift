// Causal softmax attention with half-split RoPE on q and k (Vaswani et al. 2017; Su et al. 2021,
// arXiv 2104.09864), shared/spec/attention.md §1a, with MQA/GQA (§1i).
//   S = s·R(pos)q·R(pos)kᵀ (j <= i), P = softmax_j(S), O = P V, s = 1/sqrt(hs).
// Trained on the softmax family's tile engine (CausalTiles.swift, CausalHeads.swift), flash-style
// (Dao et al. 2022, arXiv 2205.14135, without the online rescaling because a whole causal row fits
// in memory): per (b, head), query rows go in tiles of `tile` rows; one sgemm gives the tile's
// scores against the keys it sees only (the masked upper triangle beyond the tile is never
// computed), a vectorised exp turns them into P, and one sgemm gives O. Option "probs_cache_mib"
// (default 64): when a layer's tiles of P fit in that many MiB (context 512, 2 sequences and 8
// heads take 9 MiB), forward keeps them and backward reuses them instead of recomputing q kᵀ and
// its exp. Otherwise only the per-row logsumexp is saved and backward recomputes P tile by tile,
// so memory beyond the tile is O(T) per row. The naive loop oracle lives in
// Tests/AttentionTests/Reference.
// Option "window" W > 0 (sliding-window attention, attention.md §2.3 T1): query i sees keys
// max(0, i-W+1) ... i only; a tile's scores then span keys from its first row's window start, so
// the cost is O(T (W + tile)) instead of O(T²).
import Basics
import Foundation
import Kernels

public struct SoftmaxRoPE: AttentionVariant {
    public static let name = "softmax_rope"
    public let shape: AttentionShape
    /// RoPE base (θ_m = base^(-2m/hs)); option "rope_base".
    public let ropeBase: Double
    /// Query rows per BLAS tile; option "tile" (speed only, the math is unchanged).
    public let tile: Int
    /// Keys each query sees, itself included; option "window", 0 = all earlier keys.
    public let window: Int
    /// Bytes per layer forward may spend keeping P for backward; option "probs_cache_mib".
    public let probsCacheBytes: Int

    static let ropeBaseOption = CommonOptions.ropeBase(default: 10_000)
    static let windowOption = AttentionOption(
        "window", default: 0, range: .atLeast(0, "must be 0 (no window) or positive"),
        doc: "keys each query sees, itself included (sliding-window attention); 0 = every earlier key")

    public static let options: [any AttentionOptionInfo] = [
        ropeBaseOption, windowOption, CommonOptions.tile, CommonOptions.probsCacheMiB,
    ]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        ropeBase = try reader.read(Self.ropeBaseOption, shape: shape)
        window = try reader.read(Self.windowOption, shape: shape)
        tile = try reader.read(CommonOptions.tile, shape: shape)
        probsCacheBytes = try reader.probsCacheBytes(shape: shape)
        try reader.finish()
        guard shape.headSize % 2 == 0 else {
            throw AttentionError.invalidShape(
                "softmax_rope rotates pairs, so the head size (channels / heads = "
                    + "\(shape.headSize)) must be even"
            )
        }
        self.shape = shape
    }

    private var driver: HeadDriver {
        HeadDriver(shape: shape, tile: tile, probsCacheBytes: probsCacheBytes, window: window)
    }

    private var kernel: TileKernel {
        TileKernel(scale: 1 / Float(shape.headSize).squareRoot(), tile: tile, window: window)
    }

    /// Whether forward keeps P for backward at this shape (speed only).
    public func cachesProbabilities(B: Int, T: Int) -> Bool { driver.probsCount(B: B, T: T) > 0 }

    public func savedCount(B: Int, T: Int) -> Int {
        driver.ropeSavedLayout(B: B, T: T).end + driver.probsCount(B: B, T: T)
    }

    /// The tile engine's S and dP tiles and column sums, then dQ and dK (T, hs).
    public func scratchCount(B: Int, T: Int) -> Int { driver.scratchCount(T: T, rope: true) }

    // MARK: - Forward

    public func forward(_ io: AttentionIO) {
        let l = driver.ropeSavedLayout(B: io.B, T: io.T)
        let kernel = self.kernel
        driver.forward(
            io, lse: io.saved + l.lse, rope: driver.rotated(io, base: ropeBase), probs: driver.probs(io, at: l.end)
        ) { _, _ in
            kernel
        }
    }

    // MARK: - Backward

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let l = driver.ropeSavedLayout(B: io.B, T: io.T)
        let kernel = self.kernel
        driver.backward(
            io, grads, lse: io.saved + l.lse, rope: driver.rotated(io, base: ropeBase),
            probs: driver.probs(io, at: l.end)
        ) { _, _ in kernel }
    }

    /// The same tile kernel on head-major tensors.
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        let kernel = self.kernel
        return call.output(HeadMajorCore.run(call, ropeBase: ropeBase) { _ in kernel })
    }

    // MARK: - Decode

    /// Per token: rotated k (NKV*hs) then v (NKV*hs).
    public func cacheCount(maxTokens: Int) -> Int { maxTokens * 2 * shape.kvHeads * shape.headSize }

    /// cos, sin (hs/2 each), rotated q (NH*hs), scores (maxTokens).
    public func decodeScratchCount(maxTokens: Int) -> Int {
        AttentionStep.qkvScratchCount(shape, maxTokens: maxTokens)
    }

    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs) = (shape.heads, shape.kvHeads, shape.headSize)
        let p = step.position
        let rowWidth = 2 * NKV * hs
        let (qr, scores) = step.storeQKV(shape, row: step.cache + p * rowWidth, ropeBase: ropeBase)
        let kernel = self.kernel
        let j0 = kernel.firstKey(p)
        for h in 0..<NH {
            let g = h / shape.groupSize
            for j in j0...p {
                scores[j] = kernel.scale * dot(qr + h * hs, step.cache + j * rowWidth + g * hs, hs)
            }
            kernel.decodeRow(
                scores: scores + j0, n: p + 1 - j0, v: step.cache + j0 * rowWidth + NKV * hs + g * hs,
                ldv: rowWidth, dv: hs, out: step.out + h * hs)
        }
    }
}

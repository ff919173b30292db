// ALiBi (Press, Smith, Lewis 2022, arXiv 2108.12409), shared/spec/attention.md §1h, with MQA/GQA
// (§1i): S_ij = s q_i·k_j - m_h (i - j) (j <= i), P = softmax_j(S), O = P V; no position
// embeddings. Fixed slopes per query head: m_h = 2^(-8h/H), h = 1..H, for H a power of two;
// otherwise the slopes of the closest lower power of two c, then every other slope of 2c.
// The bias depends on i - j only, so pos0 does not matter. Tiled BLAS path in CausalTiles.swift.
import Basics
import Foundation
import Kernels

public struct ALiBi: AttentionVariant {
    public static let name = "alibi"
    public let shape: AttentionShape
    /// Query rows per BLAS tile; option "tile" (speed only).
    public let tile: Int
    /// Option "probs_cache_mib" (speed only), in bytes: see `CommonOptions.probsCacheMiB`.
    public let probsCacheBytes: Int
    /// m_h per query head.
    public let slopes: [Double]

    public static let options: [any AttentionOptionInfo] = [CommonOptions.tile, CommonOptions.probsCacheMiB]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        tile = try reader.read(CommonOptions.tile, shape: shape)
        probsCacheBytes = try reader.probsCacheBytes(shape: shape)
        try reader.finish()
        self.shape = shape
        slopes = Self.slopes(heads: shape.heads)
    }

    /// The slopes of Press et al. for H heads (H = 8: 1/2, ..., 1/256; H = 3: 1/16, 1/256, 1/4).
    public static func slopes(heads H: Int) -> [Double] {
        precondition(H >= 1, "ALiBi needs at least one head")
        func powerOfTwo(_ n: Int) -> [Double] {
            (1...n).map { pow(2, -8 * Double($0) / Double(n)) }
        }
        var c = 1
        while 2 * c <= H { c *= 2 }
        if c == H { return powerOfTwo(H) }
        let extra = powerOfTwo(2 * c).enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        return powerOfTwo(c) + extra.prefix(H - c)
    }

    private var driver: HeadDriver { HeadDriver(shape: shape, tile: tile, probsCacheBytes: probsCacheBytes) }

    private func kernel(_ h: Int) -> TileKernel {
        TileKernel(
            scale: 1 / Float(shape.headSize).squareRoot(), bias: .linear(Float(slopes[h])),
            tile: tile)
    }

    /// lse (B, NH, T), then the kept weights if they fit.
    public func savedCount(B: Int, T: Int) -> Int { B * shape.heads * T + driver.probsCount(B: B, T: T) }

    public func scratchCount(B: Int, T: Int) -> Int { driver.scratchCount(T: T, rope: false) }

    // MARK: - Forward

    public func forward(_ io: AttentionIO) {
        let probs = driver.probs(io, at: io.B * shape.heads * io.T)  // after lse (B, NH, T)
        driver.forward(io, lse: io.saved, rope: nil, probs: probs) { _, h in kernel(h) }
    }

    // MARK: - Backward

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let probs = driver.probs(io, at: io.B * shape.heads * io.T)
        driver.backward(io, grads, lse: io.saved, rope: nil, probs: probs) { _, h in kernel(h) }
    }

    /// The same tile kernels on head-major tensors.
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        call.output(HeadMajorCore.run(call) { h in kernel(h) })
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
        let scale = 1 / Float(hs).squareRoot()
        for h in 0..<NH {
            let g = h / shape.groupSize
            let m = Float(slopes[h])
            for j in 0...p {
                let qk = dot(step.qkv + h * hs, step.cache + j * rowWidth + g * hs, hs)
                scores[j] = scale * qk + m * Float(j - p)
            }
            kernel(h).decodeRow(
                scores: scores, n: p + 1, v: step.cache + NKV * hs + g * hs, ldv: rowWidth, dv: hs,
                out: step.out + h * hs)
        }
    }
}

// Sliding-window softmax with attention sinks (Xiao, Tian, Chen, Han, Lewis 2023, "Efficient
// Streaming Language Models with Attention Sinks", StreamingLLM, arXiv 2309.17453), with MQA/GQA
// (§1i). Query i sees the sink keys j < S and its window i - W < j <= i (W counts the current
// token), in one softmax, with half-split RoPE at positions within the cache as the paper does:
//   window key j at distance i - j:      S_ij = s R(i)q_i · R(j)k_j
//   sink key s at distance min(i, S + W - 1) - s:  S_is = s R(min(i, S + W - 1))q_i · R(s)k_s
// so training is the same map as generation with a rolling cache of S + W entries (the paper's
// cache of the S sinks and the W most recent tokens, re-positioned 0..S+W-1 within the cache).
// Choices the paper leaves open:
// - The paper trains with full attention and streams at inference; here the model is trained
//   on the streaming map itself (the choice), so train and generate agree at any length.
// - Positions in one layer call are the call's own (a staircase row over [memory; chunk] starts
//   its sinks at its first token); scores depend on distances only, so pos0 does not matter.
// - Options: "sinks" S (default 4, the paper's), "window" W (default 256; the paper's caches
//   are 1-4k), "rope_base"; S = 0 is a plain sliding window (softmax_rope's "window").
// Training on the softmax family's tile engine (CausalTiles.swift): each tile's logits are the
// sink columns (`ExtraKeys.sinks`, keys 0..<S scored with q rotated at min(i, S + W - 1)) then
// its window, so the cost is O(T (S + W + tile)); "tile" and "probs_cache_mib" as softmax_rope.
// Decode: a cache of S + W rows, keys stored rotated at their absolute positions (only distances
// matter), the sinks in rows 0..<S and the window in a ring buffer (position j >= S in row
// S + (j - S) mod W); from position S + W on, the sinks are scored with q rotated at S + W - 1.
import Basics
import Foundation
import Kernels

public struct Sinks: AttentionVariant {
    public static let name = "sinks"
    public let shape: AttentionShape
    /// Sink keys S; option "sinks".
    public let sinks: Int
    /// Window W, the current token included; option "window".
    public let window: Int
    /// Option "rope_base"; option "tile" (speed only).
    public let ropeBase: Double, tile: Int
    /// Option "probs_cache_mib" (speed only), in bytes.
    public let probsCacheBytes: Int

    static let sinksOption = AttentionOption(
        "sinks", default: 4, range: .within(0, 1 << 22),
        doc: "the first keys of the sequence, seen by every query (attention sinks); 0 = a plain sliding window")
    static let windowOption = AttentionOption(
        "window", default: 256, range: .within(1, 1 << 22),
        doc: "recent keys each query sees, itself included")
    static let ropeBaseOption = CommonOptions.ropeBase(default: 10_000)

    public static let options: [any AttentionOptionInfo] = [
        sinksOption, windowOption, ropeBaseOption, CommonOptions.tile, CommonOptions.probsCacheMiB,
    ]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        sinks = try reader.read(Self.sinksOption, shape: shape)
        window = try reader.read(Self.windowOption, shape: shape)
        ropeBase = try reader.read(Self.ropeBaseOption, shape: shape)
        tile = try reader.read(CommonOptions.tile, shape: shape)
        probsCacheBytes = try reader.probsCacheBytes(shape: shape)
        try reader.finish()
        guard shape.headSize % 2 == 0 else {
            throw AttentionError.invalidShape("sinks rotates pairs, so the head size (\(shape.headSize)) must be even")
        }
        self.shape = shape
    }

    /// The last position at which a sink is at its own distance: the cache's last row.
    private var clamp: Int { sinks + window - 1 }

    private var driver: HeadDriver {
        var driver = HeadDriver(shape: shape, tile: tile, probsCacheBytes: probsCacheBytes, window: window)
        driver.extra = .sinks(sinks)
        return driver
    }

    private var kernel: TileKernel {
        TileKernel(scale: 1 / Float(shape.headSize).squareRoot(), tile: tile, window: window, extra: .sinks(sinks))
    }

    /// After softmax_rope's saved buffers: qs (B,T,NH,hs), its tables cos, sin (T,hs/2); `end`
    /// is where the kept weights go (if they fit).
    private func savedLayout(B: Int, T: Int) -> (qs: Int, cos: Int, end: Int) {
        let qs = driver.ropeSavedLayout(B: B, T: T).end
        let cos = qs + B * T * shape.heads * shape.headSize
        return (qs, cos, cos + T * shape.headSize)
    }

    public func savedCount(B: Int, T: Int) -> Int { savedLayout(B: B, T: T).end + driver.probsCount(B: B, T: T) }

    public func scratchCount(B: Int, T: Int) -> Int { driver.scratchCount(T: T, rope: true) }

    private func rotated(_ io: AttentionIO) -> RotatedQK {
        let l = savedLayout(B: io.B, T: io.T)
        var rope = driver.rotated(io, base: ropeBase)
        rope.sinks = SinkRotation(
            qs: io.saved + l.qs, cos: io.saved + l.cos, sin: io.saved + l.cos + io.T * shape.headSize / 2,
            clamp: clamp)
        return rope
    }

    // MARK: - Forward and backward

    public func forward(_ io: AttentionIO) {
        let (driver, kernel) = (self.driver, self.kernel)
        let l = driver.ropeSavedLayout(B: io.B, T: io.T)
        driver.forward(
            io, lse: io.saved + l.lse, rope: rotated(io), probs: driver.probs(io, at: savedLayout(B: io.B, T: io.T).end)
        ) { _, _ in kernel }
    }

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let (driver, kernel) = (self.driver, self.kernel)
        let l = driver.ropeSavedLayout(B: io.B, T: io.T)
        driver.backward(
            io, grads, lse: io.saved + l.lse, rope: rotated(io),
            probs: driver.probs(io, at: savedLayout(B: io.B, T: io.T).end)
        ) { _, _ in kernel }
    }

    /// The same tile kernel on head-major tensors.
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        let kernel = self.kernel
        return call.output(HeadMajorCore.run(call, ropeBase: ropeBase, extra: .sinks(clamp: clamp)) { _ in kernel })
    }

    // MARK: - Decode

    /// S + W rows at most (fewer for shorter sequences): rotated k (NKV*hs) then v (NKV*hs).
    public func cacheCount(maxTokens: Int) -> Int {
        min(maxTokens, sinks + window) * 2 * shape.kvHeads * shape.headSize
    }

    /// cos, sin (hs/2 each), rotated q (NH*hs), scores (S + W), then the sinks' q (NH*hs).
    public func decodeScratchCount(maxTokens: Int) -> Int {
        AttentionStep.qkvScratchCount(shape, maxTokens: sinks + window) + shape.heads * shape.headSize
    }

    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs, S) = (shape.heads, shape.kvHeads, shape.headSize, sinks)
        let p = step.position
        let rowWidth = 2 * NKV * hs
        let slot = p < S ? p : S + (p - S) % window
        let (qr, scores) = step.storeQKV(shape, row: step.cache + slot * rowWidth, ropeBase: ropeBase)
        let n = min(p + 1, S + window)  // rows in use; past S + W, rows 0..<S are the sinks
        var qs = qr
        if p > clamp {  // the sinks at distance clamp - s: q rotated at the cache's last position
            qs = scores + S + window
            qs.update(from: step.qkv, count: NH * hs)
            let (cos, sin) = (step.scratch, step.scratch + hs / 2)
            ropeTables(cos: cos, sin: sin, T: 1, hs: hs, pos0: clamp, base: ropeBase)
            ropeForward(
                out: qs, inp: qs, cos: cos, sin: sin, B: 1, T: 1, heads: NH, hs: hs, outStride: NH * hs,
                inpStride: NH * hs)
        }
        let kernel = self.kernel
        for h in 0..<NH {
            let g = h / shape.groupSize
            for j in 0..<n {
                let q = (j < S ? qs : qr) + h * hs
                scores[j] = kernel.scale * dot(q, step.cache + j * rowWidth + g * hs, hs)
            }
            kernel.decodeRow(
                scores: scores, n: n, v: step.cache + NKV * hs + g * hs, ldv: rowWidth, dv: hs, out: step.out + h * hs)
        }
    }
}

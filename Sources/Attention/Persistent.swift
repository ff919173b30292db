// Persistent memory (Sukhbaatar, Grave, Lample, Jégou, Joulin 2019, "Augmenting Self-attention with
// Persistent Memory", arXiv 1907.01470), with MQA/GQA (§1i): N learned key and value vectors per kv
// head, seen by every query beside its causal context, in one softmax:
//   S_ij = s R(i)q_i·R(j)k_j (j <= i),  M_in = s q_i·(√hs K_n) (n < N),  s = 1/sqrt(hs),
//   P = softmax over [M_i | S_i],  O_i = Σ_n P_in √N V_n + Σ_j P_ij v_j.
// Choices the paper leaves open or that differ from it:
// - Position: the paper's memory has no position (its relative position embeddings go to the
//   context only). Here the context gets half-split RoPE (option rope_base) and the memory
//   none: a memory logit uses the unrotated q_i and the unrotated K_n, so it does not depend on
//   the query's position.
// - Parameters "persistent.key" and "persistent.value", shape (NKV, N, hs), one set per kv head
//   (the paper has one per head; query head h reads kv head h / (NH/NKV), as k and v).
// - Initialisation and scale as the paper's code (facebookresearch/adaptive-span): keys are
//   stored N(0, 1/hs) and used times √hs, values stored N(0, 1/N) and used times √N, so the
//   vectors used start N(0, 1). The paper drops the feed-forward layer for its N = 1024-2048
//   vectors; here the layer keeps its MLP and N is option "memory" (default 16).
// Trained on the softmax family's tile engine (CausalTiles.swift): the memory is the extra block
// of columns before each tile's causal keys (`ExtraKeys.memory`), so "tile" and
// "probs_cache_mib" work as for softmax_rope. Decode: a KV cache of rotated k and v per token,
// after N rows holding the memory (√hs K, √N V), written when a sequence starts (position 0).
import Basics
import Foundation
import Kernels

public struct Persistent: AttentionVariant {
    public static let name = "persistent"
    public let shape: AttentionShape
    /// Persistent vectors per kv head; option "memory".
    public let memory: Int
    /// RoPE base of the context; option "rope_base".
    public let ropeBase: Double
    /// Query rows per BLAS tile; option "tile" (speed only).
    public let tile: Int
    /// Option "probs_cache_mib" (speed only), in bytes.
    public let probsCacheBytes: Int

    static let memoryOption = AttentionOption(
        "memory", default: 16, range: .within(1, 1 << 16),
        doc: "learned key/value vectors per kv head, seen by every query")
    static let ropeBaseOption = CommonOptions.ropeBase(default: 10_000)

    public static let options: [any AttentionOptionInfo] = [
        memoryOption, ropeBaseOption, CommonOptions.tile, CommonOptions.probsCacheMiB,
    ]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        memory = try reader.read(Self.memoryOption, shape: shape)
        ropeBase = try reader.read(Self.ropeBaseOption, shape: shape)
        tile = try reader.read(CommonOptions.tile, shape: shape)
        probsCacheBytes = try reader.probsCacheBytes(shape: shape)
        try reader.finish()
        guard shape.headSize % 2 == 0 else {
            throw AttentionError.invalidShape(
                "persistent rotates pairs of the context, so the head size (\(shape.headSize)) must be even")
        }
        self.shape = shape
    }

    /// persistent.key then persistent.value, (NKV, N, hs) each.
    public var parameters: [TensorSpec] {
        var layout = LayoutBuilder()
        layout.add("persistent.key", [shape.kvHeads, memory, shape.headSize])
        layout.add("persistent.value", [shape.kvHeads, memory, shape.headSize])
        return layout.tensors
    }

    /// Keys N(0, 1/hs), values N(0, 1/N) (used times √hs and √N).
    public func initialize(params: UnsafeMutablePointer<Float>, rng: inout SplitMix64) {
        let n = shape.kvHeads * memory * shape.headSize
        let (keySD, valueSD) = (1 / Float(shape.headSize).squareRoot(), 1 / Float(memory).squareRoot())
        for i in 0..<n { params[i] = keySD * standardNormal(&rng) }
        for i in n..<2 * n { params[i] = valueSD * standardNormal(&rng) }
    }

    private var keyScale: Float { Float(shape.headSize).squareRoot() }
    private var valueScale: Float { Float(memory).squareRoot() }

    private var driver: HeadDriver {
        var driver = HeadDriver(shape: shape, tile: tile, probsCacheBytes: probsCacheBytes)
        driver.extra = .memory(memory)
        driver.memory = MemoryOperands(
            key: 0, value: shape.kvHeads * memory * shape.headSize, count: memory, keyScale: keyScale,
            valueScale: valueScale)
        return driver
    }

    private var kernel: TileKernel {
        TileKernel(scale: 1 / Float(shape.headSize).squareRoot(), tile: tile, extra: .memory(memory))
    }

    public func savedCount(B: Int, T: Int) -> Int {
        driver.ropeSavedLayout(B: B, T: T).end + driver.probsCount(B: B, T: T)
    }

    public func scratchCount(B: Int, T: Int) -> Int { driver.scratchCount(T: T, rope: true) }

    // MARK: - Forward and backward

    public func forward(_ io: AttentionIO) {
        let (driver, kernel) = (self.driver, self.kernel)
        let l = driver.ropeSavedLayout(B: io.B, T: io.T)
        driver.forward(
            io, lse: io.saved + l.lse, rope: driver.rotated(io, base: ropeBase), probs: driver.probs(io, at: l.end)
        ) { _, _ in
            kernel
        }
    }

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let (driver, kernel) = (self.driver, self.kernel)
        let l = driver.ropeSavedLayout(B: io.B, T: io.T)
        driver.backward(
            io, grads, lse: io.saved + l.lse, rope: driver.rotated(io, base: ropeBase),
            probs: driver.probs(io, at: l.end)
        ) { _, _ in kernel }
    }

    /// The same tile kernel on head-major tensors, with "persistent.key" [Hkv][N][d] and
    /// "persistent.value" [Hkv][N][dv] (outputs "dpersistent.key", "dpersistent.value").
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        let (Hkv, N) = (call.Hkv, memory)
        let why = "persistent with memory = \(N)"
        let key = try call.required("persistent.key", [Hkv, N, call.d], why)
        let value = try call.required("persistent.value", [Hkv, N, call.dv], why)
        let kernel = self.kernel
        let extra = HeadMajorExtra.memory(
            key: key, value: value, count: N, keyScale: keyScale, valueScale: valueScale)
        let core = HeadMajorCore.run(call, ropeBase: ropeBase, extra: extra) { _ in kernel }
        var out = call.output(core)
        out.add("dpersistent.key", [Hkv, N, call.d], core.dmemoryKey)
        out.add("dpersistent.value", [Hkv, N, call.dv], core.dmemoryValue)
        return out
    }

    // MARK: - Decode

    /// N memory rows, then one per token: rotated k (NKV*hs) then v (NKV*hs).
    public func cacheCount(maxTokens: Int) -> Int { (memory + maxTokens) * 2 * shape.kvHeads * shape.headSize }

    /// cos, sin (hs/2 each), rotated q (NH*hs), scores (N + maxTokens).
    public func decodeScratchCount(maxTokens: Int) -> Int {
        AttentionStep.qkvScratchCount(shape, maxTokens: memory + maxTokens)
    }

    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs, N) = (shape.heads, shape.kvHeads, shape.headSize, memory)
        let p = step.position
        let rowWidth = 2 * NKV * hs
        if p == 0 { writeMemory(step.cache, params: step.params) }
        let tokens = step.cache + N * rowWidth
        let (qr, scores) = step.storeQKV(shape, row: tokens + p * rowWidth, ropeBase: ropeBase)
        let kernel = self.kernel
        for h in 0..<NH {
            let g = h / shape.groupSize
            for n in 0..<N {  // the memory sees the unrotated q
                scores[n] = kernel.scale * dot(step.qkv + h * hs, step.cache + n * rowWidth + g * hs, hs)
            }
            for j in 0...p {
                scores[N + j] = kernel.scale * dot(qr + h * hs, tokens + j * rowWidth + g * hs, hs)
            }
            kernel.decodeRow(
                scores: scores, n: N + p + 1, v: step.cache + NKV * hs + g * hs, ldv: rowWidth, dv: hs,
                out: step.out + h * hs)
        }
    }

    /// The cache's first N rows: memory row n holds √hs K_gn then √N V_gn for every kv head g.
    private func writeMemory(_ cache: UnsafeMutablePointer<Float>, params: UnsafePointer<Float>) {
        let (NKV, hs, N) = (shape.kvHeads, shape.headSize, memory)
        let values = params + NKV * N * hs
        for n in 0..<N {
            let row = cache + n * 2 * NKV * hs
            for g in 0..<NKV {
                for e in 0..<hs {
                    row[g * hs + e] = keyScale * params[(g * N + n) * hs + e]
                    row[(NKV + g) * hs + e] = valueScale * values[(g * N + n) * hs + e]
                }
            }
        }
    }
}

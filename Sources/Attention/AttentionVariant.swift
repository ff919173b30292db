// The extension point for attention: a variant owns only the per-head map (q, k, v[, x]) -> out
// of shared/spec/attention.md §0, forward and backward, including its positional encoding. The
// layer around it (qkv = x·Wqkvᵀ before, out·Woᵀ after, the residual) lives in Model.
// Design (architecture.md §3.5): one file per variant, registered in AttentionRegistry; buffers
// are flat Float arenas carved by the variant itself, so the Model allocates without knowing
// what is inside (per-layer parameters, per-call saved state for backward, per-call scratch,
// a per-sequence decode cache). MQA/GQA: query head h reads kv head h / (NH/NKV) (§1i).
import Basics
import Foundation
import Kernels

/// Sizes fixed by the model: NH query heads, NKV kv heads, head size hs, layer width C.
public struct AttentionShape: Sendable, Equatable {
    public var heads: Int  // NH
    public var kvHeads: Int  // NKV, divides NH
    public var headSize: Int  // hs
    public var channels: Int  // C, width of the layer input x (for gates)
    public var context: Int  // training context T (e.g. for a -log T bias)

    public init(heads: Int, kvHeads: Int, headSize: Int, channels: Int, context: Int) {
        self.heads = heads
        self.kvHeads = kvHeads
        self.headSize = headSize
        self.channels = channels
        self.context = context
    }

    /// Floats per token in the fused qkv buffer: [q (NH*hs) | k (NKV*hs) | v (NKV*hs)].
    public var qkvWidth: Int { (heads + 2 * kvHeads) * headSize }
    /// Floats per token of the variant's output, (NH*hs).
    public var outWidth: Int { heads * headSize }
    /// Query heads per kv head.
    public var groupSize: Int { heads / kvHeads }
}

/// Pointers and sizes of one batched call; the same struct serves forward and backward.
public struct AttentionIO {
    public var B: Int, T: Int
    /// Position of token t = 0 (tokens are at pos0 ..< pos0+T).
    public var pos0: Int
    public var qkv: UnsafePointer<Float>  // (B, T, qkvWidth)
    public var x: UnsafePointer<Float>  // (B, T, C) the layer input (after the norm)
    public var out: UnsafeMutablePointer<Float>  // (B, T, outWidth), written by forward
    public var params: UnsafePointer<Float>  // (parameterCount) this layer's variant parameters
    public var saved: UnsafeMutablePointer<Float>  // (savedCount(B:T:)) forward -> backward
    public var scratch: UnsafeMutablePointer<Float>  // (scratchCount(B:T:)) free between calls
    /// Floats allocated at `saved`, when more than savedCount(B:T:) (a workspace sized for a
    /// longer T); nil means exactly savedCount(B:T:). Optional caches (kept attention weights)
    /// are used only if they fit here: savedCount need not grow with T once a cache stops
    /// fitting its budget.
    public var savedCapacity: Int?

    public init(
        B: Int, T: Int, pos0: Int = 0, qkv: UnsafePointer<Float>, x: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, params: UnsafePointer<Float>,
        saved: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, savedCapacity: Int? = nil
    ) {
        (self.B, self.T, self.pos0, self.qkv, self.x, self.out) = (B, T, pos0, qkv, x, out)
        (self.params, self.saved, self.scratch, self.savedCapacity) = (params, saved, scratch, savedCapacity)
    }

    /// Whether `count` floats at offset `offset` of `saved` are inside its allocation.
    public func savedHasRoom(at offset: Int, count: Int) -> Bool {
        savedCapacity.map { offset + count <= $0 } ?? true
    }
}

/// Gradients one backward call accumulates into (+=, like every backward in Kernels).
public struct AttentionGrads {
    public var dout: UnsafePointer<Float>  // (B, T, outWidth)
    public var dqkv: UnsafeMutablePointer<Float>  // (B, T, qkvWidth)
    public var dx: UnsafeMutablePointer<Float>  // (B, T, C)
    public var dparams: UnsafeMutablePointer<Float>  // (parameterCount)

    public init(
        dout: UnsafePointer<Float>, dqkv: UnsafeMutablePointer<Float>,
        dx: UnsafeMutablePointer<Float>, dparams: UnsafeMutablePointer<Float>
    ) {
        (self.dout, self.dqkv, self.dx, self.dparams) = (dout, dqkv, dx, dparams)
    }
}

/// One decode step for a single sequence against the variant's cache.
public struct AttentionStep {
    /// Index of this token in the cache, which holds the tokens 0 ..< position of this sequence.
    public var position: Int
    /// Position (as in AttentionIO.pos0: RoPE, length scaling) of the cache's first token, so this
    /// token is at pos0 + position: a staircase row's cache starts mid-stream. Decoding from
    /// pos0 equals `forward` with io.pos0 = pos0 over the same tokens.
    public var pos0: Int
    public var qkv: UnsafePointer<Float>  // (qkvWidth)
    public var x: UnsafePointer<Float>  // (C)
    public var out: UnsafeMutablePointer<Float>  // (outWidth)
    public var params: UnsafePointer<Float>  // (parameterCount)
    public var cache: UnsafeMutablePointer<Float>  // (cacheCount(maxTokens:))
    public var scratch: UnsafeMutablePointer<Float>  // (decodeScratchCount(maxTokens:))

    public init(
        position: Int, pos0: Int = 0, qkv: UnsafePointer<Float>, x: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, params: UnsafePointer<Float>,
        cache: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        (self.position, self.pos0, self.qkv, self.x, self.out) = (position, pos0, qkv, x, out)
        (self.params, self.cache, self.scratch) = (params, cache, scratch)
    }

    /// The position of this token: pos0 + position.
    public var absolutePosition: Int { pos0 + position }
}

extension AttentionStep {
    /// The scratch of `storeQKV`'s callers: cos, sin (hs/2 each), q (NH*hs), scores (maxTokens).
    static func qkvScratchCount(_ shape: AttentionShape, maxTokens: Int) -> Int {
        shape.headSize + shape.heads * shape.headSize + maxTokens
    }

    /// Copies this token's q (NH*hs) into the scratch and its k and v (NKV*hs each) to the cache
    /// row `row`; with `ropeBase`, rotates q and k by the token's position (pos0 + position). Returns q and the
    /// scores (p+1 floats used) in the scratch, laid out as `qkvScratchCount` says.
    func storeQKV(_ shape: AttentionShape, row: UnsafeMutablePointer<Float>, ropeBase: Double?) -> (
        q: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>
    ) {
        let (NH, NKV, hs) = (shape.heads, shape.kvHeads, shape.headSize)
        let cos = scratch
        let sin = cos + hs / 2
        let q = sin + hs / 2
        q.update(from: qkv, count: NH * hs)
        row.update(from: qkv + NH * hs, count: 2 * NKV * hs)
        if let ropeBase {
            ropeTables(cos: cos, sin: sin, T: 1, hs: hs, pos0: absolutePosition, base: ropeBase)
            ropeForward(
                out: q, inp: q, cos: cos, sin: sin, B: 1, T: 1, heads: NH, hs: hs, outStride: NH * hs,
                inpStride: NH * hs)
            ropeForward(
                out: row, inp: row, cos: cos, sin: sin, B: 1, T: 1, heads: NKV, hs: hs, outStride: NKV * hs,
                inpStride: NKV * hs)
        }
        return (q, q + NH * hs)
    }
}

/// How one layer mixes information across time.
public protocol AttentionVariant: Sendable {
    /// Registry key stored in run configs, e.g. "softmax_rope"; never rename.
    static var name: String { get }
    /// Every option the variant takes, declared once (AttentionOptions.swift): the run config,
    /// the tensor interface, `--help` and the errors all go through these.
    static var options: [any AttentionOptionInfo] { get }
    /// Reads options (unknown names throw, see OptionReader) and checks the shape.
    init(options: [String: ConfigValue], shape: AttentionShape) throws

    var shape: AttentionShape { get }
    /// Extra learned tensors per layer with offsets relative to the variant's block, e.g. FoX's
    /// gate "fgate.weight" (NH, C) and "fgate.bias" (NH). Empty for softmax_rope.
    var parameters: [TensorSpec] { get }
    /// Floats that forward leaves for backward (per layer).
    func savedCount(B: Int, T: Int) -> Int
    /// Floats of temporary memory one forward or backward call needs (shared across layers).
    func scratchCount(B: Int, T: Int) -> Int
    /// Initialises the extra parameters (default: matrices N(0, 0.02), vectors 0).
    func initialize(params: UnsafeMutablePointer<Float>, rng: inout SplitMix64)

    /// Writes io.out and io.saved.
    func forward(_ io: AttentionIO)
    /// Accumulates into grads after `forward(io)` with the same io (out and saved intact).
    func backward(_ io: AttentionIO, _ grads: AttentionGrads)

    /// Floats of the per-layer decode cache for sequences of up to maxTokens.
    func cacheCount(maxTokens: Int) -> Int
    /// Floats of temporary memory one decode step needs.
    func decodeScratchCount(maxTokens: Int) -> Int
    /// Appends this token to the cache and writes its output; equals `forward` at that position.
    func decode(_ step: AttentionStep)

    /// The parts of the fused qkv projection the variant reads: `.queryKeyValue` (default), or
    /// `.keyValue` for a variant whose query is learned (aaren). The layer computes only these
    /// (Model's parameter layout holds their rows only); the other columns of the qkv buffer are
    /// left as they are and never read, and their gradient is not propagated.
    var projections: AttentionProjections { get }

    /// Query rows per head the tensor interface takes for T tokens: T (default), or 1 for a
    /// variant whose query is learned (aaren).
    static func tensorQueryRows(T: Int) -> Int
    /// The per-head map on plain head-major tensors (`tracker attention`, the golden tests), with
    /// B = 1 and positions 0..<T; self was built from the call's options for `call.shape`. Reads
    /// the variant's own parameters and gates from `call` by name, and returns "out" and, with
    /// dout, the gradient of sum(out * dout) for every input it read ("dq", "dlog_f", ...).
    func runTensors(_ call: inout TensorCall) throws -> TensorOutput
}

/// Which parts of the fused [q | k | v] projection a variant reads.
public enum AttentionProjections: Sendable, Equatable {
    case queryKeyValue, keyValue
}

extension AttentionVariant {
    public var projections: AttentionProjections { .queryKeyValue }

    /// The columns of each fused qkv row (of `shape.qkvWidth`) that the layer's projection
    /// computes: all, or without the q part (NH*hs) for `.keyValue`. The wqkv weight has one row
    /// per column here.
    public var projectedColumns: Range<Int> {
        switch projections {
        case .queryKeyValue: return 0..<shape.qkvWidth
        case .keyValue: return shape.heads * shape.headSize..<shape.qkvWidth
        }
    }

    public static func tensorQueryRows(T: Int) -> Int { T }
    public var parameters: [TensorSpec] { [] }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    public func initialize(params: UnsafeMutablePointer<Float>, rng: inout SplitMix64) {
        for spec in parameters {
            for i in 0..<spec.count {
                params[spec.offset + i] = spec.shape.count >= 2 ? 0.02 * standardNormal(&rng) : 0
            }
        }
    }
}

/// A standard normal sample (Box-Muller on 53-bit uniforms); the one used for all initialisation.
public func standardNormal(_ rng: inout SplitMix64) -> Float {
    let u1 = Double(rng.next() >> 11 + 1) / Double(1 << 53)
    let u2 = Double(rng.next() >> 11) / Double(1 << 53)
    return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
}

/// One zeroed Float allocation cut into consecutive parts of the given sizes (the buffers of a
/// tensor-interface call); `free()` releases them all.
struct Arena {
    let parts: [UnsafeMutablePointer<Float>]
    private let base: UnsafeMutablePointer<Float>

    init(_ sizes: [Int]) {
        let total = sizes.reduce(0, +)
        let base = UnsafeMutablePointer<Float>.allocate(capacity: max(total, 1))
        base.initialize(repeating: 0, count: max(total, 1))
        var (offset, parts) = (0, [UnsafeMutablePointer<Float>]())
        for n in sizes {
            parts.append(base + offset)
            offset += n
        }
        (self.base, self.parts) = (base, parts)
    }

    func free() { base.deallocate() }
}

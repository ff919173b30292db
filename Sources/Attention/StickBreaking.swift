// Stick-breaking attention (Tan et al. 2024, arXiv 2410.17980), shared/spec/attention.md §1b, with
// MQA/GQA (§1i) and no positional encoding. Allowed keys j < i (j <= i with attend_current):
//   z_ij = s q_i·k_j,  log A_ij = z_ij - Σ_{j<=m<i} softplus(z_im)  (a reverse cumsum over keys),
//   o_i = Σ_j A_ij v_j + rem_i Rv_i,  rem_i = exp(-Σ_m softplus(z_im)) = 1 - Σ_j A_ij,
//   Rv_i = v_i ("current"), b_h ("bias": parameter remainder_bias (NH, hs), init 0), 0 ("none").
// Fast path: per (b, head), query rows go in tiles; one sgemm writes the tile's logits transposed,
// (keys, rows), so the reverse cumsum over keys runs down the columns with 8 query rows per SIMD
// lane group, fused with a vectorised softplus and exp; one sgemm gives A V. Keys go in blocks
// from the diagonal back; a tile stops once every row's log-stick is below -30 (the rest weighs
// < 1e-13, exact within float32). Option "probs_cache_mib" (like the softmax family, default 64):
// when a layer call's tiles fit that many MiB, forward keeps what backward needs, each tile's
// weights A_t and sigmoids σ_t (keys, P lanes) and its rem, and backward starts from them;
// otherwise backward recomputes them tile by tile. That is twice the softmax family's cache (two
// floats per query and visible key): about T²/2 · 2 · 4 bytes per head and sequence, 16.5 MiB at
// T = 2048 (tile 64), so 132 MiB per head and layer call at B x T = 8 x 2048 (528 MiB at NH = 4).
// Kernels and the tensor-level entry point are in StickBreakingKernels.swift.
import Basics
import Foundation
import Kernels

public struct StickBreaking: AttentionVariant {
    public static let name = "stick_breaking"

    /// Where the unbroken rest of the stick goes (option "remainder").
    public enum Remainder: String, Sendable, CaseIterable, OptionValue {
        case current, bias, none

        public static var expected: String { "\"current\", \"bias\" or \"none\"" }
        public init?(option: ConfigValue) {
            guard case .string(let s) = option, let mode = Self(rawValue: s) else { return nil }
            self = mode
        }
        public var option: ConfigValue { .string(rawValue) }
    }

    public let shape: AttentionShape
    /// Option "remainder".
    public let remainder: Remainder
    /// Option "attend_current": key j = i is allowed too.
    public let attendCurrent: Bool
    /// Query rows per tile; option "tile" (speed only).
    public let tile: Int
    /// Option "early_stop": a tile stops walking back once every row's stick is below e^-30.
    /// false visits every key: the same values within float32, the worst-case cost.
    public let earlyStop: Bool
    /// Bytes per layer call forward may spend keeping A and σ for backward; option "probs_cache_mib".
    public let probsCacheBytes: Int

    static let remainderOption = AttentionOption<Remainder>(
        "remainder", default: .current,
        doc: "where the rest of the stick goes: the current value v_i, a learned per-head \"bias\", or \"none\"")
    static let attendCurrentOption = AttentionOption(
        "attend_current", default: false, doc: "query i may attend to key i too (j <= i instead of j < i)")
    static let earlyStopOption = AttentionOption(
        "early_stop", default: true,
        doc: "stop walking back once every row's stick is below e^-30 (false: every key, the worst-case cost)")

    public static let options: [any AttentionOptionInfo] = [
        remainderOption, attendCurrentOption, CommonOptions.tile, earlyStopOption, CommonOptions.probsCacheMiB,
    ]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        remainder = try reader.read(Self.remainderOption, shape: shape)
        attendCurrent = try reader.read(Self.attendCurrentOption, shape: shape)
        tile = try reader.read(CommonOptions.tile, shape: shape)
        earlyStop = try reader.read(Self.earlyStopOption, shape: shape)
        probsCacheBytes = try reader.probsCacheBytes(shape: shape)
        try reader.finish()
        self.shape = shape
    }

    /// "remainder_bias" (NH, hs) in 'bias' mode: one vector per query head, no weight decay.
    public var parameters: [TensorSpec] {
        remainder == .bias
            ? [TensorSpec(name: "remainder_bias", shape: [shape.heads, shape.headSize], decay: false)] : []
    }

    /// The remainder bias starts at 0 (lm-engine's initialisation).
    public func initialize(params: UnsafeMutablePointer<Float>, rng: inout SplitMix64) {
        params.update(repeating: 0, count: parameterCount)
    }

    /// The kept tiles (A_t, σ_t, rem per tile and head), if they fit the budget; nothing else.
    public func savedCount(B: Int, T: Int) -> Int { kept.count(B: B, T: T) }

    /// Whether forward keeps A and σ for backward at this shape (speed only).
    public func cachesProbabilities(B: Int, T: Int) -> Bool { savedCount(B: B, T: T) > 0 }

    public func scratchCount(B: Int, T: Int) -> Int { StickBreakingKernel.scratchCount(T: T, tile: tile) }

    private var kernel: StickBreakingKernel {
        StickBreakingKernel(
            d: shape.headSize, dv: shape.headSize, attendCurrent: attendCurrent, tile: tile, earlyStop: earlyStop)
    }

    private var kept: KeptWeights {
        let kernel = self.kernel
        return KeptWeights(heads: shape.heads, budgetBytes: probsCacheBytes) { kernel.keptFloats(T: $0) }
    }

    /// Operands of query head h of batch row b inside the fused qkv buffer (rows W apart).
    private func head(_ io: AttentionIO, b: Int, h: Int) -> StickBreakingKernel.Head {
        let (T, NH, NKV, hs, W) = (io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        let g = h / shape.groupSize
        let base = io.qkv + b * T * W
        let v = base + (NH + NKV + g) * hs
        let rv: (UnsafePointer<Float>, Int)? =
            switch remainder {
            case .current: (v, W)
            case .bias: (io.params + h * hs, 0)
            case .none: nil
            }
        return .init(q: base + h * hs, qs: W, k: base + (NH + g) * hs, ks: W, v: v, vs: W, rv: rv)
    }

    // MARK: - Forward

    public func forward(_ io: AttentionIO) {
        let (NH, hs) = (shape.heads, shape.headSize)
        let kept = self.kept
        let base = kept.base(io, at: 0)
        for b in 0..<io.B {
            for h in 0..<NH {
                // out (T, hs) of head h, rows NH*hs apart
                kernel.forward(
                    head(io, b: b, h: h), out: io.out + b * io.T * NH * hs + h * hs, os: NH * hs,
                    T: io.T, scratch: io.scratch, kept: kept.head(base, T: io.T, b: b, h: h))
            }
        }
    }

    // MARK: - Backward

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let (T, NH, NKV, hs, W) = (io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        let kept = self.kept
        let keptBase = kept.base(io, at: 0)
        for b in 0..<io.B {
            for h in 0..<NH {
                let g = h / shape.groupSize
                let base = grads.dqkv + b * T * W
                let dv = base + (NH + NKV + g) * hs
                let drv: (UnsafeMutablePointer<Float>, Int)? =
                    switch remainder {
                    case .current: (dv, W)
                    case .bias: (grads.dparams + h * hs, 0)
                    case .none: nil
                    }
                let dHead = StickBreakingKernel.Grads(
                    dout: grads.dout + b * T * NH * hs + h * hs, dos: NH * hs, dq: base + h * hs, dqs: W,
                    dk: base + (NH + g) * hs, dks: W, dv: dv, dvs: W, drv: drv)
                kernel.backward(
                    head(io, b: b, h: h), dHead, T: T, scratch: io.scratch,
                    kept: kept.head(keptBase, T: T, b: b, h: h))
            }
        }
    }

    /// The same kernel on head-major tensors; "remainder_bias" [H][dv] is required in "bias" mode
    /// (output "dremainder_bias").
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        let (H, dv) = (call.H, call.dv)
        let bias =
            remainder == .bias
            ? try call.required("remainder_bias", [H, dv], "stick_breaking with remainder = \"bias\"") : []
        let r = Self.compute(
            q: call.q, k: call.k, v: call.v, remainderBias: bias, dout: call.dout, heads: H, kvHeads: call.Hkv,
            T: call.T, d: call.d, dv: dv, remainder: remainder, attendCurrent: attendCurrent, tile: tile,
            earlyStop: earlyStop)
        var out = call.output(AttentionCoreResult(out: r.out, dq: r.dq, dk: r.dk, dv: r.dv))
        out.add("dremainder_bias", [H, dv], r.dremainderBias)
        return out
    }

    // MARK: - Decode

    /// Per token: k (NKV*hs) then v (NKV*hs).
    public func cacheCount(maxTokens: Int) -> Int { maxTokens * 2 * shape.kvHeads * shape.headSize }

    public func decodeScratchCount(maxTokens: Int) -> Int { 0 }

    /// Walks the keys newest-first accumulating a = Σ log(1 - β) (§1b streaming form); stops once
    /// a < -30, where the rest of the stick (< 1e-13) is below float resolution (unless early_stop
    /// is false).
    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs) = (shape.heads, shape.kvHeads, shape.headSize)
        let p = step.position
        let rowWidth = 2 * NKV * hs
        (step.cache + p * rowWidth).update(from: step.qkv + NH * hs, count: rowWidth)
        let scale = 1 / Float(hs).squareRoot()
        for h in 0..<NH {
            let g = h / shape.groupSize
            let q = step.qkv + h * hs
            let o = step.out + h * hs
            o.update(repeating: 0, count: hs)
            var a: Float = 0  // log of the stick left
            var j = attendCurrent ? p : p - 1
            let stop: Float = earlyStop ? -30 : -.infinity
            while j >= 0 && a > stop {
                let z = scale * dot(q, step.cache + j * rowWidth + g * hs, hs)
                let sp = Self.softplus(z)
                let w = exp(z - sp + a)  // log A = log σ(z) + a
                let vj = step.cache + j * rowWidth + NKV * hs + g * hs
                for d in 0..<hs { o[d] += w * vj[d] }
                a -= sp
                j -= 1
            }
            let vOffset: Int = p * rowWidth + (NKV + g) * hs
            let current = UnsafePointer(step.cache + vOffset)
            let bias = step.params + h * hs
            let rv: UnsafePointer<Float>? =
                switch remainder {
                case .current: current
                case .bias: bias
                case .none: nil
                }
            if let rv {
                let rem = exp(a)
                for d in 0..<hs { o[d] += rem * rv[d] }
            }
        }
    }

    /// softplus(x) = max(x, 0) + log1p(e^-|x|) (§0), scalar.
    static func softplus(_ x: Float) -> Float { max(x, 0) + log1p(exp(-abs(x))) }
}

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
    /// Option "rope"; "rope_base".
    public let rope: Bool
    public let ropeBase: Double
    /// Option "bias": a number (fixed b) or "learned"; default the fixed b = -log(context).
    public let learnedBias: Bool
    /// The fixed b, or the initial value of the learned one.
    public let bias: Double
    /// Query rows per BLAS tile; option "tile" (speed only).
    public let tile: Int
    /// Option "probs_cache_mib" (speed only), in bytes: see `CommonOptions.probsCacheMiB`.
    public let probsCacheBytes: Int

    /// The value of option "bias".
    public enum Bias: OptionValue, Equatable {
        case fixed(Double)
        case learned

        public static var expected: String { "a number or \"learned\"" }
        public init?(option: ConfigValue) {
            if case .string("learned") = option {
                self = .learned
            } else if let b = Double(option: option) {
                self = .fixed(b)
            } else {
                return nil
            }
        }
        public var option: ConfigValue {
            switch self {
            case .fixed(let b): .double(b)
            case .learned: .string("learned")
            }
        }
    }

    /// -log(context), the default b and the learned b's initial value.
    static func defaultBias(_ shape: AttentionShape) -> Double { -log(Double(max(shape.context, 1))) }

    static let ropeOption = CommonOptions.rope(default: true)
    static let ropeBaseOption = CommonOptions.ropeBase(default: 10_000)
    static let biasOption = AttentionOption<Bias>(
        "bias", default: { .fixed(Sigmoid.defaultBias($0)) }, defaultText: "-log(context)",
        doc: "b in sigmoid(S + b): a fixed number, or \"learned\" (one scalar per layer, from -log(context))")

    public static let options: [any AttentionOptionInfo] = [
        ropeOption, ropeBaseOption, biasOption, CommonOptions.tile, CommonOptions.probsCacheMiB,
    ]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        rope = try reader.read(Self.ropeOption, shape: shape)
        ropeBase = try reader.read(Self.ropeBaseOption, shape: shape)
        tile = try reader.read(CommonOptions.tile, shape: shape)
        probsCacheBytes = try reader.probsCacheBytes(shape: shape)
        switch try reader.read(Self.biasOption, shape: shape) {
        case .fixed(let b): (learnedBias, bias) = (false, b)
        case .learned: (learnedBias, bias) = (true, Self.defaultBias(shape))
        }
        try reader.finish()
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

    /// The same tile kernel on head-major tensors: b is the option's number, or with "learned"
    /// the parameter "bias" [1] (default -log(T)); its gradient is the scalar "dbias" = Σ dS.
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        var b = Float(bias)
        if learnedBias, let given = try call.tensor("bias", [1]) { b = given[0] }
        let kernel = TileKernel(scale: 1 / Float(shape.headSize).squareRoot(), map: .sigmoid(b), tile: tile)
        let core = HeadMajorCore.run(call, ropeBase: rope ? ropeBase : nil) { _ in kernel }
        var out = call.output(core)
        if call.dout != nil { out.scalars.append(("dbias", core.dbias)) }
        return out
    }

    // MARK: - Decode

    /// Per token: k (NKV*hs, rotated with rope) then v (NKV*hs).
    public func cacheCount(maxTokens: Int) -> Int {
        maxTokens * 2 * shape.kvHeads * shape.headSize
    }

    /// cos, sin (hs/2 each), rotated q (NH*hs), scores (maxTokens).
    public func decodeScratchCount(maxTokens: Int) -> Int {
        AttentionStep.qkvScratchCount(shape, maxTokens: maxTokens)
    }

    public func decode(_ step: AttentionStep) {
        let p = step.position
        let rowWidth = 2 * shape.kvHeads * shape.headSize
        let (qr, scores) = step.storeQKV(shape, row: step.cache + p * rowWidth, ropeBase: rope ? ropeBase : nil)
        let kernel = kernel(step.params)
        kernel.decodeHeads(shape, q: qr, cache: step.cache, n: p + 1, scores: scores, out: step.out)
    }
}

// Forgetting Transformer, FoX (Lin, Nikishin, He, Courville 2025, arXiv 2503.02130),
// shared/spec/attention.md §1d, with MQA/GQA (§1i; gates stay per query head):
//   log f_t = logsigmoid(w_h·x_t + b_h),  c_i = Σ_{l<=i} log f_l (Double),
//   S_ij = s q_i·k_j + (c_i - c_j) (j <= i),  P = softmax_j(S),  O = P V.
// Backward: dc_i = Σ_j dS_ij - Σ_i' dS_i'i, d log f_l = Σ_{i>=l} dc_i, dz = d log f (1 - f).
// NoPE by default; option rope adds half-split RoPE (base 500000). Tiled path: CausalTiles.swift.
import Basics
import Foundation
import Kernels

public struct Forgetting: AttentionVariant {
    public static let name = "forgetting"
    public let shape: AttentionShape
    /// Option "rope" (the reference `use_rope: false` by default).
    public let rope: Bool
    /// Option "rope_base" (used only with rope).
    public let ropeBase: Double
    /// Option "gate_bias_init" (f = 0.5 at init by default, as the reference
    /// `_initialize_weights`; the spec marks this uncertain: the reference comment says an outer
    /// init overwrites it).
    public let gateBiasInit: Double
    /// Query rows per BLAS tile; option "tile" (speed only).
    public let tile: Int
    /// Option "probs_cache_mib" (speed only), in bytes: see `CommonOptions.probsCacheMiB`.
    public let probsCacheBytes: Int

    static let ropeOption = CommonOptions.rope(default: false)
    static let ropeBaseOption = CommonOptions.ropeBase(default: 500_000)
    static let gateBiasInitOption = AttentionOption(
        "gate_bias_init", default: 0.0, doc: "initial forget-gate bias b_h (0 is f = 0.5)")

    public static let options: [any AttentionOptionInfo] = [
        ropeOption, ropeBaseOption, gateBiasInitOption, CommonOptions.tile, CommonOptions.probsCacheMiB,
    ]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        rope = try reader.read(Self.ropeOption, shape: shape)
        ropeBase = try reader.read(Self.ropeBaseOption, shape: shape)
        gateBiasInit = try reader.read(Self.gateBiasInitOption, shape: shape)
        tile = try reader.read(CommonOptions.tile, shape: shape)
        probsCacheBytes = try reader.probsCacheBytes(shape: shape)
        try reader.finish()
        guard !rope || shape.headSize % 2 == 0 else {
            throw AttentionError.invalidShape(
                "forgetting with rope rotates pairs, so the head size (\(shape.headSize)) "
                    + "must be even"
            )
        }
        self.shape = shape
    }

    /// fgate.weight (NH, C) then fgate.bias (NH).
    public var parameters: [TensorSpec] {
        var layout = LayoutBuilder()
        layout.add("fgate.weight", [shape.heads, shape.channels])
        layout.add("fgate.bias", [shape.heads])
        return layout.tensors
    }

    public func initialize(params: UnsafeMutablePointer<Float>, rng: inout SplitMix64) {
        let (NH, C) = (shape.heads, shape.channels)
        for i in 0..<NH * C { params[i] = 0.02 * standardNormal(&rng) }
        for h in 0..<NH { params[NH * C + h] = Float(gateBiasInit) }
    }

    private var driver: HeadDriver { HeadDriver(shape: shape, tile: tile, probsCacheBytes: probsCacheBytes) }

    /// Saved: log f (B,NH,T), lse (B,NH,T), then with rope qr (B,T,NH,hs), kr (B,T,NKV,hs),
    /// cos, sin (T, hs/2); `end` is where the kept weights go (if they fit).
    private func savedLayout(B: Int, T: Int) -> (lse: Int, qr: Int, kr: Int, cos: Int, end: Int) {
        let (NH, hs) = (shape.heads, shape.headSize)
        let qr = 2 * B * NH * T
        guard rope else { return (B * NH * T, qr, qr, qr, qr) }
        let kr = qr + B * T * NH * hs
        let cos = kr + B * T * shape.kvHeads * hs
        return (B * NH * T, qr, kr, cos, cos + T * hs)
    }

    public func savedCount(B: Int, T: Int) -> Int { savedLayout(B: B, T: T).end + driver.probsCount(B: B, T: T) }

    /// The driver's tiles (and dQ, dK), then c and dc (B, NH, T) in Double.
    public func scratchCount(B: Int, T: Int) -> Int {
        driver.scratchCount(T: T, rope: rope) + 4 * B * shape.heads * T + 2
    }

    private func rotated(_ io: AttentionIO) -> RotatedQK? {
        guard rope else { return nil }
        let l = savedLayout(B: io.B, T: io.T)
        return RotatedQK(
            qr: io.saved + l.qr, kr: io.saved + l.kr, cos: io.saved + l.cos,
            sin: io.saved + l.cos + io.T * shape.headSize / 2, base: ropeBase)
    }

    /// c = cumsum(log f) per (b, h) in Double, in the scratch after the driver's part, then body.
    private func withCumsum(_ io: AttentionIO, _ body: (UnsafeMutablePointer<Double>) -> Void) {
        let n = io.B * shape.heads * io.T
        let logF = UnsafePointer(io.saved)
        let raw = UnsafeMutableRawPointer(io.scratch + driver.scratchCount(T: io.T, rope: rope))
        raw.alignedUp(for: Double.self).withMemoryRebound(to: Double.self, capacity: 2 * n) { c in
            for r in 0..<io.B * shape.heads {
                var acc = 0.0
                for t in 0..<io.T {
                    acc += Double(logF[r * io.T + t])
                    c[r * io.T + t] = acc
                }
            }
            body(c)
        }
    }

    private func kernel(_ c: UnsafeMutablePointer<Double>, _ b: Int, _ h: Int, T: Int) -> TileKernel {
        TileKernel(
            scale: 1 / Float(shape.headSize).squareRoot(),
            bias: .cumulative(c + (b * shape.heads + h) * T), tile: tile)
    }

    // MARK: - Forward

    /// log f (NH, T) of one sequence of T tokens x (T, C): log f_ht = logsigmoid(w_h·x_t + b_h).
    private func forgetGates(
        x: UnsafePointer<Float>, T: Int, params: UnsafePointer<Float>, logF: UnsafeMutablePointer<Float>
    ) {
        let (NH, C) = (shape.heads, shape.channels)
        for h in 0..<NH {
            for t in 0..<T {
                // log f = logsigmoid(z) = min(z, 0) - log1p(e^-|z|), z = w_h·x_t + b_h
                let z = dot(x + t * C, params + h * C, C) + params[NH * C + h]
                logF[h * T + t] = min(z, 0) - log1p(exp(-abs(z)))
            }
        }
    }

    /// The backward of `forgetGates` from d log f (NH, T): accumulates dx (T, C) and dparams.
    private func forgetGatesBackward(
        dlogF: UnsafePointer<Double>, logF: UnsafePointer<Float>, x: UnsafePointer<Float>, T: Int,
        params: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dparams: UnsafeMutablePointer<Float>
    ) {
        let (NH, C) = (shape.heads, shape.channels)
        for h in 0..<NH {
            for t in 0..<T {
                // forward was: log f = logsigmoid(z) ; so dz = d log f (1 - f)
                let dz = Float(dlogF[h * T + t]) * (1 - exp(logF[h * T + t]))
                let (xt, dxt, w, dw) = (x + t * C, dx + t * C, params + h * C, dparams + h * C)
                // forward was: z = w_h·x_t + b_h
                for i in 0..<C {
                    dw[i] += dz * xt[i]
                    dxt[i] += dz * w[i]
                }
                dparams[NH * C + h] += dz
            }
        }
    }

    public func forward(_ io: AttentionIO) {
        let (B, T, NH, C) = (io.B, io.T, shape.heads, shape.channels)
        let logF = io.saved
        let lse = io.saved + savedLayout(B: B, T: T).lse
        for b in 0..<B {
            forgetGates(x: io.x + b * T * C, T: T, params: io.params, logF: logF + b * NH * T)
        }
        withCumsum(io) { c in
            let probs = driver.probs(io, at: savedLayout(B: B, T: T).end)
            driver.forward(io, lse: lse, rope: rotated(io), probs: probs) { b, h in
                kernel(c, b, h, T: T)
            }
        }
    }

    // MARK: - Backward

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let (B, T, NH, C) = (io.B, io.T, shape.heads, shape.channels)
        let logF = io.saved
        let lse = io.saved + savedLayout(B: B, T: T).lse
        withCumsum(io) { c in
            let dc = c + B * NH * T
            dc.update(repeating: 0, count: B * NH * T)
            let probs = driver.probs(io, at: savedLayout(B: B, T: T).end)
            driver.backward(io, grads, lse: lse, rope: rotated(io), probs: probs, dc: dc) { b, h in
                kernel(c, b, h, T: T)
            }
            for b in 0..<B {
                // forward was: c = cumsum(log f) ; so d log f_l = Σ_{i>=l} dc_i
                for h in 0..<NH { reverseCumsum(dc + (b * NH + h) * T, T) }
                forgetGatesBackward(
                    dlogF: dc + b * NH * T, logF: logF + b * NH * T, x: io.x + b * T * C, T: T, params: io.params,
                    dx: grads.dx + b * T * C, dparams: grads.dparams)
            }
        }
    }

    /// The same tile kernel on head-major tensors, with the gates given as "log_f" [H][T] (output
    /// "dlog_f"), or computed from "x" [T][C], "fgate.weight" [H][C] and "fgate.bias" [H] as in
    /// training (outputs "dx", "dfgate.weight", "dfgate.bias").
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        let (H, T, C) = (call.H, call.T, call.C)
        let given = try call.tensor("log_f", [H, T])
        let x = call.layerInput()
        let weight = try call.tensor("fgate.weight", [H, C])
        let bias = try call.tensor("fgate.bias", [H])
        let gated: (x: [Float], params: [Float])?
        switch (given, x, weight, bias) {
        case (_?, nil, nil, nil): gated = nil
        case (nil, let x?, let w?, let b?): gated = (x, w + b)
        default:
            throw TensorCall.error(
                "forgetting needs either \"log_f\": [H][T] (the log forget gates), or \"x\": [T][C] with "
                    + "\"fgate.weight\": [H][C] and \"fgate.bias\": [H]")
        }
        var logF = given ?? [Float](repeating: 0, count: H * T)
        if let gated { forgetGates(x: gated.x, T: T, params: gated.params, logF: &logF) }
        let kernel = TileKernel(scale: 1 / Float(shape.headSize).squareRoot(), tile: tile)
        let core = HeadMajorCore.run(call, logF: logF, ropeBase: rope ? ropeBase : nil) { _ in kernel }
        var out = call.output(core)
        guard let gated, call.dout != nil else {
            out.add("dlog_f", [H, T], core.dlogF)
            return out
        }
        var (dx, dparams) = ([Float](repeating: 0, count: T * C), [Float](repeating: 0, count: H * C + H))
        forgetGatesBackward(
            dlogF: core.dlogF.map(Double.init), logF: logF, x: gated.x, T: T, params: gated.params, dx: &dx,
            dparams: &dparams)
        out.add("dx", [T, C], dx)
        out.add("dfgate.weight", [H, C], Array(dparams[..<(H * C)]))
        out.add("dfgate.bias", [H], Array(dparams[(H * C)...]))
        return out
    }

    // MARK: - Decode

    /// Per token: k (NKV*hs, rotated with rope), v (NKV*hs), c (NH Doubles = 2 NH floats).
    public func cacheCount(maxTokens: Int) -> Int { maxTokens * rowWidth }

    private var rowWidth: Int { 2 * shape.kvHeads * shape.headSize + 2 * shape.heads }

    /// cos, sin (hs/2 each), rotated q (NH*hs), scores (maxTokens).
    public func decodeScratchCount(maxTokens: Int) -> Int {
        AttentionStep.qkvScratchCount(shape, maxTokens: maxTokens)
    }

    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs, C) = (shape.heads, shape.kvHeads, shape.headSize, shape.channels)
        let p = step.position
        let width = rowWidth
        let row = step.cache + p * width
        func c(_ j: Int, _ h: Int) -> Double {
            UnsafeRawPointer(step.cache + j * width + 2 * NKV * hs)
                .loadUnaligned(fromByteOffset: 8 * h, as: Double.self)
        }
        for h in 0..<NH {  // c_p = c_{p-1} + log f_p
            let z = dot(step.x, step.params + h * C, C) + step.params[NH * C + h]
            let cp = (p > 0 ? c(p - 1, h) : 0) + Double(min(z, 0) - log1p(exp(-abs(z))))
            UnsafeMutableRawPointer(row + 2 * NKV * hs).storeBytes(
                of: cp, toByteOffset: 8 * h, as: Double.self)
        }
        let (qr, scores) = step.storeQKV(shape, row: row, ropeBase: rope ? ropeBase : nil)
        let kernel = TileKernel(scale: 1 / Float(hs).squareRoot(), tile: tile)
        for h in 0..<NH {
            let g = h / shape.groupSize
            let cp = c(p, h)
            for j in 0...p {
                let qk = dot(qr + h * hs, step.cache + j * width + g * hs, hs)
                scores[j] = kernel.scale * qk + Float(cp - c(j, h))
            }
            kernel.decodeRow(
                scores: scores, n: p + 1, v: step.cache + NKV * hs + g * hs, ldv: width, dv: hs,
                out: step.out + h * hs)
        }
    }
}

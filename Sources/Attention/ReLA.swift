// Rectified linear attention, ReLA (Zhang, Titov and Sennrich 2021, "Sparse Attention with Linear
// Units", arXiv 2104.07012), causal, with MQA/GQA (shared/spec/attention.md §1i):
//   P_ij = max(s R(i)q_i·R(j)k_j, 0) (j <= i),  O = P V  (no normalisation over j),
//   y = g_h ∘ O / sqrt(mean(O²) + eps) per (token, head)
// Backward: dO from the norm, then dP = dO Vᵀ, dS = dP where P > 0, dq = s dS k, dk = s dSᵀ q,
// dV = Pᵀ dO; dg_h = Σ_t dy ∘ O / rms(O).
// Choices the paper leaves open or makes for translation, fixed here:
// - The normaliser is the paper's RMSNorm (Zhang and Sennrich 2019) on each head's output, with a
//   learned gain g (NH, hs) ("norm.weight", initialised to 1), without the paper's optional
//   sigmoid gate (ReLA-g); eps = 1e-5 inside the root, the repository's RMSNorm epsilon (the
//   paper's rmsnorm code adds 1e-8 to the RMS instead: one norm kernel here, RetNet's).
// - s = 1/sqrt(hs) as in the paper's scaled dot product.
// - Positions: the paper's translation models add sinusoidal embeddings; this causal LM has none,
//   so half-split RoPE (base 10000) is on by default (option rope = false: no position at all).
// Training runs on the tile engine (CausalTiles.swift, row map relu) with its kept-weights cache;
// decode keeps a KV cache.
import Basics
import Foundation
import Kernels

public struct ReLA: AttentionVariant {
    public static let name = "rela"
    public let shape: AttentionShape
    /// Option "rope"; "rope_base".
    public let rope: Bool
    public let ropeBase: Double
    /// Query rows per BLAS tile; option "tile" (speed only).
    public let tile: Int
    /// Option "probs_cache_mib" (speed only), in bytes: see `CommonOptions.probsCacheMiB`.
    public let probsCacheBytes: Int

    static let ropeOption = CommonOptions.rope(default: true)
    static let ropeBaseOption = CommonOptions.ropeBase(default: 10_000)

    public static let options: [any AttentionOptionInfo] = [
        ropeOption, ropeBaseOption, CommonOptions.tile, CommonOptions.probsCacheMiB,
    ]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        rope = try reader.read(Self.ropeOption, shape: shape)
        ropeBase = try reader.read(Self.ropeBaseOption, shape: shape)
        tile = try reader.read(CommonOptions.tile, shape: shape)
        probsCacheBytes = try reader.probsCacheBytes(shape: shape)
        try reader.finish()
        guard !rope || shape.headSize % 2 == 0 else {
            throw AttentionError.invalidShape(
                "rela with rope rotates pairs, so the head size (\(shape.headSize)) must be even")
        }
        self.shape = shape
    }

    /// norm.weight (NH, hs): the RMSNorm gain of each head.
    public var parameters: [TensorSpec] { [TensorSpec(name: "norm.weight", shape: [shape.heads, shape.headSize])] }

    public func initialize(params: UnsafeMutablePointer<Float>, rng: inout SplitMix64) {
        params.update(repeating: 1, count: shape.heads * shape.headSize)
    }

    private var driver: HeadDriver { HeadDriver(shape: shape, tile: tile, probsCacheBytes: probsCacheBytes) }

    private var kernel: TileKernel { TileKernel(scale: 1 / Float(shape.headSize).squareRoot(), map: .relu, tile: tile) }

    /// Saved: the normalised output O/rms (B,T,NH,hs), rstd (B,T,NH), then with rope qr (B,T,NH,hs),
    /// kr (B,T,NKV,hs), cos, sin (T, hs/2); `end` is where the kept weights go (if they fit).
    private func savedLayout(B: Int, T: Int) -> (rstd: Int, qr: Int, kr: Int, cos: Int, end: Int) {
        let (NH, hs) = (shape.heads, shape.headSize)
        let rstd = B * T * NH * hs
        let qr = rstd + B * T * NH
        guard rope else { return (rstd, qr, qr, qr, qr) }
        let kr = qr + B * T * NH * hs
        let cos = kr + B * T * shape.kvHeads * hs
        return (rstd, qr, kr, cos, cos + T * hs)
    }

    public func savedCount(B: Int, T: Int) -> Int { savedLayout(B: B, T: T).end + driver.probsCount(B: B, T: T) }

    /// The driver's tiles (and dQ, dK with rope), then dO before the norm (B,T,NH,hs).
    public func scratchCount(B: Int, T: Int) -> Int {
        driver.scratchCount(T: T, rope: rope) + B * T * shape.outWidth
    }

    private func rotated(_ io: AttentionIO) -> RotatedQK? {
        guard rope else { return nil }
        let l = savedLayout(B: io.B, T: io.T)
        return RotatedQK(
            qr: io.saved + l.qr, kr: io.saved + l.kr, cos: io.saved + l.cos,
            sin: io.saved + l.cos + io.T * shape.headSize / 2, base: ropeBase)
    }

    // MARK: - The norm

    /// rows (n, hs) in place: normed = o / rms(o) (kept in `normed` if given), o = g_h ∘ normed with
    /// row r of head r % heads.
    static func normForward(
        _ o: UnsafeMutablePointer<Float>, rows n: Int, hs: Int, heads: Int, gain: UnsafePointer<Float>,
        rstd: UnsafeMutablePointer<Float>, normed: UnsafeMutablePointer<Float>?
    ) {
        RetentionKernel.normForward(o, os: hs, rstd: rstd, T: n, n: hs)
        normed?.update(from: o, count: n * hs)
        for r in 0..<n {
            let g = gain + (r % heads) * hs
            for c in 0..<hs { o[r * hs + c] *= g[c] }
        }
    }

    /// dy (n, hs) in place becomes the gradient before the norm; accumulates dgain (heads, hs).
    static func normBackward(
        _ dy: UnsafeMutablePointer<Float>, rows n: Int, hs: Int, heads: Int, gain: UnsafePointer<Float>,
        normed: UnsafePointer<Float>, rstd: UnsafePointer<Float>, dgain: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<n {
            let (g, dg) = (gain + (r % heads) * hs, dgain + (r % heads) * hs)
            // forward was: y = g ∘ normed ; so dg += dy ∘ normed and dnormed = g ∘ dy
            for c in 0..<hs {
                dg[c] += dy[r * hs + c] * normed[r * hs + c]
                dy[r * hs + c] *= g[c]
            }
        }
        // forward was: normed = O rstd (row by row; in place is safe)
        RetentionKernel.normBackward(dO: dy, dy: dy, dys: hs, y: normed, ys: hs, rstd: rstd, T: n, n: hs)
    }

    // MARK: - Forward and backward

    public func forward(_ io: AttentionIO) {
        let l = savedLayout(B: io.B, T: io.T)
        let kernel = kernel
        driver.forward(io, lse: nil, rope: rotated(io), probs: driver.probs(io, at: l.end)) { _, _ in kernel }
        Self.normForward(
            io.out, rows: io.B * io.T * shape.heads, hs: shape.headSize, heads: shape.heads, gain: io.params,
            rstd: io.saved + l.rstd, normed: io.saved)
    }

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let l = savedLayout(B: io.B, T: io.T)
        let n = io.B * io.T * shape.heads
        let dO = io.scratch + driver.scratchCount(T: io.T, rope: rope)
        dO.update(from: grads.dout, count: n * shape.headSize)
        Self.normBackward(
            dO, rows: n, hs: shape.headSize, heads: shape.heads, gain: io.params, normed: io.saved,
            rstd: io.saved + l.rstd, dgain: grads.dparams)
        var inner = grads
        inner.dout = UnsafePointer(dO)
        let kernel = kernel
        driver.backward(io, inner, lse: nil, rope: rotated(io), probs: driver.probs(io, at: l.end)) { _, _ in kernel }
    }

    /// The same tile kernel and norm on head-major tensors; the gain is "norm.weight" [H][dv]
    /// (default 1), its gradient "dnorm.weight".
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        let (H, T, dv) = (call.H, call.T, call.dv)
        let gain = try call.tensor("norm.weight", [H, dv]) ?? [Float](repeating: 1, count: H * dv)
        // the gain, its gradient, one head's normed output and rstd
        let arena = Arena([H * dv, H * dv, T * dv, T])
        defer { arena.free() }
        let (gains, dgain, normed, rstd) = (arena.parts[0], arena.parts[1], arena.parts[2], arena.parts[3])
        gains.update(from: gain, count: H * dv)
        let kernel = kernel
        let core = HeadMajorCore.run(call, ropeBase: rope ? ropeBase : nil) { _ in
            kernel
        } after: { h, o, dO in
            let g = gains + h * dv
            Self.normForward(o, rows: T, hs: dv, heads: 1, gain: g, rstd: rstd, normed: normed)
            guard let dO else { return }
            Self.normBackward(
                dO, rows: T, hs: dv, heads: 1, gain: g, normed: normed, rstd: rstd, dgain: dgain + h * dv)
        }
        var out = call.output(core)
        if call.dout != nil {
            out.add("dnorm.weight", [H, dv], Array(UnsafeBufferPointer(start: dgain, count: H * dv)))
        }
        return out
    }

    // MARK: - Decode

    /// Per token: k (NKV*hs, rotated with rope) then v (NKV*hs).
    public func cacheCount(maxTokens: Int) -> Int { maxTokens * 2 * shape.kvHeads * shape.headSize }

    /// cos, sin (hs/2 each), rotated q (NH*hs), scores (maxTokens).
    public func decodeScratchCount(maxTokens: Int) -> Int { AttentionStep.qkvScratchCount(shape, maxTokens: maxTokens) }

    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs) = (shape.heads, shape.kvHeads, shape.headSize)
        let p = step.position
        let rowWidth = 2 * NKV * hs
        let (qr, scores) = step.storeQKV(shape, row: step.cache + p * rowWidth, ropeBase: rope ? ropeBase : nil)
        let kernel = kernel
        kernel.decodeHeads(shape, q: qr, cache: step.cache, n: p + 1, scores: scores, out: step.out)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: NH) { rstd in
            Self.normForward(
                step.out, rows: NH, hs: hs, heads: NH, gain: step.params, rstd: rstd.baseAddress!, normed: nil)
        }
    }
}

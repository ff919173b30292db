// Gated linear attention, GLA (Yang, Wang, Shen, Panda, Kim 2024, "Gated Linear Attention
// Transformers with Hardware-Efficient Training", arXiv 2312.06635), the GateLoop / HGRN family of
// data-dependent decays, with MQA/GQA (shared/spec/attention.md §1i):
//   log α_t = logsigmoid(x_t W1 W2 + b) / τ   (per query head and key dimension, NH*hs values),
//   S_t = diag(α_t) S_{t-1} + k_tᵀ v_t,  o_t = s q_t S_t,  s = 1/sqrt(hs).
// Parameters: "gate.w1" (C, rank), "gate.w2" (rank, NH*hs), "gate.bias" (NH*hs); rank 16 and τ = 16
// as the paper (options `rank`, `tau`).
// Choices the paper leaves open or that belong to the layer: W2 maps to every query head's key
// dimensions (NH*hs, not NKV*hs), so each query head has its own decay and state and GQA only
// shares k and v (the decay is per query head as FoX's gate); the scale s on q as fla's
// implementation; no feature map on q, k (the paper's identity); the paper's output gate, its
// per-head group norm and its value width belong to the layer and are not included. Init:
// W1 ~ N(0, 1/C), W2 ~ N(0, 1/rank), bias 0: z = x W1 W2 + b has about unit variance for a
// normalised x, so α = sigmoid(z)^(1/16) spreads over about 0.89..0.99 from the start.
// Training: the chunked form with the decay accumulated in log space within each chunk and the
// intra-chunk scores factored per 16-row sub-chunk (LinearKernels.swift, option `chunk`, speed
// only); d log α_t = Σ_{u>=t} (q_u ⊙ dq_u - k_u ⊙ dk_u) of the head. Decode: the recurrent form,
// S (hs, hs) per query head: O(1) time and memory per token.
import Basics
import Foundation
import Kernels

public struct GLA: AttentionVariant {
    public static let name = "gla"
    public let shape: AttentionShape
    /// Options "chunk" (speed only), "rank" (of W1 W2), "tau" (the gate's temperature).
    public let chunk: Int, rank: Int, tau: Double

    static let rankOption = AttentionOption(
        "rank", default: 16, range: .atLeast(1, "must be positive"), doc: "rank of the gate's W1 (C, rank) W2")
    static let tauOption = AttentionOption(
        "tau", default: 16.0, range: .above(0), doc: "α = sigmoid(x W1 W2 + b)^(1/τ)")

    public static let options: [any AttentionOptionInfo] = [ChunkedLinearKernel.chunkOption, rankOption, tauOption]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        chunk = try reader.read(ChunkedLinearKernel.chunkOption, shape: shape)
        rank = try reader.read(Self.rankOption, shape: shape)
        tau = try reader.read(Self.tauOption, shape: shape)
        try reader.finish()
        self.shape = shape
    }

    /// Width of the gates, NH*hs.
    private var gateWidth: Int { shape.heads * shape.headSize }

    public var parameters: [TensorSpec] {
        var layout = LayoutBuilder()
        layout.add("gate.w1", [shape.channels, rank])
        layout.add("gate.w2", [rank, gateWidth])
        layout.add("gate.bias", [gateWidth])
        return layout.tensors
    }

    /// W1 ~ N(0, 1/C), W2 ~ N(0, 1/rank) (variance preserving: x W1 W2 has the variance of a
    /// coordinate of x, so the gates differ per token from the start), bias 0.
    public func initialize(params: UnsafeMutablePointer<Float>, rng: inout SplitMix64) {
        let (C, w1, w2) = (shape.channels, shape.channels * rank, rank * gateWidth)
        for i in 0..<w1 { params[i] = standardNormal(&rng) / Float(C).squareRoot() }
        for i in 0..<w2 { params[w1 + i] = standardNormal(&rng) / Float(rank).squareRoot() }
        (params + w1 + w2).update(repeating: 0, count: gateWidth)
    }

    private var core: GLACore {
        GLACore(
            H: shape.heads, Hkv: shape.kvHeads, d: shape.headSize, dv: shape.headSize, chunk: chunk,
            scale: 1 / Float(shape.headSize).squareRoot())
    }

    private var gate: LowRankGate {
        LowRankGate(C: shape.channels, rank: rank, width: gateWidth, tau: Float(tau))
    }

    /// Saved: x W1 (B, T, rank), then log α (B, T, NH*hs).
    public func savedCount(B: Int, T: Int) -> Int { B * T * (rank + gateWidth) }

    /// The core's, then d log α (B, T, NH*hs) and d(x W1) (B, T, rank).
    public func scratchCount(B: Int, T: Int) -> Int { core.scratchCount(T: T) + B * T * (gateWidth + rank) }

    private func sequence(_ io: AttentionIO, _ b: Int) -> GLACore.Sequence {
        let (T, NH, NKV, hs, W) = (io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        let row = io.qkv + b * T * W
        let logA = io.saved + io.B * T * rank + b * T * gateWidth
        return GLACore.Sequence(
            T: T, q: HeadRows(row, head: hs, row: W), k: HeadRows(row + NH * hs, head: hs, row: W),
            v: HeadRows(row + (NH + NKV) * hs, head: hs, row: W), logA: HeadRows(logA, head: hs, row: gateWidth),
            out: MutableHeadRows(io.out + b * T * NH * hs, head: hs, row: NH * hs))
    }

    public func forward(_ io: AttentionIO) {
        let n = io.B * io.T
        gate.forward(x: io.x, n: n, params: io.params, h1: io.saved, logA: io.saved + n * rank)
        for b in 0..<io.B { core.forward(sequence(io, b), scratch: io.scratch) }
    }

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let (B, T, NH, NKV, hs, W) = (io.B, io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        let dLogA = io.scratch + core.scratchCount(T: T)
        dLogA.update(repeating: 0, count: B * T * gateWidth)
        for b in 0..<B {
            let d = grads.dqkv + b * T * W
            core.backward(
                sequence(io, b), dout: HeadRows(grads.dout + b * T * NH * hs, head: hs, row: NH * hs),
                dq: MutableHeadRows(d, head: hs, row: W), dk: MutableHeadRows(d + NH * hs, head: hs, row: W),
                dv: MutableHeadRows(d + (NH + NKV) * hs, head: hs, row: W),
                dLogA: MutableHeadRows(dLogA + b * T * gateWidth, head: hs, row: gateWidth), scratch: io.scratch)
        }
        let n = B * T
        gate.backward(
            x: io.x, n: n, params: io.params, h1: io.saved, logA: io.saved + n * rank, dLogA: dLogA,
            dh1: dLogA + n * gateWidth, dx: grads.dx, dparams: grads.dparams)
    }

    /// The same core on head-major tensors: the gates as "log_a" [H][T][d] (output "dlog_a"), or
    /// computed from "x" [T][C] and the parameters by name as in training ("dx", "dgate.w1", ...).
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        let (H, T, C, d) = (call.H, call.T, call.C, call.d)
        let given = try call.tensor("log_a", [H, T, d])
        let x = call.layerInput()
        let w1 = try call.tensor("gate.w1", [C, rank])
        let w2 = try call.tensor("gate.w2", [rank, H * d])
        let bias = try call.tensor("gate.bias", [H * d])
        let core = GLACore(H: H, Hkv: call.Hkv, d: d, dv: call.dv, chunk: chunk, scale: 1 / Float(d).squareRoot())
        switch (given, x, w1, w2, bias) {
        case (let logA?, nil, nil, nil, nil):
            let r = core.headMajor(
                q: call.q, k: call.k, v: call.v, logA: logA, headMajorGates: true, dout: call.dout, T: T)
            var out = call.output(r.core)
            out.add("dlog_a", [H, T, d], r.dLogA)
            return out
        case (nil, let x?, let w1?, let w2?, let b?):
            let gate = LowRankGate(C: C, rank: rank, width: H * d, tau: Float(tau))
            let params = w1 + w2 + b
            var (h1, logA) = ([Float](repeating: 0, count: T * rank), [Float](repeating: 0, count: T * H * d))
            gate.forward(x: x, n: T, params: params, h1: &h1, logA: &logA)
            let r = core.headMajor(
                q: call.q, k: call.k, v: call.v, logA: logA, headMajorGates: false, dout: call.dout, T: T)
            var out = call.output(r.core)
            guard call.dout != nil else { return out }
            var (dx, dparams, dh1) = (
                [Float](repeating: 0, count: T * C), [Float](repeating: 0, count: params.count),
                [Float](repeating: 0, count: T * rank)
            )
            var dLogA = r.dLogA  // overwritten with dz
            gate.backward(
                x: x, n: T, params: params, h1: h1, logA: logA, dLogA: &dLogA, dh1: &dh1, dx: &dx, dparams: &dparams)
            out.add("dx", [T, C], dx)
            out.add("dgate.w1", [C, rank], Array(dparams[..<(C * rank)]))
            out.add("dgate.w2", [rank, H * d], Array(dparams[(C * rank)..<(C * rank + rank * H * d)]))
            out.add("dgate.bias", [H * d], Array(dparams[(C * rank + rank * H * d)...]))
            return out
        default:
            throw TensorCall.error(
                "gla needs either \"log_a\": [H][T][d] (the log decays), or \"x\": [T][C] with \"gate.w1\": "
                    + "[C][\(rank)], \"gate.w2\": [\(rank)][H*d] and \"gate.bias\": [H*d]")
        }
    }

    // MARK: - Decode

    /// S (hs, hs) per query head.
    public func cacheCount(maxTokens: Int) -> Int { shape.heads * shape.headSize * shape.headSize }

    /// x W1 (rank), log α (NH*hs).
    public func decodeScratchCount(maxTokens: Int) -> Int { rank + gateWidth }

    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs) = (shape.heads, shape.kvHeads, shape.headSize)
        if step.position == 0 { step.cache.update(repeating: 0, count: cacheCount(maxTokens: 1)) }
        let (h1, logA) = (step.scratch, step.scratch + rank)
        gate.forward(x: step.x, n: 1, params: step.params, h1: h1, logA: logA)
        let scale = 1 / Float(hs).squareRoot()
        for h in 0..<NH {
            let g = h / shape.groupSize
            let (q, k, v) = (step.qkv + h * hs, step.qkv + (NH + g) * hs, step.qkv + (NH + NKV + g) * hs)
            let S = step.cache + h * hs * hs
            let o = step.out + h * hs
            o.update(repeating: 0, count: hs)
            for a in 0..<hs {
                // S = diag(α) S + kᵀ v ; o = s q S
                let alpha = exp(logA[h * hs + a])
                for c in 0..<hs {
                    S[a * hs + c] = alpha * S[a * hs + c] + k[a] * v[c]
                    o[c] += scale * q[a] * S[a * hs + c]
                }
            }
        }
    }
}

/// GLA's gate on n rows of x (n, C): h1 = x W1 (n, rank), z = h1 W2 + b, log α = logsigmoid(z) / τ
/// (n, width); params are W1 (C, rank), W2 (rank, width), b (width) in that order.
struct LowRankGate {
    let C: Int, rank: Int, width: Int, tau: Float

    func forward(
        x: UnsafePointer<Float>, n: Int, params: UnsafePointer<Float>, h1: UnsafeMutablePointer<Float>,
        logA: UnsafeMutablePointer<Float>
    ) {
        let (w2, bias) = (params + C * rank, params + C * rank + rank * width)
        BLAS.gemm(M: n, N: rank, K: C, A: x, lda: C, B: params, ldb: rank, beta: 0, C: h1, ldc: rank)
        BLAS.gemm(M: n, N: width, K: rank, A: h1, lda: rank, B: w2, ldb: width, beta: 0, C: logA, ldc: width)
        for t in 0..<n {
            for c in 0..<width {
                let z = logA[t * width + c] + bias[c]
                logA[t * width + c] = (min(z, 0) - log1p(exp(-abs(z)))) / tau
            }
        }
    }

    /// Accumulates dx and dparams from d log α (n, width); overwrites dLogA with dz and uses dh1
    /// (n, rank) as scratch.
    func backward(
        x: UnsafePointer<Float>, n: Int, params: UnsafePointer<Float>, h1: UnsafePointer<Float>,
        logA: UnsafePointer<Float>, dLogA: UnsafeMutablePointer<Float>, dh1: UnsafeMutablePointer<Float>,
        dx: UnsafeMutablePointer<Float>, dparams: UnsafeMutablePointer<Float>
    ) {
        let (w2, dw2, dbias) = (params + C * rank, dparams + C * rank, dparams + C * rank + rank * width)
        for t in 0..<n {
            for c in 0..<width {
                // forward was: log α = logsigmoid(z) / τ ; so dz = d log α (1 - sigmoid(z)) / τ
                let i = t * width + c
                dLogA[i] = dLogA[i] * (1 - exp(tau * logA[i])) / tau
                dbias[c] += dLogA[i]
            }
        }
        // forward was: z = h1 W2 + b, h1 = x W1
        BLAS.gemm(
            transA: true, M: rank, N: width, K: n, A: h1, lda: rank, B: dLogA, ldb: width, beta: 1, C: dw2, ldc: width)
        BLAS.gemm(
            transB: true, M: n, N: rank, K: width, A: dLogA, lda: width, B: w2, ldb: width, beta: 0, C: dh1, ldc: rank)
        BLAS.gemm(transA: true, M: C, N: rank, K: n, A: x, lda: C, B: dh1, ldb: rank, beta: 1, C: dparams, ldc: rank)
        BLAS.gemm(transB: true, M: n, N: C, K: rank, A: dh1, lda: rank, B: params, ldb: rank, beta: 1, C: dx, ldc: C)
    }
}

/// Gated linear attention over the heads of one sequence (the map in GLA.swift's header).
struct GLACore {
    let H: Int, Hkv: Int, d: Int, dv: Int, chunk: Int, scale: Float

    struct Sequence {
        var T: Int
        var q: HeadRows, k: HeadRows, v: HeadRows
        /// log α of query head h.
        var logA: HeadRows
        var out: MutableHeadRows
    }

    private var kernel: ChunkedLinearKernel { ChunkedLinearKernel(d: d, dv: dv, chunk: chunk, scale: scale) }

    /// The kernel's, then this head's dq and dk (T, d each) and a running sum (d).
    func scratchCount(T: Int) -> Int { kernel.scratchCount(T: T) + 2 * T * d + d }

    private func head(_ s: Sequence, _ h: Int) -> ChunkedLinearKernel.Head {
        let g = h / (H / Hkv)
        return ChunkedLinearKernel.Head(
            q: s.q.at(h), qs: s.q.row, k: s.k.at(g), ks: s.k.row, v: s.v.at(g), vs: s.v.row, logA: s.logA.at(h),
            las: s.logA.row)
    }

    func forward(_ s: Sequence, scratch: UnsafeMutablePointer<Float>) {
        for h in 0..<H { kernel.forward(head(s, h), out: s.out.at(h), os: s.out.row, T: s.T, scratch: scratch) }
    }

    /// Accumulates dq, dk, dv and d log α.
    func backward(
        _ s: Sequence, dout: HeadRows, dq: MutableHeadRows, dk: MutableHeadRows, dv: MutableHeadRows,
        dLogA: MutableHeadRows, scratch: UnsafeMutablePointer<Float>
    ) {
        let T = s.T
        let dQ = scratch + kernel.scratchCount(T: T)
        let dK = dQ + T * d
        for h in 0..<H {
            let g = h / (H / Hkv)
            dQ.update(repeating: 0, count: 2 * T * d)
            kernel.backward(
                head(s, h),
                .init(
                    dout: dout.at(h), dos: dout.row, dq: dQ, dqs: d, dk: dK, dks: d, dv: dv.at(g), dvs: dv.row),
                T: T, scratch: scratch)
            // q_t meets e^(B_t), k_t e^(-B_t), B = cumsum(log α) ; so d log α_t = Σ_{u>=t} q_u dq_u - k_u dk_u
            let (q, k, dl) = (s.q.at(h), s.k.at(g), dLogA.at(h))
            let acc = dK + T * d
            acc.update(repeating: 0, count: d)
            for t in stride(from: T - 1, through: 0, by: -1) {
                for m in 0..<d {
                    acc[m] += q[t * s.q.row + m] * dQ[t * d + m] - k[t * s.k.row + m] * dK[t * d + m]
                    dl[t * dLogA.row + m] += acc[m]
                }
            }
            for t in 0..<T {
                for m in 0..<d {
                    dq.at(h)[t * dq.row + m] += dQ[t * d + m]
                    dk.at(g)[t * dk.row + m] += dK[t * d + m]
                }
            }
        }
    }

    /// The map on head-major q (H, T, d), k, v, dout, with log α head-major (H, T, d) or
    /// token-major (T, H*d).
    func headMajor(
        q: [Float], k: [Float], v: [Float], logA: [Float], headMajorGates: Bool, dout: [Float]?, T: Int
    ) -> (core: AttentionCoreResult, dLogA: [Float]) {
        let buffers = CoreBuffers()
        defer { buffers.free() }
        let (out, scratch) = (buffers.zeros(H * T * dv), buffers.zeros(scratchCount(T: T)))
        let gates = headMajorGates ? (head: T * d, row: d) : (head: d, row: H * d)
        let s = Sequence(
            T: T, q: HeadRows(buffers.copy(q), head: T * d, row: d), k: HeadRows(buffers.copy(k), head: T * d, row: d),
            v: HeadRows(buffers.copy(v), head: T * dv, row: dv),
            logA: HeadRows(buffers.copy(logA), head: gates.head, row: gates.row),
            out: MutableHeadRows(out, head: T * dv, row: dv))
        forward(s, scratch: scratch)
        let array = { (p: UnsafeMutablePointer<Float>, n: Int) in Array(UnsafeBufferPointer(start: p, count: n)) }
        guard let dout else { return (AttentionCoreResult(out: array(out, H * T * dv)), []) }
        let (dq, dk, dV, dl) = (
            buffers.zeros(q.count), buffers.zeros(k.count), buffers.zeros(v.count), buffers.zeros(logA.count)
        )
        backward(
            s, dout: HeadRows(buffers.copy(dout), head: T * dv, row: dv), dq: MutableHeadRows(dq, head: T * d, row: d),
            dk: MutableHeadRows(dk, head: T * d, row: d), dv: MutableHeadRows(dV, head: T * dv, row: dv),
            dLogA: MutableHeadRows(dl, head: gates.head, row: gates.row), scratch: scratch)
        let core = AttentionCoreResult(
            out: array(out, H * T * dv), dq: array(dq, q.count), dk: array(dk, k.count), dv: array(dV, v.count))
        return (core, array(dl, logA.count))
    }
}

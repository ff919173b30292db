// mLSTM, the matrix memory of xLSTM (Beck, Pöppel, Spanring, Auer, Prudnikova, Kopp, Klambauer,
// Brandstetter, Hochreiter 2024, "xLSTM: Extended Long Short-Term Memory", arXiv 2405.04517),
// with MQA/GQA (shared/spec/attention.md §1i). Per query head, with gates from the layer input x:
//   log i_t = w_i·x_t + b_i (exponential input gate),  log f_t = logsigmoid(w_f·x_t + b_f),
//   m_t = max(log f_t + m_{t-1}, log i_t),  f'_t = exp(log f_t + m_{t-1} - m_t),  i'_t = exp(log i_t - m_t),
//   C_t = f'_t C_{t-1} + i'_t k_t v_tᵀ,  n_t = f'_t n_{t-1} + i'_t k_t,
//   h_t = s q_tᵀ C_t / max(|s q_t·n_t|, exp(-m_t)),  s = 1/sqrt(hs).
// Unstabilised this is C_t q_t / max(|n_t·q_t|, 1); m_t (the max-stabiliser state of the official
// stabilised code) only keeps exp() in range and cancels from h_t, so it gets no gradient.
// Three forms: the recurrent one above (decode: C, n, m per query head, O(hs²) per token at any
// length), the chunkwise one for training (MLSTMKernels.swift: sgemm within chunks of `tile`
// tokens, the states between them), and the quadratic parallel form (the oracle of the tests and
// of reference.py); the tests show all three equal.
// Choices the paper leaves open, or where this follows the official code (NX-AI/xlstm):
// - The gates read the layer input x (after the norm), one (w, b) pair per query head and gate:
//   "igate.weight", "fgate.weight" (NH, C), "igate.bias", "fgate.bias" (NH). The official block
//   feeds them the concatenated q, k, v instead; here they see what the layer sees.
// - Initialisation as the official mLSTMCell.reset_parameters: both weights 0, input-gate bias
//   N(0, 0.1²), forget-gate bias linspace(3, 6) over the heads (f ≈ 0.95-0.998 at the start).
// - q scaled by 1/sqrt(hs), as the official code scales the keys (the same product).
// - No output gate, no per-head group norm, no learnable skip or causal convolution: those belong
//   to the official mLSTM block, not to the cell; the layer's Wo follows, as for every variant.
// - m_{-1} = -inf: m_t = max_{j<=t} (log i_j + Σ_{j<l<=t} log f_l), the parallel form's row max.
//   (The official recurrent step starts from m = 0, which moves exp(-m_t) for early tokens and
//   makes its recurrent and parallel forms differ; this way every form gives the same numbers.)
// - No eps in the denominator (the official code adds 1e-6): the max with exp(-m_t) > 0 already
//   keeps it from 0, and with the eps the output would depend on the stabiliser.
// - GQA: k and v are shared by the group; gates, states and outputs stay per query head.
import Basics
import Foundation
import Kernels

public struct MLSTM: AttentionVariant {
    public static let name = "mlstm"
    public let shape: AttentionShape
    /// Tokens per chunk of the training form; option "tile" (speed only).
    public let tile: Int

    public static let options: [any AttentionOptionInfo] = [CommonOptions.tile]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        tile = try reader.read(CommonOptions.tile, shape: shape)
        try reader.finish()
        self.shape = shape
    }

    /// igate.weight, fgate.weight (NH, C), then igate.bias, fgate.bias (NH): the weights of both
    /// gates are one (2 NH, C) matrix and the biases one (2 NH) vector.
    public var parameters: [TensorSpec] {
        var layout = LayoutBuilder()
        layout.add("igate.weight", [shape.heads, shape.channels])
        layout.add("fgate.weight", [shape.heads, shape.channels])
        layout.add("igate.bias", [shape.heads])
        layout.add("fgate.bias", [shape.heads])
        return layout.tensors
    }

    public func initialize(params: UnsafeMutablePointer<Float>, rng: inout SplitMix64) {
        let (NH, C) = (shape.heads, shape.channels)
        params.update(repeating: 0, count: 2 * NH * C)
        let bias = params + 2 * NH * C
        for h in 0..<NH {
            bias[h] = 0.1 * standardNormal(&rng)
            bias[NH + h] = NH == 1 ? 3 : Float(3 + 3 * Double(h) / Double(NH - 1))
        }
    }

    private var kernel: MLSTMKernel { MLSTMKernel(d: shape.headSize, dv: shape.headSize, chunk: tile) }

    /// Per sequence: log i, log f, r = 1/den and σ, (NH, T) each.
    public func savedCount(B: Int, T: Int) -> Int { B * 4 * shape.heads * T }

    public func scratchCount(B: Int, T: Int) -> Int { scratchCount(T: T, kernel: kernel) }

    /// The Doubles (a, b, M, d log i, d log f: 5 T, aligned), dZ (2 NH, T), then the kernel's.
    private func scratchCount(T: Int, kernel: MLSTMKernel) -> Int {
        10 * T + 2 + 2 * shape.heads * T + max(kernel.forwardScratchCount(T: T), kernel.backwardScratchCount(T: T))
    }

    // MARK: - One sequence

    /// Rows `row` floats apart, heads `head` floats apart.
    struct Strided {
        var p: UnsafeMutablePointer<Float>, row: Int, head: Int
    }

    /// One sequence of T tokens: its heads, its layer input x (T, C) and its saved block.
    struct Sequence {
        var q: Strided, k: Strided, v: Strided, out: Strided
        var x: UnsafePointer<Float>
        var saved: UnsafeMutablePointer<Float>
    }

    /// Gradients of one sequence (+=): of out (read), q, k, v, x.
    struct SequenceGrads {
        var dout: Strided, dq: Strided, dk: Strided, dv: Strided
        var dx: UnsafeMutablePointer<Float>
    }

    private func head(_ s: Sequence, _ h: Int) -> MLSTMKernel.Head {
        let g = h / shape.groupSize
        return MLSTMKernel.Head(
            q: s.q.p + h * s.q.head, qs: s.q.row, k: s.k.p + g * s.k.head, ks: s.k.row, v: s.v.p + g * s.v.head,
            vs: s.v.row)
    }

    private func output(_ s: Sequence, _ h: Int, T: Int) -> MLSTMKernel.Output {
        let NH = shape.heads
        return MLSTMKernel.Output(
            out: s.out.p + h * s.out.head, os: s.out.row, rinv: s.saved + (2 * NH + h) * T,
            sign: s.saved + (3 * NH + h) * T)
    }

    /// The Doubles at the start of the scratch (5 T) and the rest after them.
    private func withDoubles(
        _ scratch: UnsafeMutablePointer<Float>, T: Int,
        _ body: (UnsafeMutablePointer<Double>, UnsafeMutablePointer<Float>) -> Void
    ) {
        let raw = UnsafeMutableRawPointer(scratch).alignedUp(for: Double.self)
        raw.withMemoryRebound(to: Double.self, capacity: 5 * T) { body($0, scratch + 10 * T + 2) }
    }

    /// log i (NH, T) and log f (NH, T) of one sequence x (T, C): one sgemm per gate, then the bias.
    private func gates(
        x: UnsafePointer<Float>, T: Int, params: UnsafePointer<Float>, logI: UnsafeMutablePointer<Float>,
        logF: UnsafeMutablePointer<Float>
    ) {
        let (NH, C) = (shape.heads, shape.channels)
        BLAS.gemm(transB: true, M: NH, N: T, K: C, A: params, lda: C, B: x, ldb: C, beta: 0, C: logI, ldc: T)
        BLAS.gemm(transB: true, M: NH, N: T, K: C, A: params + NH * C, lda: C, B: x, ldb: C, beta: 0, C: logF, ldc: T)
        let bias = params + 2 * NH * C
        for h in 0..<NH {
            for t in 0..<T {
                logI[h * T + t] += bias[h]
                let z = logF[h * T + t] + bias[NH + h]
                logF[h * T + t] = min(z, 0) - log1p(exp(-abs(z)))  // logsigmoid(z)
            }
        }
    }

    /// The backward of `gates` from dZ (2 NH, T) = [d log i ; dz_f]: dW += dZ x, dx += dZᵀ W, db += Σ_t dZ.
    private func gatesBackward(
        dZ: UnsafePointer<Float>, x: UnsafePointer<Float>, T: Int, params: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>, dparams: UnsafeMutablePointer<Float>
    ) {
        let (rows, C) = (2 * shape.heads, shape.channels)
        BLAS.gemm(M: rows, N: C, K: T, A: dZ, lda: T, B: x, ldb: C, beta: 1, C: dparams, ldc: C)
        BLAS.gemm(transA: true, M: T, N: C, K: rows, A: dZ, lda: T, B: params, ldb: C, beta: 1, C: dx, ldc: C)
        for r in 0..<rows {
            for t in 0..<T { dparams[rows * C + r] += dZ[r * T + t] }
        }
    }

    private func forwardSequence(
        _ s: Sequence, T: Int, params: UnsafePointer<Float>, kernel: MLSTMKernel, scratch: UnsafeMutablePointer<Float>
    ) {
        let NH = shape.heads
        gates(x: s.x, T: T, params: params, logI: s.saved, logF: s.saved + NH * T)
        withDoubles(scratch, T: T) { doubles, rest in
            for h in 0..<NH {
                let g = MLSTMKernel.Gates(base: doubles, logI: s.saved + h * T, logF: s.saved + (NH + h) * T, T: T)
                kernel.forward(head(s, h), g, output(s, h, T: T), T: T, scratch: rest + 2 * NH * T)
            }
        }
    }

    private func backwardSequence(
        _ s: Sequence, _ d: SequenceGrads, T: Int, params: UnsafePointer<Float>, dparams: UnsafeMutablePointer<Float>,
        kernel: MLSTMKernel, scratch: UnsafeMutablePointer<Float>
    ) {
        let NH = shape.heads
        withDoubles(scratch, T: T) { doubles, dZ in
            let (dlogI, dlogF) = (doubles + 3 * T, doubles + 4 * T)
            for h in 0..<NH {
                let (logI, logF) = (s.saved + h * T, s.saved + (NH + h) * T)
                let g = MLSTMKernel.Gates(base: doubles, logI: logI, logF: logF, T: T)
                let kv = h / shape.groupSize
                let grads = MLSTMKernel.Grads(
                    dout: d.dout.p + h * d.dout.head, dos: d.dout.row, dq: d.dq.p + h * d.dq.head, dqs: d.dq.row,
                    dk: d.dk.p + kv * d.dk.head, dks: d.dk.row, dv: d.dv.p + kv * d.dv.head, dvs: d.dv.row,
                    dlogI: dlogI, dlogF: dlogF)
                kernel.backward(head(s, h), g, output(s, h, T: T), grads, T: T, scratch: dZ + 2 * NH * T)
                for t in 0..<T {
                    // forward was: log f = logsigmoid(z_f) ; so dz_f = d log f (1 - f)
                    dZ[h * T + t] = Float(dlogI[t])
                    dZ[(NH + h) * T + t] = Float(dlogF[t]) * (1 - exp(logF[t]))
                }
            }
            gatesBackward(dZ: dZ, x: s.x, T: T, params: params, dx: d.dx, dparams: dparams)
        }
    }

    // MARK: - Training

    /// Sequence b of a fused layer call.
    private func sequence(_ io: AttentionIO, _ b: Int) -> Sequence {
        let (T, NH, NKV, hs, W) = (io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        let row = UnsafeMutablePointer(mutating: io.qkv + b * T * W)
        return Sequence(
            q: Strided(p: row, row: W, head: hs), k: Strided(p: row + NH * hs, row: W, head: hs),
            v: Strided(p: row + (NH + NKV) * hs, row: W, head: hs),
            out: Strided(p: io.out + b * T * NH * hs, row: NH * hs, head: hs), x: io.x + b * T * shape.channels,
            saved: io.saved + b * 4 * NH * T)
    }

    public func forward(_ io: AttentionIO) {
        for b in 0..<io.B {
            forwardSequence(sequence(io, b), T: io.T, params: io.params, kernel: kernel, scratch: io.scratch)
        }
    }

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let (T, NH, NKV, hs, W) = (io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        for b in 0..<io.B {
            let row = grads.dqkv + b * T * W
            let d = SequenceGrads(
                dout: Strided(p: UnsafeMutablePointer(mutating: grads.dout + b * T * NH * hs), row: NH * hs, head: hs),
                dq: Strided(p: row, row: W, head: hs), dk: Strided(p: row + NH * hs, row: W, head: hs),
                dv: Strided(p: row + (NH + NKV) * hs, row: W, head: hs), dx: grads.dx + b * T * shape.channels)
            backwardSequence(
                sequence(io, b), d, T: T, params: io.params, dparams: grads.dparams, kernel: kernel,
                scratch: io.scratch)
        }
    }

    // MARK: - Tensor interface

    /// The same kernel on head-major tensors; needs "x" [T][C] and the gates' parameters
    /// "igate.weight", "fgate.weight" [H][C], "igate.bias", "fgate.bias" [H]; returns "dx" and
    /// "d" + each parameter's name with dout.
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        let (H, Hkv, T, d, dv, C) = (call.H, call.Hkv, call.T, call.d, call.dv, call.C)
        let x = call.layerInput()
        let wi = try call.tensor("igate.weight", [H, C])
        let wf = try call.tensor("fgate.weight", [H, C])
        let bi = try call.tensor("igate.bias", [H])
        let bf = try call.tensor("fgate.bias", [H])
        guard let x, let wi, let wf, let bi, let bf else {
            throw TensorCall.error(
                "mlstm computes its gates from \"x\": [T][C] with \"igate.weight\", \"fgate.weight\": [H][C] and "
                    + "\"igate.bias\", \"fgate.bias\": [H]")
        }
        let kernel = MLSTMKernel(d: d, dv: dv, chunk: tile)
        // q, k, v, out, saved, scratch, dq, dk, dv, dx, dparams, x, dout
        let sizes = [
            H * T * d, Hkv * T * d, Hkv * T * dv, H * T * dv, 4 * H * T, scratchCount(T: T, kernel: kernel), H * T * d,
            Hkv * T * d, Hkv * T * dv, T * C, 2 * H * C + 2 * H, T * C, H * T * dv,
        ]
        let arena = Arena(sizes)
        defer { arena.free() }
        let parts = arena.parts
        for (part, values) in zip([parts[0], parts[1], parts[2], parts[11]], [call.q, call.k, call.v, x]) {
            part.update(from: values, count: values.count)
        }
        let params = wi + wf + bi + bf
        let s = Sequence(
            q: Strided(p: parts[0], row: d, head: T * d), k: Strided(p: parts[1], row: d, head: T * d),
            v: Strided(p: parts[2], row: dv, head: T * dv), out: Strided(p: parts[3], row: dv, head: T * dv),
            x: parts[11], saved: parts[4])
        forwardSequence(s, T: T, params: params, kernel: kernel, scratch: parts[5])
        var result = AttentionCoreResult(out: Array(UnsafeBufferPointer(start: parts[3], count: H * T * dv)))
        guard let dout = call.dout else { return call.output(result) }
        parts[12].update(from: dout, count: dout.count)
        let grads = SequenceGrads(
            dout: Strided(p: parts[12], row: dv, head: T * dv),
            dq: Strided(p: parts[6], row: d, head: T * d), dk: Strided(p: parts[7], row: d, head: T * d),
            dv: Strided(p: parts[8], row: dv, head: T * dv), dx: parts[9])
        backwardSequence(s, grads, T: T, params: params, dparams: parts[10], kernel: kernel, scratch: parts[5])
        (result.dq, result.dk, result.dv) = (
            array(parts[6], H * T * d), array(parts[7], Hkv * T * d), array(parts[8], Hkv * T * dv)
        )
        var out = call.output(result)
        let dp = array(parts[10], 2 * H * C + 2 * H)
        out.add("dx", [T, C], array(parts[9], T * C))
        out.add("digate.weight", [H, C], Array(dp[..<(H * C)]))
        out.add("dfgate.weight", [H, C], Array(dp[(H * C)..<(2 * H * C)]))
        out.add("digate.bias", [H], Array(dp[(2 * H * C)..<(2 * H * C + H)]))
        out.add("dfgate.bias", [H], Array(dp[(2 * H * C + H)...]))
        return out
    }

    private func array(_ p: UnsafePointer<Float>, _ n: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: p, count: n))
    }

    // MARK: - Decode

    /// Per query head: C (hs, hs), n (hs), m (one Double).
    public func cacheCount(maxTokens: Int) -> Int { shape.heads * stateWidth }

    private var stateWidth: Int { shape.headSize * shape.headSize + shape.headSize + 2 }

    public func decodeScratchCount(maxTokens: Int) -> Int { 0 }

    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs, C) = (shape.heads, shape.kvHeads, shape.headSize, shape.channels)
        let s = 1 / Float(hs).squareRoot()
        if step.position == 0 { step.cache.update(repeating: 0, count: cacheCount(maxTokens: 1)) }
        let bias = step.params + 2 * NH * C
        for h in 0..<NH {
            let g = h / shape.groupSize
            let (q, k, v) = (step.qkv + h * hs, step.qkv + (NH + g) * hs, step.qkv + (NH + NKV + g) * hs)
            let (state, norm) = (step.cache + h * stateWidth, step.cache + h * stateWidth + hs * hs)
            let mSlot = UnsafeMutableRawPointer(norm + hs)
            let logI = Double(dot(step.x, step.params + h * C, C) + bias[h])
            let zf = dot(step.x, step.params + (NH + h) * C, C) + bias[NH + h]
            let logF = Double(min(zf, 0) - log1p(exp(-abs(zf))))
            let previous = step.position == 0 ? -Double.infinity : mSlot.loadUnaligned(as: Double.self)
            let m = max(logF + previous, logI)
            mSlot.storeBytes(of: m, as: Double.self)
            let (fp, ip) = (Float(exp(logF + previous - m)), Float(exp(logI - m)))
            // C = f' C + i' k vᵀ ; n = f' n + i' k ; out = s qᵀ C / max(|s q·n|, exp(-m))
            let out = step.out + h * hs
            out.update(repeating: 0, count: hs)
            for a in 0..<hs {
                let (row, ka, qa) = (state + a * hs, ip * k[a], s * q[a])
                for c in 0..<hs {
                    row[c] = fp * row[c] + ka * v[c]
                    out[c] += qa * row[c]
                }
                norm[a] = fp * norm[a] + ka
            }
            let den = max(Double(abs(s * dot(q, norm, hs))), exp(-m))
            for c in 0..<hs { out[c] = Float(Double(out[c]) / den) }
        }
    }
}

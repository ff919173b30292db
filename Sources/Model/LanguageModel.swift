// A pre-norm decoder-only transformer over flat arenas, in llm.c's gpt2_forward/gpt2_backward
// order: x = wte[tokens]; per block x += Wo·Attn(Norm1(x)), x += MLP(Norm2(x)); Norm_f; tied (or
// separate) LM head with the fused chunked cross-entropy. Positions come from the attention
// variant (RoPE inside softmax_rope). forward/backward are single-threaded and touch only the
// caller's Workspace and gradient buffer, so several threads can share one model's parameters.
@_exported import Attention
import Basics
import Foundation
@_exported import Kernels

public final class LanguageModel: @unchecked Sendable {
    public let config: ModelConfig
    /// One flat arena in layout order (see `tensors`).
    public let parameters: UnsafeMutableBufferPointer<Float>
    /// The attention variant every block uses.
    public let attention: any AttentionVariant
    let layout: ParameterLayout

    /// Validates the config, allocates the arena and initialises it from `config.initSeed`:
    /// matrices N(0, 0.02) with attn.wo and mlp.wproj scaled by 1/sqrt(2L) (GPT-2), norm weights 1,
    /// biases 0, the variant's own tensors by the variant.
    public init(config: ModelConfig) throws {
        try config.validate()
        self.config = config
        attention = try AttentionRegistry.make(config.attention, shape: config.attentionShape)
        layout = ParameterLayout(config, variant: attention)
        parameters = .allocate(capacity: layout.count)
        parameters.initialize(repeating: 0)
        var rng = SplitMix64(seed: config.initSeed)
        let projScale = 1 / Float(2 * config.layers).squareRoot()
        for spec in layout.tensors
        where !layout.blocks.contains(where: { spec.offset >= $0.attn && spec.offset < $0.wo }) {
            let p = parameters.baseAddress! + spec.offset
            if spec.shape.count >= 2 {
                let isProjection =
                    spec.name.hasSuffix("attn.wo") || spec.name.hasSuffix("mlp.wproj")
                let std: Float = isProjection ? 0.02 * projScale : 0.02
                for i in 0..<spec.count { p[i] = std * standardNormal(&rng) }
            } else {
                p.update(repeating: spec.name.hasSuffix(".weight") ? 1 : 0, count: spec.count)
            }
        }
        if attention.parameterCount > 0 {
            for block in layout.blocks { attention.initialize(params: w(block.attn), rng: &rng) }
        }
    }

    deinit { parameters.deallocate() }

    public var parameterCount: Int { layout.count }
    public var tensors: [TensorSpec] { layout.tensors }

    /// Activations and scratch for one thread; `time` may exceed `config.context`.
    public func makeWorkspace(batch: Int, time: Int) -> Workspace {
        Workspace(config: config, variant: attention, batch: batch, time: time)
    }

    /// Training FLOPs (forward + backward) per token at config.context: 6 N over the matmul
    /// weights (LM head included, embedding lookup excluded) + 6 L T C for causal attention
    /// (QKᵀ and PV at half the T² pairs, backward twice the forward; PaLM appendix B, causal).
    public var flopsPerToken: Double {
        let (C, L, V, T) = (config.channels, config.layers, config.vocabSize, config.context)
        let s = attention.shape, H = config.mlpHidden
        let perBlock = s.qkvWidth * C + C * s.outWidth + (config.mlp == .gelu ? 2 : 3) * H * C
        let n = Double(L * perBlock + V * C)
        return 6 * n + 6 * Double(L * T * s.outWidth)
    }

    @inline(__always) func w(_ offset: Int) -> UnsafeMutablePointer<Float> {
        parameters.baseAddress! + offset
    }

    // MARK: - Forward

    /// Runs the model on tokens (B,T). With targets (B,T) (-1 = ignore) it returns the mean loss,
    /// fills ws.losses and prepares the LM-head gradients for `backward`; without, it returns NaN.
    @discardableResult
    public func forward(
        _ ws: Workspace, tokens: UnsafePointer<Int32>, targets: UnsafePointer<Int32>?
    ) -> Float {
        run(ws, tokens: tokens, targets: targets, gradients: targets != nil)
    }

    /// Like `forward` with targets, but computes only the loss (no gradient preparation): for
    /// evaluation, about 2/3 cheaper in the LM head.
    public func evaluate(
        _ ws: Workspace, tokens: UnsafePointer<Int32>, targets: UnsafePointer<Int32>
    ) -> Float {
        run(ws, tokens: tokens, targets: targets, gradients: false)
    }

    private func run(
        _ ws: Workspace, tokens: UnsafePointer<Int32>, targets: UnsafePointer<Int32>?,
        gradients: Bool
    ) -> Float {
        let (B, T, C, V) = (ws.batch, ws.time, config.channels, config.vocabSize)
        let BT = B * T, H = config.mlpHidden, F = config.mlp == .gelu ? H : 2 * H
        let W = attention.shape.qkvWidth, A = attention.shape.outWidth
        for i in 0..<BT {
            precondition(
                tokens[i] >= 0 && Int(tokens[i]) < V,
                "\(KernelsError.tokenOutOfRange(token: tokens[i], vocabSize: V))")
        }
        ws.tokens.update(from: tokens, count: BT)
        embeddingForward(out: ws.p(ws.resid[0]), tokens: tokens, wte: w(layout.wte), BT: BT, C: C)
        for l in 0..<config.layers {
            let o = layout.blocks[l]
            let resid = ws.p(ws.resid[l]), residMid = ws.p(ws.residMid[l])
            normForward(
                ws.p(ws.ln1[l]), ws.p(ws.ln1Mean[l]), ws.p(ws.ln1Rstd[l]), resid, o.norm1Weight,
                o.norm1Bias, BT)
            matmulForward(
                out: ws.p(ws.qkv[l]), inp: ws.p(ws.ln1[l]), weight: w(o.wqkv), bias: nil, BT: BT,
                C: C, OC: W)
            attention.forward(attentionIO(ws, l))
            // residMid (BT,C) = resid + atty (BT,A) · wo (C,A)ᵀ: the residual add rides on
            // sgemm's beta = 1
            residMid.update(from: resid, count: BT * C)
            BLAS.gemm(
                transB: true, M: BT, N: C, K: A, A: ws.p(ws.atty[l]), lda: A, B: w(o.wo), ldb: A,
                beta: 1, C: residMid, ldc: C)
            normForward(
                ws.p(ws.ln2[l]), ws.p(ws.ln2Mean[l]), ws.p(ws.ln2Rstd[l]), residMid, o.norm2Weight,
                o.norm2Bias, BT)
            matmulForward(
                out: ws.p(ws.fch[l]), inp: ws.p(ws.ln2[l]), weight: w(o.wfc), bias: nil, BT: BT,
                C: C, OC: F)
            switch config.mlp {
            case .gelu: geluForward(out: ws.p(ws.act[l]), inp: ws.p(ws.fch[l]), N: BT * H)
            case .swiglu: swigluForward(out: ws.p(ws.act[l]), inp: ws.p(ws.fch[l]), N: BT, H: H)
            }
            let next = ws.p(ws.resid[l + 1])  // resid[l+1] = residMid + act · wprojᵀ
            next.update(from: residMid, count: BT * C)
            BLAS.gemm(
                transB: true, M: BT, N: C, K: H, A: ws.p(ws.act[l]), lda: H, B: w(o.wproj), ldb: H,
                beta: 1, C: next, ldc: C)
        }
        let final = ws.p(ws.resid[config.layers])
        normForward(
            ws.p(ws.lnf), ws.p(ws.lnfMean), ws.p(ws.lnfRstd), final, layout.normFWeight,
            layout.normFBias, BT)
        ws.hasGradients = false
        guard let targets else { return .nan }
        let count = countTargets(targets, BT: BT)
        if gradients {
            ws.p(ws.dlnf).update(repeating: 0, count: BT * C)
            ws.p(ws.dHead).update(repeating: 0, count: V * C)
        }
        let total = fusedClassifier(
            losses: ws.p(ws.losses_), dinp: gradients ? ws.p(ws.dlnf) : nil,
            dweight: gradients ? ws.p(ws.dHead) : nil,
            scratch: ws.p(ws.logits), inp: ws.p(ws.lnf), weight: w(layout.lmHead), targets: targets,
            dlossScale: count > 0 ? 1 / Float(count) : 0, BT: BT, C: C, V: V,
            chunk: Workspace.classifierChunk)
        ws.hasGradients = gradients
        return count > 0 ? Float(total / Double(count)) : 0
    }

    func attentionIO(_ ws: Workspace, _ l: Int) -> AttentionIO {
        AttentionIO(
            B: ws.batch, T: ws.time, qkv: ws.p(ws.qkv[l]), x: ws.p(ws.ln1[l]),
            out: ws.p(ws.atty[l]),
            params: w(layout.blocks[l].attn), saved: ws.p(ws.saved[l]),
            scratch: ws.p(ws.attnScratch))
    }

    func normForward(
        _ out: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>,
        _ rstd: UnsafeMutablePointer<Float>,
        _ inp: UnsafePointer<Float>, _ weight: Int, _ bias: Int, _ BT: Int
    ) {
        switch config.norm {
        case .rmsnorm:
            rmsNormForward(
                out: out, rstd: rstd, inp: inp, weight: w(weight), BT: BT, C: config.channels)
        case .layernorm:
            layerNormForward(
                out: out, mean: mean, rstd: rstd, inp: inp, weight: w(weight), bias: w(bias),
                BT: BT, C: config.channels)
        }
    }

    // MARK: - Backward

    /// Accumulates dLoss/dparameters into grads (parameter layout). Call after `forward` with
    /// targets.
    public func backward(_ ws: Workspace, grads: UnsafeMutablePointer<Float>) {
        precondition(
            ws.hasGradients,
            "backward needs a preceding forward(_:tokens:targets:) with targets on this workspace")
        let (B, T, C, V) = (ws.batch, ws.time, config.channels, config.vocabSize)
        let BT = B * T, H = config.mlpHidden, F = config.mlp == .gelu ? H : 2 * H
        let W = attention.shape.qkvWidth, A = attention.shape.outWidth
        let dresid = ws.p(ws.dresid), dln = ws.p(ws.dln), datty = ws.p(ws.datty)
        let dqkv = ws.p(ws.dqkv), dfch = ws.p(ws.dfch), dact = ws.p(ws.dact)
        // forward was: logits = lnf · headᵀ (the fused classifier left dlnf and dHead)
        let head = grads + layout.lmHead, dHead = ws.p(ws.dHead)
        for i in 0..<V * C { head[i] += dHead[i] }
        // forward was: lnf = Norm_f(resid[L])
        dresid.update(repeating: 0, count: BT * C)
        normBackward(
            dresid, grads, ws.p(ws.dlnf), ws.p(ws.resid[config.layers]), layout.normFWeight,
            layout.normFBias,
            ws.p(ws.lnfMean), ws.p(ws.lnfRstd), BT)
        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            let o = layout.blocks[l]
            // forward was: resid[l+1] = residMid + act · wprojᵀ (dresid passes to residMid as is)
            dact.update(repeating: 0, count: BT * H)
            matmulBackward(
                dinp: dact, dweight: grads + o.wproj, dbias: nil, dout: dresid,
                inp: ws.p(ws.act[l]),
                weight: w(o.wproj), BT: BT, C: H, OC: C)
            // forward was: act = gelu(fch) or swiglu(fch)
            dfch.update(repeating: 0, count: BT * F)
            switch config.mlp {
            case .gelu: geluBackward(dinp: dfch, inp: ws.p(ws.fch[l]), dout: dact, N: BT * H)
            case .swiglu: swigluBackward(dinp: dfch, inp: ws.p(ws.fch[l]), dout: dact, N: BT, H: H)
            }
            // forward was: fch = ln2 · wfcᵀ
            dln.update(repeating: 0, count: BT * C)
            matmulBackward(
                dinp: dln, dweight: grads + o.wfc, dbias: nil, dout: dfch, inp: ws.p(ws.ln2[l]),
                weight: w(o.wfc), BT: BT, C: C, OC: F)
            // forward was: ln2 = Norm2(residMid)
            normBackward(
                dresid, grads, dln, ws.p(ws.residMid[l]), o.norm2Weight, o.norm2Bias,
                ws.p(ws.ln2Mean[l]), ws.p(ws.ln2Rstd[l]), BT)
            // forward was: residMid = resid + atty · woᵀ
            datty.update(repeating: 0, count: BT * A)
            matmulBackward(
                dinp: datty, dweight: grads + o.wo, dbias: nil, dout: dresid, inp: ws.p(ws.atty[l]),
                weight: w(o.wo), BT: BT, C: A, OC: C)
            // forward was: atty = Attn(qkv, x = ln1)
            dqkv.update(repeating: 0, count: BT * W)
            dln.update(repeating: 0, count: BT * C)
            attention.backward(
                attentionIO(ws, l),
                AttentionGrads(dout: datty, dqkv: dqkv, dx: dln, dparams: grads + o.attn))
            // forward was: qkv = ln1 · wqkvᵀ
            matmulBackward(
                dinp: dln, dweight: grads + o.wqkv, dbias: nil, dout: dqkv, inp: ws.p(ws.ln1[l]),
                weight: w(o.wqkv), BT: BT, C: C, OC: W)
            // forward was: ln1 = Norm1(resid)
            normBackward(
                dresid, grads, dln, ws.p(ws.resid[l]), o.norm1Weight, o.norm1Bias,
                ws.p(ws.ln1Mean[l]), ws.p(ws.ln1Rstd[l]), BT)
        }
        // forward was: resid[0] = wte[tokens]
        embeddingBackward(dwte: grads + layout.wte, dout: dresid, tokens: ws.tokens, BT: BT, C: C)
    }

    func normBackward(
        _ dinp: UnsafeMutablePointer<Float>, _ grads: UnsafeMutablePointer<Float>,
        _ dout: UnsafePointer<Float>,
        _ inp: UnsafePointer<Float>, _ weight: Int, _ bias: Int, _ mean: UnsafePointer<Float>,
        _ rstd: UnsafePointer<Float>, _ BT: Int
    ) {
        switch config.norm {
        case .rmsnorm:
            rmsNormBackward(
                dinp: dinp, dweight: grads + weight, dout: dout, inp: inp, weight: w(weight),
                rstd: rstd,
                BT: BT, C: config.channels)
        case .layernorm:
            layerNormBackward(
                dinp: dinp, dweight: grads + weight, dbias: grads + bias, dout: dout, inp: inp,
                weight: w(weight), mean: mean, rstd: rstd, BT: BT, C: config.channels)
        }
    }
}

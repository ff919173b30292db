// A pre-norm decoder-only transformer over flat arenas, in llm.c's gpt2_forward/gpt2_backward
// order: x = wte[tokens]; per block x += Wo·Attn(Norm1(x)), x += MLP(Norm2(x)); Norm_f; tied (or
// separate) LM head with the fused chunked cross-entropy. Positions come from the attention
// variant (RoPE inside softmax_rope). How the core is applied over a sequence is the config's
// Schedule (plain: once over the whole sequence; staircase: rows, attention.md §1c), so forward,
// backward and makeWorkspace dispatch to it; the core and head pieces below are what schedules
// call. forward/backward are single-threaded and touch only the
// caller's Workspace and gradient buffer, so several threads can share one model's parameters.
import Attention
import Basics
import Foundation
import Kernels

public final class LanguageModel: @unchecked Sendable {
    public let config: ModelConfig
    /// One flat arena in layout order (see `tensors`).
    public let parameters: UnsafeMutableBufferPointer<Float>
    /// The attention variant every block uses.
    public let attention: any AttentionVariant
    /// How the core is applied over a sequence (config.schedule).
    public let schedule: any Schedule
    let layout: ParameterLayout

    /// Validates the config, allocates the arena and initialises it from `config.initSeed`:
    /// matrices N(0, 0.02) with attn.wo and mlp.wproj scaled by 1/sqrt(2L) (GPT-2), norm weights 1,
    /// biases 0, the variant's own tensors by the variant.
    public init(config: ModelConfig) throws {
        try config.validate()
        self.config = config
        attention = try AttentionRegistry.make(config.attention, shape: config.attentionShape)
        schedule = try ScheduleRegistry.make(config.schedule, config: config)
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
        schedule.makeWorkspace(self, batch: batch, time: time)
    }

    /// Training FLOPs (forward + backward) per token at config.context: 6 N over the matmul
    /// weights (LM head included, embedding lookup excluded) + 6 L T C for causal attention
    /// (QKᵀ and PV at half the T² pairs, backward twice the forward; PaLM appendix B, causal).
    /// Schedules that apply the core several times per token scale it (the staircase by N).
    public var flopsPerToken: Double { schedule.flopsPerToken(self) }

    /// flopsPerToken of the plain schedule.
    public var plainFlopsPerToken: Double {
        let f = plainFlops(span: config.context)
        return f.core + f.head
    }

    /// Training FLOPs per token of one core pass whose causal attention spans `span` tokens, and
    /// of the LM head.
    func plainFlops(span T: Int) -> (core: Double, head: Double) {
        let (C, L, V) = (config.channels, config.layers, config.vocabSize)
        let s = attention.shape
        let H = config.mlpHidden
        let perBlock = layout.qkvColumns.count * C + C * s.outWidth + (config.mlp == .gelu ? 2 : 3) * H * C
        return (6 * Double(L * perBlock) + 6 * Double(L * T * s.outWidth), 6 * Double(V * C))
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

    /// `forward` with targets, then `backward` into grads: the mean loss, with dLoss/dparameters
    /// added into grads. The LM head's weight gradient goes straight into grads (no (V, C) scratch
    /// to add afterwards); when grads holds zeros, the result is the same, bit for bit, as
    /// `forward` then `backward`.
    public func forwardBackward(
        _ ws: Workspace, tokens: UnsafePointer<Int32>, targets: UnsafePointer<Int32>,
        grads: UnsafeMutablePointer<Float>
    ) -> Float {
        ws.headGradient = grads + layout.lmHead
        defer { ws.headGradient = nil }
        let loss = forward(ws, tokens: tokens, targets: targets)
        backward(ws, grads: grads)
        return loss
    }

    private func run(
        _ ws: Workspace, tokens: UnsafePointer<Int32>, targets: UnsafePointer<Int32>?,
        gradients: Bool
    ) -> Float {
        schedule.forward(
            self, ws, tokens: tokens, targets: targets, gradients: gradients, state: nil)
    }

    /// The plain schedule: embeddings, the core over the whole sequence at positions 0..<T, head.
    func plainForward(
        _ ws: Workspace, tokens: UnsafePointer<Int32>, targets: UnsafePointer<Int32>?,
        gradients: Bool
    ) -> Float {
        let (B, T, C) = (ws.batch, ws.time, config.channels)
        checkTokens(tokens, count: B * T)
        ws.tokens.update(from: tokens, count: B * T)
        embeddingForward(
            out: ws.p(ws.resid[0]), tokens: tokens, wte: w(layout.wte), BT: B * T, C: C)
        coreForward(ws, time: T, pos0: 0, memory: nil)
        return headForward(ws, targets: targets, gradients: gradients)
    }

    func checkTokens(_ tokens: UnsafePointer<Int32>, count: Int) {
        for i in 0..<count {
            precondition(
                tokens[i] >= 0 && Int(tokens[i]) < config.vocabSize,
                "\(KernelsError.tokenOutOfRange(token: tokens[i], vocabSize: config.vocabSize))")
        }
    }

    /// The L-layer core on B rows of T tokens at positions pos0 ..< pos0+T: reads the layer-0
    /// inputs from ws.resid[0] (B,T,C), leaves every layer's input in ws.resid[l] and the
    /// final-layer states (before the final norm) in ws.resid[L]. With memory, layer l attends
    /// over [memory.layers[l]; row] with the memory at positions pos0-Tm ..< pos0; the memory
    /// tokens' own outputs are dropped, so they skip the rest of the block.
    func coreForward(_ ws: Workspace, time T: Int, pos0: Int, memory: CoreMemory?) {
        let (B, C) = (ws.batch, config.channels)
        let Tm = memory?.tokens ?? 0
        let Tc = T + Tm
        precondition(T <= ws.time && Tm <= ws.memory, "row does not fit its workspace")
        let BT = B * T
        let H = config.mlpHidden
        let F = config.mlp == .gelu ? H : 2 * H
        let A = attention.shape.outWidth
        for l in 0..<config.layers {
            let o = layout.blocks[l]
            let resid = ws.p(ws.resid[l])
            let residMid = ws.p(ws.residMid[l])
            var xin = resid
            if let memory, Tm > 0 {
                xin = ws.p(ws.xcat[l])
                copyRows(B, Tm, C, from: memory.layers[l], Tm, 0, to: xin, Tc, 0)
                copyRows(B, T, C, from: resid, T, 0, to: xin, Tc, Tm)
            }
            normForward(
                ws.p(ws.ln1[l]), ws.p(ws.ln1Mean[l]), ws.p(ws.ln1Rstd[l]), xin, o.norm1Weight,
                o.norm1Bias, B * Tc)
            qkvForward(out: ws.p(ws.qkv[l]), inp: ws.p(ws.ln1[l]), weight: w(o.wqkv), rows: B * Tc)
            attention.forward(attentionIO(ws, l, time: Tc, pos0: pos0 - Tm))
            let atty = rowAtty(ws, l, T: T, Tm: Tm)
            if Tm > 0 { copyRows(B, T, A, from: ws.p(ws.atty[l]), Tc, Tm, to: atty, T, 0) }
            // residMid (BT,C) = resid + atty (BT,A) · wo (C,A)ᵀ: the residual add rides on
            // sgemm's beta = 1
            residMid.update(from: resid, count: BT * C)
            BLAS.gemm(
                transB: true, M: BT, N: C, K: A, A: atty, lda: A, B: w(o.wo), ldb: A,
                beta: 1, C: residMid, ldc: C)
            normForward(
                ws.p(ws.ln2[l]), ws.p(ws.ln2Mean[l]), ws.p(ws.ln2Rstd[l]), residMid, o.norm2Weight,
                o.norm2Bias, BT)
            matmulForward(
                out: ws.p(ws.fch[l]), inp: ws.p(ws.ln2[l]), weight: w(o.wfc), bias: nil, BT: BT,
                C: C, OC: F)
            switch config.mlp {
            case .gelu:  // fch then holds gelu'(fch), all that backward needs of it
                geluForward(out: ws.p(ws.act[l]), derivative: ws.p(ws.fch[l]), inp: ws.p(ws.fch[l]), N: BT * H)
            case .swiglu: swigluForward(out: ws.p(ws.act[l]), inp: ws.p(ws.fch[l]), N: BT, H: H)
            }
            let next = ws.p(ws.resid[l + 1])  // resid[l+1] = residMid + act · wprojᵀ
            next.update(from: residMid, count: BT * C)
            BLAS.gemm(
                transB: true, M: BT, N: C, K: H, A: ws.p(ws.act[l]), lda: H, B: w(o.wproj), ldb: H,
                beta: 1, C: next, ldc: C)
        }
    }

    /// The row tokens' attention output of layer l: atty itself without memory, else attyRow.
    func rowAtty(_ ws: Workspace, _ l: Int, T: Int, Tm: Int) -> UnsafeMutablePointer<Float> {
        Tm > 0 ? ws.p(ws.attyRow[l]) : ws.p(ws.atty[l])
    }

    /// Final norm and LM head over ws.final (B, ws.time, C). With targets it returns the mean
    /// loss and fills ws.losses (and, with gradients, dlnf and dHead for `headBackward`).
    func headForward(_ ws: Workspace, targets: UnsafePointer<Int32>?, gradients: Bool) -> Float {
        let (B, T, C, V) = (ws.batch, ws.time, config.channels, config.vocabSize)
        let BT = B * T
        normForward(
            ws.p(ws.lnf), ws.p(ws.lnfMean), ws.p(ws.lnfRstd), ws.p(ws.final), layout.normFWeight,
            layout.normFBias, BT)
        ws.hasGradients = false
        ws.headGradientAdded = false
        guard let targets else { return .nan }
        let count = countTargets(targets, BT: BT)
        // the head's weight gradient: added straight into the gradient arena under
        // `forwardBackward`, else into the dHead scratch for `headBackward` to add
        let direct = gradients ? ws.headGradient : nil
        let total = fusedClassifier(
            losses: ws.p(ws.losses_), dinp: gradients ? ws.p(ws.dlnf) : nil,
            dweight: gradients ? direct ?? ws.p(ws.dHead) : nil,
            scratch: ws.p(ws.logits), inp: ws.p(ws.lnf), weight: w(layout.lmHead), targets: targets,
            dlossScale: count > 0 ? 1 / Float(count) : 0, BT: BT, C: C, V: V,
            chunk: Workspace.classifierChunk, accumulate: false, accumulateWeight: direct != nil)
        ws.hasGradients = gradients
        ws.headGradientAdded = direct != nil
        return count > 0 ? Float(total / Double(count)) : 0
    }

    /// qkv[:, qkvColumns] (rows, qkvWidth) = inp (rows, C) · wqkvᵀ: the columns the variant reads.
    func qkvForward(
        out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows: Int
    ) {
        let cols = layout.qkvColumns
        matmulForward(
            out: out + cols.lowerBound, inp: inp, weight: weight, bias: nil, BT: rows, C: config.channels,
            OC: cols.count, outStride: attention.shape.qkvWidth)
    }

    func attentionIO(_ ws: Workspace, _ l: Int, time: Int, pos0: Int) -> AttentionIO {
        AttentionIO(
            B: ws.batch, T: time, pos0: pos0, qkv: ws.p(ws.qkv[l]), x: ws.p(ws.ln1[l]),
            out: ws.p(ws.atty[l]), params: w(layout.blocks[l].attn), saved: ws.p(ws.saved[l]),
            scratch: ws.p(ws.attnScratch), savedCapacity: ws.savedCount)
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
        schedule.backward(self, ws, grads: grads)
    }

    /// The plain schedule's backward: head, core, embeddings.
    func plainBackward(_ ws: Workspace, grads: UnsafeMutablePointer<Float>) {
        headBackward(ws, grads: grads)
        coreBackward(ws, time: ws.time, pos0: 0, memory: nil, grads: grads)
        let BT = ws.batch * ws.time
        embeddingBackward(
            dwte: grads + layout.wte, dout: ws.p(ws.dresid), tokens: ws.tokens, BT: BT,
            C: config.channels)
    }

    /// Adds the head's parameter gradients into grads and writes d(ws.final) into ws.dresid.
    func headBackward(_ ws: Workspace, grads: UnsafeMutablePointer<Float>) {
        let (BT, C, V) = (ws.batch * ws.time, config.channels, config.vocabSize)
        // forward was: logits = lnf · headᵀ (the fused classifier left dlnf, and dHead unless
        // it added the head's gradient into grads itself)
        if !ws.headGradientAdded {
            addInto(grads + layout.lmHead, ws.p(ws.dHead), V * C)
        }
        // forward was: lnf = Norm_f(resid[L])
        ws.p(ws.dresid).update(repeating: 0, count: BT * C)
        normBackward(
            ws.p(ws.dresid), grads, ws.p(ws.dlnf), ws.p(ws.final), layout.normFWeight,
            layout.normFBias, ws.p(ws.lnfMean), ws.p(ws.lnfRstd), BT)
    }

    /// Backward of `coreForward` with the same arguments: ws.dresid holds d(resid[L]) on entry
    /// and d(resid[0]) on exit; weight gradients are added into grads. `extra(l)` (l < L), if
    /// given, is added into d(resid[l]) (the row's layer-l inputs used elsewhere, e.g. as another
    /// row's memory). With memory, ws.dMemory[l] receives d(memory.layers[l]).
    func coreBackward(
        _ ws: Workspace, time T: Int, pos0: Int, memory: CoreMemory?,
        grads: UnsafeMutablePointer<Float>,
        extra: ((Int) -> UnsafePointer<Float>?)? = nil
    ) {
        let (B, C) = (ws.batch, config.channels)
        let Tm = memory?.tokens ?? 0
        let Tc = T + Tm
        let BT = B * T
        let H = config.mlpHidden
        let F = config.mlp == .gelu ? H : 2 * H
        let W = attention.shape.qkvWidth
        let A = attention.shape.outWidth
        let dresid = ws.p(ws.dresid)
        let dln = ws.p(ws.dln)
        let datty = ws.p(ws.datty)
        let dqkv = ws.p(ws.dqkv)
        let dfch = ws.p(ws.dfch)
        let dact = ws.p(ws.dact)
        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            let o = layout.blocks[l]
            if l + 1 < config.layers, let e = extra?(l + 1) { addInto(dresid, e, BT * C) }
            // forward was: resid[l+1] = residMid + act · wprojᵀ (dresid passes to residMid as is)
            // (gradient buffers written whole are overwritten, not zeroed and accumulated into)
            matmulBackward(
                dinp: dact, dweight: grads + o.wproj, dbias: nil, dout: dresid,
                inp: ws.p(ws.act[l]), weight: w(o.wproj), BT: BT, C: H, OC: C, accumulate: false)
            // forward was: act = gelu(fch) (leaving gelu'(fch) in fch) or swiglu(fch); GELU's
            // gradient overwrites dact in place
            var dpre = dfch
            switch config.mlp {
            case .gelu:
                dpre = dact
                geluBackward(dinp: dact, derivative: ws.p(ws.fch[l]), dout: dact, N: BT * H)
            case .swiglu:
                swigluBackward(dinp: dfch, inp: ws.p(ws.fch[l]), dout: dact, N: BT, H: H, accumulate: false)
            }
            // forward was: fch = ln2 · wfcᵀ
            matmulBackward(
                dinp: dln, dweight: grads + o.wfc, dbias: nil, dout: dpre, inp: ws.p(ws.ln2[l]),
                weight: w(o.wfc), BT: BT, C: C, OC: F, accumulate: false)
            // forward was: ln2 = Norm2(residMid)
            normBackward(
                dresid, grads, dln, ws.p(ws.residMid[l]), o.norm2Weight, o.norm2Bias,
                ws.p(ws.ln2Mean[l]), ws.p(ws.ln2Rstd[l]), BT)
            // forward was: residMid = resid + atty · woᵀ
            matmulBackward(
                dinp: datty, dweight: grads + o.wo, dbias: nil, dout: dresid,
                inp: rowAtty(ws, l, T: T, Tm: Tm), weight: w(o.wo), BT: BT, C: A, OC: C, accumulate: false)
            // forward was: atty = Attn(qkv, x = ln1), over [memory; row] with memory
            var dattyAll = datty
            if Tm > 0 {
                dattyAll = ws.p(ws.dattyCat)
                dattyAll.update(repeating: 0, count: B * Tc * A)
                copyRows(B, T, A, from: datty, T, 0, to: dattyAll, Tc, Tm)
            }
            dqkv.update(repeating: 0, count: B * Tc * W)
            dln.update(repeating: 0, count: B * Tc * C)
            attention.backward(
                attentionIO(ws, l, time: Tc, pos0: pos0 - Tm),
                AttentionGrads(dout: dattyAll, dqkv: dqkv, dx: dln, dparams: grads + o.attn))
            // forward was: qkv[:, qkvColumns] = ln1 · wqkvᵀ
            let cols = layout.qkvColumns
            matmulBackward(
                dinp: dln, dweight: grads + o.wqkv, dbias: nil, dout: dqkv + cols.lowerBound,
                inp: ws.p(ws.ln1[l]), weight: w(o.wqkv), BT: B * Tc, C: C, OC: cols.count, doutStride: W)
            // forward was: ln1 = Norm1(x), x = resid or [memory; resid]
            if Tm > 0 {
                let dx = ws.p(ws.dxcat)
                dx.update(repeating: 0, count: B * Tc * C)
                normBackward(
                    dx, grads, dln, ws.p(ws.xcat[l]), o.norm1Weight, o.norm1Bias,
                    ws.p(ws.ln1Mean[l]), ws.p(ws.ln1Rstd[l]), B * Tc)
                copyRows(B, Tm, C, from: dx, Tc, 0, to: ws.p(ws.dMemory[l]), Tm, 0)
                addRows(B, T, C, from: dx, Tc, Tm, to: dresid, T, 0)
            } else {
                normBackward(
                    dresid, grads, dln, ws.p(ws.resid[l]), o.norm1Weight, o.norm1Bias,
                    ws.p(ws.ln1Mean[l]), ws.p(ws.ln1Rstd[l]), BT)
            }
        }
        if let e = extra?(0) { addInto(dresid, e, BT * C) }
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

/// What a config will allocate, computed without allocating it: the parameter count and the
/// floats of one thread's workspace (schedule storage included), for memory estimates.
public struct ModelFootprint {
    public let config: ModelConfig
    /// Floats in the parameter arena (the gradient and each optimizer moment have as many).
    public let parameters: Int
    private let variant: any AttentionVariant
    private let schedule: any Schedule

    /// Validates the config (so every size below is bounded) and lays out its parameters.
    public init(_ config: ModelConfig) throws {
        try config.validate()
        self.config = config
        variant = try AttentionRegistry.make(config.attention, shape: config.attentionShape)
        schedule = try ScheduleRegistry.make(config.schedule, config: config)
        parameters = ParameterLayout(config, variant: variant).count
    }

    /// Floats of a workspace for (batch, time) tokens, as `makeWorkspace` and a forward and
    /// backward over them allocate.
    public func workspaceFloats(batch: Int, time: Int) -> Int {
        schedule.workspaceFloats(config, variant: variant, batch: batch, time: time)
    }
}

// Whole-model tests: numpy golden losses, finite-difference gradients for every tensor across MLP
// kinds, norms, tied/untied heads and kv-head layouts, decode == forward, overfitting one batch,
// determinism, two threads sharing one model, and the layout table.
import Attention
import Basics
import Foundation
import Model
import TestSupport
import Testing

struct LanguageModelTests {
    static let golden: [String: GoldenCase] = {
        let url = Bundle.module.url(
            forResource: "model", withExtension: "json", subdirectory: "Golden")!
        return try! Golden.load(url)
    }()

    @Test(arguments: ["gelu_layernorm_tied_mha", "swiglu_rmsnorm_untied_mqa"])
    func goldenLoss(name: String) throws {
        let g = Self.golden[name]!
        let config = ModelConfig(
            vocabSize: g.dim("V"), channels: g.dim("C"), layers: g.dim("L"), heads: g.dim("NH"),
            kvHeads: g.dim("NKV"), context: g.dim("T"), mlp: g.dim("swiglu") == 1 ? .swiglu : .gelu,
            norm: g.dim("layernorm") == 1 ? .layernorm : .rmsnorm,
            tiedEmbeddings: g.dim("tied") == 1)
        let model = try LanguageModel(config: config)
        for spec in model.tensors {
            let values = g.values("param." + spec.name)
            #expect(values.count == spec.count, "\(spec.name)")
            for i in 0..<spec.count { model.parameters[spec.offset + i] = Float(values[i]) }
        }
        let ws = model.makeWorkspace(batch: g.dim("B"), time: g.dim("T"))
        let loss = model.forward(ws, tokens: g.ints("tokens"), targets: g.ints("targets"))
        #expect(abs(Double(loss) - g.values("loss")[0]) < 1e-5)
        #expect(scaledError(ws.losses.baseAddress!, g.values("losses")) < 1e-5)
    }

    static let gradientConfigs: [ModelConfig] = [
        .tiny(), .tiny(mlp: .swiglu, norm: .layernorm, tied: false, kvHeads: 1),
        .tiny(mlp: .gelu, norm: .layernorm, tied: true, kvHeads: 2, NH: 4),
        .tiny(mlp: .swiglu, norm: .rmsnorm, tied: true, kvHeads: 2, C: 16, NH: 4),
        .tiny(kvHeads: 2, NH: 4, variant: "aaren"),  // no q projection
    ]

    @Test(arguments: 0..<gradientConfigs.count)
    func gradientCheck(index: Int) throws {
        let config = Self.gradientConfigs[index]
        let model = try LanguageModel(config: config)
        scrambleParameters(model, seed: UInt64(index + 1))
        let (B, T) = (2, config.context)
        let ws = model.makeWorkspace(batch: B, time: T)
        let (tokens, targets) = batch(B: B, T: T, V: config.vocabSize, seed: 3)
        let grads = Floats(model.parameterCount)
        model.forward(ws, tokens: tokens, targets: targets)
        model.backward(ws, grads: grads.p)
        let evalWS = model.makeWorkspace(batch: B, time: T)
        for spec in model.tensors {
            let err = GradientCheck.maxError(
                of: model.parameters.baseAddress! + spec.offset, count: spec.count,
                analytic: grads.p + spec.offset, eps: 1e-2, samples: 12, precise: true, floor: 1e-3
            ) { meanLoss(model, evalWS, tokens, targets) }
            #expect(err < 5e-3, "\(spec.name) config \(index)")
        }
    }

    @Test(arguments: [
        ModelConfig.tiny(), .tiny(mlp: .swiglu, norm: .layernorm, tied: false, kvHeads: 1),
        .tiny(kvHeads: 1, NH: 4, variant: "aaren"),
    ])
    func decodeMatchesForward(config: ModelConfig) throws {
        let model = try LanguageModel(config: config)
        scrambleParameters(model, seed: 5)
        let T = 7  // longer than the training context: RoPE has no maximum length
        let (tokens, targets) = batch(B: 1, T: T, V: config.vocabSize, seed: 9)
        let ws = model.makeWorkspace(batch: 1, time: T)
        model.forward(ws, tokens: tokens, targets: targets)
        let decoder = model.makeDecoder(maxTokens: T)
        for round in 0..<2 {
            decoder.reset()
            for t in 0..<T {
                let logits = decoder.next(token: tokens[t])
                guard targets[t] >= 0 else { continue }
                let m = logits.max()!
                let lse = Double(m) + log(logits.reduce(0.0) { $0 + exp(Double($1 - m)) })
                let loss = lse - Double(logits[Int(targets[t])])
                #expect(abs(loss - Double(ws.losses[t])) < 1e-4, "round \(round) t \(t)")
            }
        }
    }

    @Test func overfitsOneBatch() throws {
        let config = ModelConfig.tiny(V: 16, C: 16, L: 2, NH: 2, T: 8)
        let model = try LanguageModel(config: config)
        let (tokens, targets) = batch(B: 2, T: 8, V: 16, seed: 4)
        let ws = model.makeWorkspace(batch: 2, time: 8)
        let grads = Floats(model.parameterCount)
        let m = Floats(model.parameterCount)
        let v = Floats(model.parameterCount)
        var first: Float = 0
        var last: Float = 0
        for step in 1...150 {
            grads.zero()
            last = model.forward(ws, tokens: tokens, targets: targets)
            if step == 1 { first = last }
            model.backward(ws, grads: grads.p)
            let (b1, b2, lr): (Float, Float, Float) = (0.9, 0.99, 1e-2)
            for i in 0..<model.parameterCount {
                m[i] = b1 * m[i] + (1 - b1) * grads[i]
                v[i] = b2 * v[i] + (1 - b2) * grads[i] * grads[i]
                let mh = m[i] / (1 - pow(b1, Float(step)))
                let vh = v[i] / (1 - pow(b2, Float(step)))
                model.parameters[i] -= lr * mh / (vh.squareRoot() + 1e-8)
            }
        }
        #expect(first > 2.5)
        #expect(last < 0.1)
    }

    @Test func sameSeedIsBitwiseDeterministic() throws {
        let config = ModelConfig.tiny(mlp: .swiglu, kvHeads: 1)
        let (tokens, targets) = batch(B: 2, T: 5, V: 11, seed: 2)
        var losses: [Float] = []
        var firstGrads: [Float] = []
        for _ in 0..<2 {
            let model = try LanguageModel(config: config)
            let ws = model.makeWorkspace(batch: 2, time: 5)
            let grads = Floats(model.parameterCount)
            losses.append(model.forward(ws, tokens: tokens, targets: targets))
            model.backward(ws, grads: grads.p)
            if firstGrads.isEmpty {
                firstGrads = grads.array
            } else {
                #expect(grads.array == firstGrads)
            }
        }
        #expect(losses[0].bitPattern == losses[1].bitPattern)
        var other = config
        other.initSeed = 7
        let different = try LanguageModel(config: other)
        let ws = different.makeWorkspace(batch: 2, time: 5)
        #expect(different.forward(ws, tokens: tokens, targets: targets) != losses[0])
    }

    /// The trainer's fused call: the head's weight gradient goes straight into grads, giving the
    /// same bits as forward then backward when grads start at zero, and adding (within rounding)
    /// onto gradients already there; the workspace then still serves the separate calls.
    @Test(arguments: 0..<gradientConfigs.count)
    func forwardBackwardMatchesForwardThenBackward(index: Int) throws {
        let config = Self.gradientConfigs[index]
        let model = try LanguageModel(config: config)
        scrambleParameters(model, seed: UInt64(index + 5))
        let (B, T) = (2, config.context)
        let ws = model.makeWorkspace(batch: B, time: T)
        let (tokens, targets) = batch(B: B, T: T, V: config.vocabSize, seed: 4)
        let separate = Floats(model.parameterCount)
        let lossSeparate = model.forward(ws, tokens: tokens, targets: targets)
        model.backward(ws, grads: separate.p)
        let fused = Floats(model.parameterCount)
        let lossFused = model.forwardBackward(ws, tokens: tokens, targets: targets, grads: fused.p)
        #expect(lossFused.bitPattern == lossSeparate.bitPattern)
        #expect(fused.array == separate.array)
        _ = model.forwardBackward(ws, tokens: tokens, targets: targets, grads: fused.p)
        let twice = separate.array.map { 2 * $0 }
        #expect(scaledError(fused.p, twice.map(Double.init)) < 1e-6)
        let again = Floats(model.parameterCount)
        model.forward(ws, tokens: tokens, targets: targets)
        model.backward(ws, grads: again.p)
        #expect(again.array == separate.array)
    }

    @Test func twoThreadsShareOneModel() throws {
        let model = try LanguageModel(config: .tiny(C: 16, T: 6))
        let batches = (0..<2).map { batch(B: 2, T: 6, V: 11, seed: UInt64(10 + $0)) }
        let serial = batches.map { b -> [Float] in
            let ws = model.makeWorkspace(batch: 2, time: 6)
            let g = Floats(model.parameterCount)
            model.forward(ws, tokens: b.tokens, targets: b.targets)
            model.backward(ws, grads: g.p)
            return g.array
        }
        let results = ResultSlots<[Float]>(count: 2)
        parallelFor(2, threads: 2) { i in
            let ws = model.makeWorkspace(batch: 2, time: 6)
            let g = Floats(model.parameterCount)
            for _ in 0..<20 {
                g.zero()
                model.forward(ws, tokens: batches[i].tokens, targets: batches[i].targets)
                model.backward(ws, grads: g.p)
            }
            results[i] = g.array
        }
        #expect(results[0] == serial[0] && results[1] == serial[1])
    }

    @Test func layoutTable() throws {
        let model = try LanguageModel(config: .tiny(norm: .layernorm, tied: false, kvHeads: 1))
        var offset = 0
        for spec in model.tensors {
            #expect(spec.offset == offset)
            offset += spec.count
            #expect(spec.decay == (spec.shape.count == 2), "\(spec.name)")
        }
        #expect(offset == model.parameterCount)
        let names = model.tensors.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(
            names.contains("blocks.1.attn.wqkv") && names.contains("lm_head")
                && names.contains("norm_f.bias"))
        let wqkv = model.tensors.first { $0.name == "blocks.0.attn.wqkv" }!
        #expect(wqkv.shape == [(2 + 2 * 1) * 4, 8])
        #expect(model.flopsPerToken > 6 * Double(model.parameterCount - 11 * 8 * 2))
    }

    /// attn.wqkv has a row per projected column: (NH + 2 NKV) hs for every variant that reads q
    /// (the layout their checkpoints have), 2 NKV hs for aaren, whose query is learned.
    @Test(arguments: AttentionRegistry.names)
    func qkvRowsFollowTheVariantsProjections(name: String) throws {
        let (NH, NKV, hs) = (4, 2, 2)
        let model = try LanguageModel(config: .tiny(kvHeads: NKV, NH: NH, variant: name))
        let wqkv = model.tensors.first { $0.name == "blocks.1.attn.wqkv" }!
        let reads = model.attention.projections
        #expect(reads == (name == "aaren" ? .keyValue : .queryKeyValue))
        #expect(wqkv.shape == [(reads == .keyValue ? 2 * NKV : NH + 2 * NKV) * hs, 8])
        #expect(model.attention.projectedColumns.count == wqkv.shape[0])
    }
}

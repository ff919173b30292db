// Generic tests every registered attention variant must pass (architecture.md §3.9): gradient
// check of dqkv, dx and dparams (MHA, GQA, MQA), causality, T = 1, large logits, decode == forward
// (also from a cache that starts at pos0 > 0),
// GQA == MHA with repeated kv heads, and the same numbers for every BLAS tile size; the option
// declarations; the training path equal to the tensor interface (so to the golden files); every
// variant in the nightly smoke sweep and the README.
import Attention
import Basics
import Foundation
import Kernels
import TestSupport
import Testing

struct VariantTests {
    static let headLayouts = [(2, 2), (4, 2), (3, 1)]  // (NH, NKV): MHA, GQA, MQA

    /// ["tile": n] if the variant takes a "tile" option (rows per BLAS tile), else no options.
    static func tiled(_ name: String, _ tile: Int) -> [String: ConfigValue] {
        let shape = AttentionShape(heads: 2, kvHeads: 1, headSize: 4, channels: 8, context: 8)
        let options: [String: ConfigValue] = ["tile": .int(tile)]
        let config = AttentionConfig(variant: name, options: options)
        return (try? AttentionRegistry.make(config, shape: shape)) == nil ? [:] : options
    }

    @Test(arguments: AttentionRegistry.names)
    func gradientCheck(name: String) throws {
        for (NH, NKV) in Self.headLayouts {
            let h = try Harness(
                name, B: 2, T: 6, NH: NH, NKV: NKV, hs: 4, pos0: 1,
                options: Self.tiled(name, 4))
            var rng = TestRandom(seed: 99)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, dx, dp) = h.gradients(dout: dout)
            let loss = { h.loss(dout) }
            #expect(
                GradientCheck.maxError(
                    of: h.qkv.p, count: h.qkv.count, analytic: dqkv.p,
                    eps: 1e-2, samples: 80, precise: true, kinkEps: 2.5e-3, loss: loss) < 2e-3,
                "dqkv NH=\(NH) NKV=\(NKV)")
            // x and the parameters act through smooth gates, some damped (gla's log α = logsigmoid / 16):
            // a step of 3e-2 keeps the float32 forward's rounding (about an ulp of the loss over the
            // step) under the tolerance; the fourth-order difference's truncation stays ~step^4.
            #expect(
                GradientCheck.maxError(
                    of: h.x.p, count: h.x.count, analytic: dx.p, eps: 3e-2,
                    precise: true, kinkEps: 2.5e-3, loss: loss) < 2e-3, "dx")
            if h.params.count > 0 {
                #expect(
                    GradientCheck.maxError(
                        of: h.params.p, count: h.params.count, analytic: dp.p,
                        eps: 3e-2, precise: true, kinkEps: 2.5e-3, loss: loss) < 2e-3, "dparams")
            }
        }
    }

    @Test(arguments: AttentionRegistry.names)
    func causality(name: String) throws {
        let T = 7
        let h = try Harness(name, B: 1, T: T, NH: 4, NKV: 2, hs: 4)
        h.forward()
        let before = h.out.copy()
        var rng = TestRandom(seed: 5)
        for t in [6, 3] {
            for i in t * h.shape.qkvWidth..<T * h.shape.qkvWidth { h.qkv[i] += rng.normal() }
            for i in t * h.shape.channels..<T * h.shape.channels { h.x[i] += rng.normal() }
            h.forward()
            for i in 0..<t * h.shape.outWidth { #expect(h.out[i] == before[i], "t=\(t) i=\(i)") }
        }
    }

    @Test(arguments: AttentionRegistry.names)
    func singleTokenAndLargeLogits(name: String) throws {
        let one = try Harness(name, B: 2, T: 1, NH: 2, NKV: 1, hs: 4)
        one.forward()
        #expect(one.out.array.allSatisfy { $0.isFinite })
        let big = try Harness(name, B: 1, T: 9, NH: 2, NKV: 2, hs: 4, qkvScale: 30)
        var rng = TestRandom(seed: 1)
        let dout = Floats(normal: big.out.count, rng: &rng)
        let (dqkv, dx, _) = big.gradients(dout: dout)
        #expect(big.out.array.allSatisfy { $0.isFinite })
        #expect(dqkv.array.allSatisfy { $0.isFinite } && dx.array.allSatisfy { $0.isFinite })
    }

    /// From position 0, and from a cache whose first token is at pos0 = 37 (a staircase row's
    /// cache starts mid-stream): the decode equals forward with io.pos0 = 37.
    @Test(arguments: AttentionRegistry.names)
    func decodeMatchesForward(name: String) throws {
        for (NH, NKV, pos0) in [(2, 2, 0), (4, 1, 0), (2, 1, 37)] {
            let h = try Harness(name, B: 1, T: 10, NH: NH, NKV: NKV, hs: 8, pos0: pos0)
            #expect(h.decodeError() < 1e-5, "NH=\(NH) NKV=\(NKV) pos0=\(pos0)")
        }
    }

    /// Decoding from position 0 reads nothing a cache held before (a staircase row's decoder is
    /// reset and reused; a debug TokenDecoder is NaN once freed) nor stale scratch: with both
    /// filled with NaN at the start, the decode still equals forward.
    @Test(arguments: AttentionRegistry.names)
    func decodeIgnoresWhatTheCacheHeld(name: String) throws {
        for (NH, NKV, pos0) in [(2, 2, 0), (4, 1, 0), (2, 1, 37)] {
            let h = try Harness(name, B: 1, T: 10, NH: NH, NKV: NKV, hs: 8, pos0: pos0)
            #expect(h.decodeError(fill: .nan) < 1e-5, "NH=\(NH) NKV=\(NKV) pos0=\(pos0)")
        }
    }

    @Test(arguments: AttentionRegistry.names)
    func groupedEqualsMultiHeadWithRepeatedKV(name: String) throws {
        let (B, T, NH, NKV, hs) = (2, 5, 4, 2, 4)
        let gqa = try Harness(name, B: B, T: T, NH: NH, NKV: NKV, hs: hs, pos0: 2)
        let mha = try Harness(name, B: B, T: T, NH: NH, NKV: NH, hs: hs, pos0: 2)
        let (Wg, Wm, group) = (gqa.shape.qkvWidth, mha.shape.qkvWidth, NH / NKV)
        let perKV = Self.perKVHeadParameters(gqa: gqa.variant, mha: mha.variant)
        for (g, m) in zip(gqa.variant.parameters, mha.variant.parameters) {
            guard perKV.contains(g.name) else {
                (mha.params.p + m.offset).update(from: gqa.params.p + g.offset, count: g.count)
                continue
            }
            let block = g.count / NKV  // kv head h / group's block, repeated for each query head h
            for h in 0..<NH {
                (mha.params.p + m.offset + h * block).update(
                    from: gqa.params.p + g.offset + h / group * block, count: block)
            }
        }
        mha.x.p.update(from: gqa.x.p, count: gqa.x.count)
        for r in 0..<B * T {
            let src = gqa.qkv.p + r * Wg
            let dst = mha.qkv.p + r * Wm
            dst.update(from: src, count: NH * hs)
            for h in 0..<NH {
                (dst + (NH + h) * hs).update(from: src + (NH + h / group) * hs, count: hs)
                (dst + (2 * NH + h) * hs).update(from: src + (NH + NKV + h / group) * hs, count: hs)
            }
        }
        var rng = TestRandom(seed: 8)
        let dout = Floats(normal: gqa.out.count, rng: &rng)
        let (dg, dxg, dpg) = gqa.gradients(dout: dout)
        let (dm, dxm, dpm) = mha.gradients(dout: dout)
        #expect(scaledError(gqa.out.p, mha.out.p, gqa.out.count) < 1e-6)
        #expect(scaledError(dxg.p, dxm.p, dxg.count) < 1e-5)
        for (g, m) in zip(gqa.variant.parameters, mha.variant.parameters) {
            // a per-kv-head parameter's gradient = the sum over its query heads, as dK and dV
            let block = perKV.contains(g.name) ? g.count / NKV : g.count
            let summed = (0..<g.count).map { i in
                guard perKV.contains(g.name) else { return dpm[m.offset + i] }
                let (kv, e) = (i / block, i % block)
                return (0..<group).reduce(Float(0)) { $0 + dpm[m.offset + (kv * group + $1) * block + e] }
            }
            #expect(relativeError(Array(dpg.array[g.offset..<g.offset + g.count]), summed.map(Double.init)) < 1e-5)
        }
        for r in 0..<B * T {  // dq equal; dK, dV of a kv head = the sum over its query heads
            #expect(scaledError(dg.p + r * Wg, dm.p + r * Wm, NH * hs) < 1e-5)
            for g in 0..<NKV {
                for d in 0..<hs {
                    for (gOff, mOff) in [(NH, NH), (NH + NKV, 2 * NH)] {
                        let sum = (0..<group).reduce(Float(0)) {
                            $0 + dm[r * Wm + (mOff + g * group + $1) * hs + d]
                        }
                        #expect(abs(dg[r * Wg + (gOff + g) * hs + d] - sum) < 1e-5)
                    }
                }
            }
        }
    }

    /// Names of the parameters with one block per kv head (leading dimension NKV, e.g.
    /// persistent memory): GQA repeats them over each group like k and v.
    static func perKVHeadParameters(gqa: any AttentionVariant, mha: any AttentionVariant) -> Set<String> {
        Set(
            zip(gqa.parameters, mha.parameters).filter {
                $0.shape.first == gqa.shape.kvHeads && $1.shape.first == mha.shape.kvHeads
                    && gqa.shape.kvHeads != mha.shape.kvHeads
            }.map(\.0.name))
    }

    /// The registered variants that take a "tile" option.
    static let tiledNames = AttentionRegistry.names.filter { !tiled($0, 3).isEmpty }

    @Test(arguments: tiledNames)
    func tileSizeDoesNotChangeResults(name: String) throws {
        var results: [(Floats, Floats, Floats, Floats)] = []
        for tile in [64, 3, 1] {
            let h = try Harness(
                name, B: 2, T: 11, NH: 4, NKV: 2, hs: 6, pos0: 3, options: Self.tiled(name, tile))
            var rng = TestRandom(seed: 4)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, dx, dp) = h.gradients(dout: dout)
            results.append((h.out, dqkv, dx, dp))
        }
        for (out, dqkv, dx, dp) in results.dropFirst() {
            let ref = results[0]
            #expect(scaledError(out.p, ref.0.p, out.count) < 1e-5)
            #expect(scaledError(dqkv.p, ref.1.p, dqkv.count) < 1e-5)
            #expect(scaledError(dx.p, ref.2.p, dx.count) < 1e-5)
            #expect(scaledError(dp.p, ref.3.p, dp.count) < 1e-5)
        }
    }
}

/// The option declarations (AttentionOptions.swift) are what the variants read: every declared
/// option is read by the variant's init, its declared default is the one the init uses, and help
/// and errors name it.
struct OptionDeclarationTests {
    static let shape = AttentionShape(heads: 2, kvHeads: 1, headSize: 4, channels: 8, context: 8)

    @Test(arguments: AttentionRegistry.names)
    func everyDeclaredOptionIsRead(name: String) throws {
        let type = try AttentionRegistry.type(named: name)
        for option in type.options {
            let bad: [String: ConfigValue] = [option.name: .string("not a value")]
            let error = #expect(throws: AttentionError.self, "\(name).\(option.name)") {
                try AttentionRegistry.make(AttentionConfig(variant: name, options: bad), shape: Self.shape)
            }
            #expect(error?.description.contains(option.name) == true, "\(error?.description ?? "")")
        }
        let unknown = #expect(throws: AttentionError.self) {
            try AttentionRegistry.make(
                AttentionConfig(variant: name, options: ["no_such_option": .int(1)]), shape: Self.shape)
        }
        for option in type.options { #expect(unknown?.description.contains(option.name) == true) }
    }

    /// The declared defaults, written out, give the same layer as no options.
    @Test(arguments: AttentionRegistry.names)
    func declaredDefaultsAreTheDefaults(name: String) throws {
        let resolved = try AttentionRegistry.resolvedOptions(AttentionConfig(variant: name), shape: Self.shape)
        #expect(Set(resolved.keys) == Set(try AttentionRegistry.type(named: name).options.map(\.name)))
        var results: [[Float]] = []
        for options in [[:], resolved] {
            let h = try Harness(name, B: 1, T: 6, NH: 2, NKV: 1, hs: 4, options: options, context: 8)
            var rng = TestRandom(seed: 2)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, dx, dp) = h.gradients(dout: dout)
            results.append(h.out.array + dqkv.array + dx.array + dp.array)
        }
        #expect(results[0] == results[1])
    }

    @Test func helpListsEveryOption() {
        let help = AttentionRegistry.optionsHelp
        for type in AttentionRegistry.variants {
            #expect(help.contains(type.name))
            for option in type.options { #expect(help.contains("  \(option.name) = \(option.defaultText)")) }
        }
        #expect(help.contains("rope_base = 500000"), "forgetting's own RoPE base")
        #expect(help.contains("bias = -log(context)"))
    }
}

/// The code that trains is the code the golden files check: each variant's fused training path
/// (B = 1) gives the same out and gradients as its tensor interface on the same tensors, with
/// its parameters passed by name (a learned query as q).
struct TrainingPathTests {
    static let cases: [(String, [String: ConfigValue])] =
        AttentionRegistry.names.map { ($0, [:]) } + [
            ("softmax_rope", ["window": .int(3), "tile": .int(2)]), ("sigmoid", ["bias": .string("learned")]),
            ("stick_breaking", ["remainder": .string("bias")]), ("alibi", ["tile": .int(3)]),
            ("persistent", ["memory": .int(3), "tile": .int(2)]),
            ("sinks", ["sinks": .int(2), "window": .int(2), "tile": .int(3)]),
        ]

    @Test(arguments: cases)
    func equalsTheTensorInterface(name: String, options: [String: ConfigValue]) throws {
        let (T, NH, NKV, hs, C) = (7, 4, 2, 4, 6)
        let h = try Harness(name, B: 1, T: T, NH: NH, NKV: NKV, hs: hs, C: C, options: options)
        var rng = TestRandom(seed: 31)
        let dout = Floats(normal: h.out.count, rng: &rng)
        let (dqkv, dx, dparams) = h.gradients(dout: dout)
        let W = h.shape.qkvWidth
        /// Head-major [heads][T][hs] from a token-major buffer, columns from `at`.
        func heads(_ p: UnsafePointer<Float>, _ n: Int, at: Int, width: Int) -> [Float] {
            (0..<n).flatMap { g in (0..<T).flatMap { t in (0..<hs).map { p[t * width + at + g * hs + $0] } } }
        }
        func tensor(_ shape: [Int], _ values: [Float]) -> TensorValue {
            TensorValue(shape: shape, values: values.map(Double.init))
        }
        let type = try AttentionRegistry.type(named: name)
        let learnedQuery = type.tensorQueryRows(T: T) == 1
        var tensors = [
            "q": learnedQuery
                ? tensor([NH, 1, hs], h.params.array) : tensor([NH, T, hs], heads(h.qkv.p, NH, at: 0, width: W)),
            "k": tensor([NKV, T, hs], heads(h.qkv.p, NKV, at: NH * hs, width: W)),
            "v": tensor([NKV, T, hs], heads(h.qkv.p, NKV, at: (NH + NKV) * hs, width: W)),
            "dout": tensor([NH, T, hs], heads(dout.p, NH, at: 0, width: NH * hs)),
        ]
        var want: [String: [Float]] = [
            "out": heads(h.out.p, NH, at: 0, width: NH * hs),
            "dq": learnedQuery ? dparams.array : heads(dqkv.p, NH, at: 0, width: W),
            "dk": heads(dqkv.p, NKV, at: NH * hs, width: W), "dv": heads(dqkv.p, NKV, at: (NH + NKV) * hs, width: W),
        ]
        if !learnedQuery {
            for spec in h.variant.parameters {
                tensors[spec.name] = tensor(spec.shape, Array(h.params.array[spec.offset..<spec.offset + spec.count]))
                want["d" + spec.name] = Array(dparams.array[spec.offset..<spec.offset + spec.count])
            }
        }
        if dx.array.contains(where: { $0 != 0 }) {
            tensors["x"] = tensor([T, C], h.x.array)
            want["dx"] = dx.array
        }
        let result = try TensorInterface.run(variant: name, TensorInput(tensors: tensors, options: options))
        var got = Dictionary(uniqueKeysWithValues: result.tensors.map { ($0.name, $0.values) })
        for s in result.scalars { got[s.name] = [Float(s.value)] }
        for (key, values) in want {
            let err = relativeError(values, (got[key] ?? []).map(Double.init))
            #expect(err < 1e-5, "\(name) \(options): \(key) differs by \(err)")
        }
    }
}

/// The lists outside Swift that name every variant: the nightly smoke sweep and the README.
struct VariantListTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    @Test(arguments: ["experiments/nightly-smoke.toml", "README.md"])
    func namesEveryVariant(file: String) throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8)
        for name in AttentionRegistry.names {
            #expect(text.contains("\"\(name)\"") || text.contains("`\(name)`"), "\(file): \(name)")
        }
    }
}

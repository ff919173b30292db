// forgetting (FoX; golden vectors with log f given, incl. dlog_f: TensorInterfaceTests): log f = 0
// equals softmax_nope, the tiled path (gates, dx, dparams; NoPE and RoPE)
// against the naive oracle, gradient check and decode with rope, long sequences with strong
// forgetting, gate initialisation and options.
import Attention
import Basics
import Foundation
import Kernels
import TestSupport
import Testing

struct ForgettingTests {
    @Test func zeroLogForgetEqualsNoPE() throws {
        let (H, Hkv, T, d, dv) = (4, 2, 9, 4, 3)
        var rng = TestRandom(seed: 12)
        func normal(_ shape: [Int]) -> TensorValue {
            TensorValue(shape: shape, values: Floats(normal: shape.reduce(1, *), rng: &rng).array.map(Double.init))
        }
        var tensors = ["q": normal([H, T, d]), "k": normal([Hkv, T, d]), "v": normal([Hkv, T, dv])]
        tensors["dout"] = normal([H, T, dv])
        func run(_ variant: String, logF: Double?) throws -> [String: [Float]] {
            var input = tensors
            if let logF { input["log_f"] = TensorValue(shape: [H, T], values: .init(repeating: logF, count: H * T)) }
            let out = try TensorInterface.run(variant: variant, TensorInput(tensors: input))
            return Dictionary(uniqueKeysWithValues: out.tensors.map { ($0.name, $0.values) })
        }
        let nope = try run("softmax_nope", logF: nil)
        let fox = try run("forgetting", logF: 0)
        for name in ["out", "dq", "dk", "dv"] { #expect(fox[name] == nope[name], "\(name)") }
        let half = try run("forgetting", logF: -log(2))  // gate bias 0 is f = 0.5, not softmax
        #expect(relativeError(half["out"]!, nope["out"]!.map(Double.init)) > 1e-3)
    }

    @Test(arguments: [(1, 1, false), (6, 2, false), (13, 4, true), (25, 64, true), (70, 32, false)])
    func tiledMatchesNaive(T: Int, tile: Int, rope: Bool) throws {
        for (NH, NKV) in [(4, 2), (3, 1)] {
            let h = try Harness(
                "forgetting", B: 2, T: T, NH: NH, NKV: NKV, hs: 4, C: 5, pos0: 2,
                options: ["tile": .int(tile), "rope": .bool(rope)], seed: UInt64(T))
            var rng = TestRandom(seed: 3)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let spec = NaiveBiasedAttention.Spec(ropeBase: rope ? 500_000 : nil, forgetGates: true)
            let (out, dqkv, dx, dp) = errors(h, dout: dout, against: h.naive(spec, dout: dout))
            #expect(
                out < 1e-5 && dqkv < 1e-5 && dx < 1e-5 && dp < 1e-5,
                "NH=\(NH) out \(out) dqkv \(dqkv) dx \(dx) dparams \(dp)")
        }
    }

    @Test func gradientCheckWithRope() throws {
        let h = try Harness(
            "forgetting", B: 2, T: 6, NH: 4, NKV: 2, hs: 4, pos0: 3,
            options: ["rope": .bool(true), "rope_base": .int(100), "tile": .int(4)])
        var rng = TestRandom(seed: 9)
        let dout = Floats(normal: h.out.count, rng: &rng)
        let (dqkv, dx, dp) = h.gradients(dout: dout)
        let loss = { h.loss(dout) }
        for (x, n, g) in [
            (h.qkv.p, h.qkv.count, dqkv.p), (h.x.p, h.x.count, dx.p),
            (h.params.p, h.params.count, dp.p),
        ] {
            let err = GradientCheck.maxError(
                of: x, count: n, analytic: g, eps: 1e-2, samples: 80, precise: true, loss: loss)
            #expect(err < 2e-3)
        }
        let one = try Harness(
            "forgetting", B: 1, T: 7, NH: 4, NKV: 1, hs: 8, options: ["rope": .bool(true)])
        #expect(one.decodeError() < 1e-5)
    }

    @Test func longSequenceWithStrongForgetting() throws {
        // c reaches about -T * 5: a Float cumsum would lose the small c_i - c_j near the diagonal.
        let h = try Harness(
            "forgetting", B: 1, T: 300, NH: 2, NKV: 1, hs: 4, C: 3,
            options: ["gate_bias_init": .double(-5)])
        for i in 0..<h.params.count - 2 { h.params[i] = 0 }
        h.params[h.params.count - 2] = -5
        h.params[h.params.count - 1] = -5.1
        var rng = TestRandom(seed: 1)
        let dout = Floats(normal: h.out.count, rng: &rng)
        let ref = h.naive(NaiveBiasedAttention.Spec(forgetGates: true), dout: dout)
        let (out, dqkv, dx, dp) = errors(h, dout: dout, against: ref)
        #expect(out < 1e-5 && dqkv < 1e-5 && dx < 1e-4 && dp < 1e-4, "\(out) \(dqkv) \(dx) \(dp)")
        #expect(h.decodeError() < 1e-5)
    }

    @Test func gateInitialisationAndOptions() throws {
        let shape = AttentionShape(heads: 3, kvHeads: 1, headSize: 4, channels: 5, context: 8)
        let fox = try AttentionRegistry.make(
            AttentionConfig(variant: "forgetting", options: ["gate_bias_init": .double(2)]),
            shape: shape)
        #expect(fox.parameters.map(\.name) == ["fgate.weight", "fgate.bias"])
        #expect(fox.parameters.map(\.shape) == [[3, 5], [3]])
        let params = Floats(fox.parameterCount)
        var rng = SplitMix64(seed: 1)
        fox.initialize(params: params.p, rng: &rng)
        #expect(Array(params.array.suffix(3)) == [2, 2, 2])
        #expect(params.array.prefix(15).allSatisfy { abs($0) < 0.2 })
        let plain = try AttentionRegistry.make(AttentionConfig(variant: "forgetting"), shape: shape)
        let foxPlain = try #require(plain as? Forgetting)
        #expect(!foxPlain.rope && foxPlain.ropeBase == 500_000 && foxPlain.gateBiasInit == 0)
        #expect(throws: AttentionError.self) {
            try AttentionRegistry.make(
                AttentionConfig(variant: "forgetting", options: ["rope": .string("yes")]),
                shape: shape)
        }
    }
}

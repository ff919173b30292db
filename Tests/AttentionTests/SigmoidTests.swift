// sigmoid (golden vectors with b given, incl. dbias: TensorInterfaceTests): the tiled path against
// the naive oracle (RoPE on/off, fixed and learned b), gradient check of the learned bias, decode
// with a learned bias and without RoPE, bias option parsing and defaults.
import Attention
import Basics
import Foundation
import Kernels
import TestSupport
import Testing

struct SigmoidTests {
    @Test(arguments: [(1, 1, true), (6, 2, false), (13, 4, true), (25, 64, false), (70, 32, true)])
    func tiledMatchesNaive(T: Int, tile: Int, rope: Bool) throws {
        for bias: ConfigValue in [.double(-1.25), .string("learned")] {
            let h = try Harness(
                "sigmoid", B: 2, T: T, NH: 4, NKV: 2, hs: 4, pos0: 5,
                options: ["tile": .int(tile), "rope": .bool(rope), "bias": bias], seed: UInt64(T))
            var rng = TestRandom(seed: 3)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let spec = NaiveBiasedAttention.Spec(
                map: .sigmoid(-1.25), ropeBase: rope ? 10_000 : nil,
                learnedBias: bias == .string("learned"))
            let (out, dqkv, _, dp) = errors(h, dout: dout, against: h.naive(spec, dout: dout))
            #expect(
                out < 1e-5 && dqkv < 1e-5 && dp < 1e-5, "\(bias) out \(out) dqkv \(dqkv) db \(dp)")
        }
    }

    @Test func learnedBiasGradient() throws {
        for (NH, NKV) in [(2, 2), (4, 2), (3, 1)] {
            let h = try Harness(
                "sigmoid", B: 2, T: 7, NH: NH, NKV: NKV, hs: 4, pos0: 1,
                options: ["bias": .string("learned"), "tile": .int(3)])
            #expect(h.params.count == 1)
            var rng = TestRandom(seed: 21)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, _, dp) = h.gradients(dout: dout)
            let loss = { h.loss(dout) }
            #expect(
                GradientCheck.maxError(
                    of: h.params.p, count: 1, analytic: dp.p, eps: 1e-2, precise: true, loss: loss)
                    < 2e-3)
            #expect(
                GradientCheck.maxError(
                    of: h.qkv.p, count: h.qkv.count, analytic: dqkv.p, eps: 1e-2, samples: 60,
                    precise: true, loss: loss) < 2e-3)
        }
    }

    @Test func decodeMatchesForwardLearnedNoRoPE() throws {
        let h = try Harness(
            "sigmoid", B: 1, T: 9, NH: 4, NKV: 1, hs: 8,
            options: ["bias": .string("learned"), "rope": .bool(false)])
        #expect(h.decodeError() < 1e-5)
    }

    @Test func biasOption() throws {
        let shape = AttentionShape(heads: 2, kvHeads: 1, headSize: 4, channels: 8, context: 64)
        func make(_ options: [String: ConfigValue]) throws -> Sigmoid {
            try #require(
                try AttentionRegistry.make(
                    AttentionConfig(variant: "sigmoid", options: options), shape: shape)
                    as? Sigmoid)
        }
        let plain = try make([:])
        #expect(
            !plain.learnedBias && plain.bias == -log(64.0) && plain.rope && plain.ropeBase == 10_000
        )
        #expect(plain.parameters.isEmpty)
        #expect(try make(["bias": .int(-2)]).bias == -2)
        let learned = try make(["bias": .string("learned")])
        #expect(learned.learnedBias && learned.parameters.map(\.shape) == [[1]])
        let params = Floats(1)
        var rng = SplitMix64(seed: 1)
        learned.initialize(params: params.p, rng: &rng)
        #expect(params[0] == Float(-log(64.0)))
        #expect(throws: AttentionError.self) { try make(["bias": .string("learnt")]) }
        #expect(throws: AttentionError.self) { try make(["bias": .bool(true)]) }
    }
}

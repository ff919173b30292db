// Generic tests every registered attention variant must pass (architecture.md §3.9): gradient
// check of dqkv, dx and dparams (MHA, GQA, MQA), causality, T = 1, large logits, decode == forward.
import Attention
import Kernels
import TestSupport
import Testing

struct VariantTests {
    static let headLayouts = [(2, 2), (4, 2), (3, 1)]  // (NH, NKV): MHA, GQA, MQA

    @Test(arguments: AttentionRegistry.names)
    func gradientCheck(name: String) throws {
        for (NH, NKV) in Self.headLayouts {
            let h = try Harness(
                name, B: 2, T: 6, NH: NH, NKV: NKV, hs: 4, pos0: 1,
                options: ["tile": .int(4)].filter { _ in name == "softmax_rope" })
            var rng = TestRandom(seed: 99)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, dx, dp) = h.gradients(dout: dout)
            let loss = { h.loss(dout) }
            #expect(
                GradientCheck.maxError(
                    of: h.qkv.p, count: h.qkv.count, analytic: dqkv.p,
                    eps: 1e-2, samples: 80, precise: true, loss: loss) < 2e-3,
                "dqkv NH=\(NH) NKV=\(NKV)")
            #expect(
                GradientCheck.maxError(
                    of: h.x.p, count: h.x.count, analytic: dx.p, eps: 1e-2,
                    precise: true, loss: loss) < 2e-3, "dx")
            if h.params.count > 0 {
                #expect(
                    GradientCheck.maxError(
                        of: h.params.p, count: h.params.count, analytic: dp.p,
                        eps: 1e-2, precise: true, loss: loss) < 2e-3, "dparams")
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

    @Test(arguments: AttentionRegistry.names)
    func decodeMatchesForward(name: String) throws {
        for (NH, NKV) in [(2, 2), (4, 1)] {
            let h = try Harness(name, B: 1, T: 6, NH: NH, NKV: NKV, hs: 8)
            h.forward()
            let stepped = h.decodeAll()
            #expect(scaledError(stepped.p, h.out.p, h.out.count) < 1e-5, "NH=\(NH) NKV=\(NKV)")
        }
    }
}

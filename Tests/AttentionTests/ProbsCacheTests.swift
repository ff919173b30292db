// "probs_cache_mib": every variant that keeps its attention weights between forward and backward
// must give the same outputs and gradients as recomputing them, and must keep them only where
// the saved buffer has room (a workspace sized for a long T can be called with a short one).
// Stick-breaking keeps its weights and sigmoids and its early-stop point per tile: checked in
// every remainder mode, with and without the early stop.
import Attention
import Basics
import Kernels
import TestSupport
import Testing

struct ProbsCacheTests {
    /// The registered variants that take the option.
    static let caching: [String] = AttentionRegistry.names.filter { name in
        let shape = AttentionShape(heads: 2, kvHeads: 1, headSize: 4, channels: 8, context: 8)
        let config = AttentionConfig(variant: name, options: ["probs_cache_mib": .int(1)])
        return (try? AttentionRegistry.make(config, shape: shape)) != nil
    }

    @Test func theSoftmaxAndSigmoidFamiliesCache() {
        #expect(
            Set(Self.caching).isSuperset(of: [
                "softmax_rope", "softmax_nope", "alibi", "forgetting", "sigmoid", "stick_breaking",
            ]))
    }

    @Test(arguments: caching)
    func keptEqualsRecomputed(name: String) throws {
        var results: [[Float]] = []
        var counts: [Int] = []
        for mib in [64, 0] {
            let h = try Harness(
                name, B: 2, T: 29, NH: 4, NKV: 2, hs: 6, pos0: 3,
                options: ["tile": .int(5), "probs_cache_mib": .int(mib)], seed: 11)
            var rng = TestRandom(seed: 12)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, dx, dp) = h.gradients(dout: dout)
            results.append(h.out.array + dqkv.array + dx.array + dp.array)
            counts.append(h.variant.savedCount(B: 2, T: 29))
        }
        #expect(counts[0] > counts[1], "the cache takes room in saved")
        #expect(maxRelativeError(results[0], results[1]) < 1e-5)
    }

    /// Every remainder mode, attend_current, early_stop on and off, with logits large enough
    /// (qkvScale 4, T = 150) that the early stop cuts tiles short: kept == recomputed.
    @Test(arguments: StickBreaking.Remainder.allCases)
    func stickBreakingKeptEqualsRecomputed(remainder: StickBreaking.Remainder) throws {
        for attendCurrent in [false, true] {
            for earlyStop in [true, false] {
                var results: [[Float]] = []
                for mib in [64, 0] {
                    let options: [String: ConfigValue] = [
                        "remainder": .string(remainder.rawValue), "attend_current": .bool(attendCurrent),
                        "early_stop": .bool(earlyStop), "tile": .int(12), "probs_cache_mib": .int(mib),
                    ]
                    let h = try Harness(
                        "stick_breaking", B: 2, T: 150, NH: 4, NKV: 2, hs: 8, options: options, seed: 3,
                        qkvScale: 4)
                    #expect(h.saved.count > 0 || mib == 0)
                    var rng = TestRandom(seed: 4)
                    let dout = Floats(normal: h.out.count, rng: &rng)
                    let (dqkv, dx, dp) = h.gradients(dout: dout)
                    results.append(h.out.array + dqkv.array + dx.array + dp.array)
                }
                #expect(
                    maxRelativeError(results[0], results[1]) < 1e-5,
                    "\(remainder) attend_current \(attendCurrent) early_stop \(earlyStop)")
            }
        }
    }

    /// A budget of 1 MiB holds T = 64 (8 KiB of weights per head here) but not T = 1024, so
    /// savedCount(T: 1024) has no room for them: a T = 64 call on that buffer must not keep them
    /// beyond it.
    @Test(arguments: caching)
    func keepsOnlyWhereTheBufferHasRoom(name: String) throws {
        let shape = AttentionShape(heads: 2, kvHeads: 2, headSize: 4, channels: 8, context: 1024)
        // a segment mask (infini) keeps weights linear in T: one segment of the whole context here
        let segmented = AttentionConfig(variant: name, options: ["probs_cache_mib": .int(1), "segment": .int(1024)])
        let variant =
            try (try? AttentionRegistry.make(segmented, shape: shape))
            ?? AttentionRegistry.make(
                AttentionConfig(variant: name, options: ["probs_cache_mib": .int(1)]), shape: shape)
        let (long, short) = (variant.savedCount(B: 1, T: 1024), variant.savedCount(B: 1, T: 64))
        #expect(short >= long / 16 + 2 * 64 * 64, "T = 64 keeps its weights (its other buffers grow linearly in T)")
        let sentinel: Float = 12345
        let saved = Floats(long + 4096, value: sentinel)
        var rng = TestRandom(seed: 1)
        let T = 64
        let qkv = Floats(normal: T * shape.qkvWidth, rng: &rng)
        let x = Floats(normal: T * 8, rng: &rng)
        let params = Floats(variant.parameterCount)
        let out = Floats(T * shape.outWidth)
        let scratch = Floats(variant.scratchCount(B: 1, T: 1024))
        let io = AttentionIO(
            B: 1, T: T, qkv: qkv.p, x: x.p, out: out.p, params: params.p, saved: saved.p, scratch: scratch.p,
            savedCapacity: long)
        variant.forward(io)
        let dqkv = Floats(qkv.count)
        let dx = Floats(x.count)
        let dp = Floats(params.count)
        let dout = Floats(normal: out.count, rng: &rng)
        variant.backward(io, AttentionGrads(dout: dout.p, dqkv: dqkv.p, dx: dx.p, dparams: dp.p))
        #expect((long..<saved.count).allSatisfy { saved[$0] == sentinel }, "wrote past savedCapacity")
        // and the result is what a T = 64 buffer of its own gives
        let own = Floats(short)
        let io2 = AttentionIO(
            B: 1, T: T, qkv: qkv.p, x: x.p, out: out.p, params: params.p, saved: own.p, scratch: scratch.p)
        let out1 = out.array
        let dqkv2 = Floats(qkv.count)
        let dx2 = Floats(x.count)
        let dp2 = Floats(params.count)
        variant.forward(io2)
        variant.backward(io2, AttentionGrads(dout: dout.p, dqkv: dqkv2.p, dx: dx2.p, dparams: dp2.p))
        #expect(maxRelativeError(out1 + dqkv.array, out.array + dqkv2.array) < 1e-5)
    }
}

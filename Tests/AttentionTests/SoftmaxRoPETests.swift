// softmax_rope: golden vectors from numpy, the tiled BLAS path against the naive loop oracle on
// odd shapes and tile sizes, GQA == MHA with repeated kv heads, option errors.
import Attention
import Foundation
import Kernels
import TestSupport
import Testing

struct SoftmaxRoPETests {
    static let golden: [String: GoldenCase] = {
        let url = Bundle.module.url(
            forResource: "attention", withExtension: "json", subdirectory: "Golden")!
        return try! Golden.load(url)
    }()

    @Test(arguments: ["mha", "gqa_offset", "mqa"])
    func golden(name: String) throws {
        let g = Self.golden[name]!
        let h = try Harness(
            "softmax_rope", B: g.dim("B"), T: g.dim("T"), NH: g.dim("NH"),
            NKV: g.dim("NKV"), hs: g.dim("hs"), pos0: g.dim("pos0"),
            options: ["tile": .int(3)])
        h.qkv.p.update(from: g.floats("qkv").p, count: h.qkv.count)
        let (dqkv, _, _) = h.gradients(dout: g.floats("dout"))
        #expect(scaledError(h.out.p, g.values("out")) < 1e-5)
        #expect(scaledError(dqkv.p, g.values("dqkv")) < 1e-5)
    }

    @Test(arguments: [(1, 1), (5, 2), (64, 64), (7, 1000), (100, 40), (50, 17)])
    func tiledMatchesNaive(shape: (Int, Int)) throws {
        let (T, tile) = shape
        let h = try Harness(
            "softmax_rope", B: 2, T: T, NH: 6, NKV: 2, hs: 6, pos0: 2,
            options: ["tile": .int(tile)], seed: UInt64(T))
        var rng = TestRandom(seed: 3)
        let dout = Floats(normal: h.out.count, rng: &rng)
        let (dqkv, _, _) = h.gradients(dout: dout)
        let ref = NaiveSoftmaxRoPE.run(
            qkv: h.qkv.array, dout: dout.array, B: 2, T: T, NH: 6, NKV: 2,
            hs: 6, pos0: 2)
        #expect(scaledError(h.out.p, ref.out) < 1e-5)
        #expect(scaledError(dqkv.p, ref.dqkv) < 1e-5)
    }

    /// Backward reuses the probabilities forward kept (probs_cache_mib > 0) or recomputes them
    /// (0): the same outputs and gradients either way, with and without a window.
    @Test(arguments: [0, 7])
    func keptProbabilitiesMatchRecomputed(window: Int) throws {
        var results: [[Float]] = []
        for mib in [64, 0] {
            let h = try Harness(
                "softmax_rope", B: 2, T: 37, NH: 4, NKV: 2, hs: 6, pos0: 1,
                options: ["tile": .int(5), "window": .int(window), "probs_cache_mib": .int(mib)], seed: 4)
            #expect((h.variant as? SoftmaxRoPE)?.cachesProbabilities(B: 2, T: 37) == (mib > 0))
            var rng = TestRandom(seed: 6)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, _, _) = h.gradients(dout: dout)
            results.append(h.out.array + dqkv.array)
        }
        #expect(maxRelativeError(results[0], results[1]) < 1e-5)
        // a budget too small for the tiles falls back to recomputing
        let shape = AttentionShape(heads: 8, kvHeads: 8, headSize: 64, channels: 512, context: 4096)
        let v = try #require(
            try AttentionRegistry.make(AttentionConfig(options: ["probs_cache_mib": .int(1)]), shape: shape)
                as? SoftmaxRoPE)
        #expect(v.cachesProbabilities(B: 1, T: 64))
        #expect(!v.cachesProbabilities(B: 1, T: 4096))
        #expect(throws: AttentionError.self) {
            try AttentionRegistry.make(AttentionConfig(options: ["probs_cache_mib": .int(-1)]), shape: shape)
        }
    }

    @Test func groupedEqualsMultiHeadWithRepeatedKV() throws {
        let (B, T, NH, NKV, hs) = (2, 5, 4, 2, 4)
        let gqa = try Harness("softmax_rope", B: B, T: T, NH: NH, NKV: NKV, hs: hs)
        let mha = try Harness("softmax_rope", B: B, T: T, NH: NH, NKV: NH, hs: hs)
        let (Wg, Wm) = (gqa.shape.qkvWidth, mha.shape.qkvWidth)
        for r in 0..<B * T {
            let src = gqa.qkv.p + r * Wg
            let dst = mha.qkv.p + r * Wm
            dst.update(from: src, count: NH * hs)
            for h in 0..<NH {
                let g = h / (NH / NKV)
                (dst + (NH + h) * hs).update(from: src + (NH + g) * hs, count: hs)
                (dst + (2 * NH + h) * hs).update(from: src + (NH + NKV + g) * hs, count: hs)
            }
        }
        var rng = TestRandom(seed: 8)
        let dout = Floats(normal: gqa.out.count, rng: &rng)
        let (dg, _, _) = gqa.gradients(dout: dout)
        let (dm, _, _) = mha.gradients(dout: dout)
        #expect(scaledError(gqa.out.p, mha.out.p, gqa.out.count) < 1e-6)
        // dK, dV of a kv head = the sum over the query heads of its group
        for r in 0..<B * T {
            for h in 0..<NH {
                for d in 0..<hs {
                    #expect(abs(dg[r * Wg + h * hs + d] - dm[r * Wm + h * hs + d]) < 1e-5)
                }
            }
            for g in 0..<NKV {
                for d in 0..<hs {
                    for (gOff, mOff) in [(NH, NH), (NH + NKV, 2 * NH)] {
                        let sum = (0..<NH / NKV).reduce(Float(0)) {
                            $0 + dm[r * Wm + (mOff + g * (NH / NKV) + $1) * hs + d]
                        }
                        #expect(abs(dg[r * Wg + (gOff + g) * hs + d] - sum) < 1e-5)
                    }
                }
            }
        }
    }

    @Test func optionsAreChecked() {
        let shape = AttentionShape(heads: 2, kvHeads: 1, headSize: 4, channels: 8, context: 8)
        #expect(throws: AttentionError.self) {
            try AttentionRegistry.make(
                AttentionConfig(options: ["rope_bse": .double(500)]), shape: shape)
        }
        #expect(throws: AttentionError.self) {
            try AttentionRegistry.make(
                AttentionConfig(options: ["rope_base": .string("x")]), shape: shape)
        }
        #expect(throws: AttentionError.self) {
            try AttentionRegistry.make(AttentionConfig(variant: "nope"), shape: shape)
        }
        let odd = AttentionShape(heads: 3, kvHeads: 2, headSize: 4, channels: 12, context: 8)
        #expect(throws: AttentionError.self) {
            try AttentionRegistry.make(AttentionConfig(), shape: odd)
        }
        let made = try? AttentionRegistry.make(
            AttentionConfig(options: ["rope_base": .int(500)]), shape: shape)
        #expect((made as? SoftmaxRoPE)?.ropeBase == 500)
    }

    @Test func configDecodesWithDefaults() throws {
        let empty = try JSONDecoder().decode(AttentionConfig.self, from: Data("{}".utf8))
        #expect(empty == AttentionConfig())
        let json =
            #"{"variant":"softmax_rope","options":{"rope_base":500000,"flag":true,"x":1.5,"s":"a"}}"#
        let c = try JSONDecoder().decode(AttentionConfig.self, from: Data(json.utf8))
        #expect(
            c.options == [
                "rope_base": .int(500000), "flag": .bool(true), "x": .double(1.5),
                "s": .string("a"),
            ])
        let again = try JSONDecoder().decode(AttentionConfig.self, from: JSONEncoder().encode(c))
        #expect(again == c)
    }
}

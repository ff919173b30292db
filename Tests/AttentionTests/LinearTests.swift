// linear (Katharopoulos et al. 2020): the layer over several chunks against the quadratic Double
// oracle (the golden files stay within T <= 9), every chunk size the same numbers, an O(1) decode
// state, and the chunk option's error.
import Attention
import Basics
import Foundation
import Kernels
import TestSupport
import Testing

struct LinearTests {
    @Test(arguments: [(4, 2), (3, 1)])
    func layerEqualsTheQuadraticOracleAcrossChunks(NH: Int, NKV: Int) throws {
        let (B, T) = (2, 70)
        let h = try Harness("linear", B: B, T: T, NH: NH, NKV: NKV, hs: 8, options: ["chunk": .int(16)])
        var rng = TestRandom(seed: 12)
        let dout = Floats(normal: h.out.count, rng: &rng)
        let (dqkv, _, _) = h.gradients(dout: dout)
        let ref = NaiveLinear.run(qkv: h.qkv.array, dout: dout.array, B: B, T: T, shape: h.shape)
        #expect(relativeError(h.out.array, ref.out) < 1e-5)
        #expect(relativeError(dqkv.array, ref.dqkv) < 1e-4)
    }

    @Test func everyChunkSizeGivesTheSameNumbers() throws {
        var results: [[Float]] = []
        for chunk in [64, 7, 3, 1] {
            let h = try Harness("linear", B: 2, T: 23, NH: 4, NKV: 2, hs: 6, options: ["chunk": .int(chunk)])
            var rng = TestRandom(seed: 4)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, _, _) = h.gradients(dout: dout)
            results.append(h.out.array + dqkv.array)
        }
        for r in results.dropFirst() {
            #expect(relativeError(r, results[0].map(Double.init)) < 1e-5)
        }
    }

    @Test func decodeStateDoesNotGrowWithTheSequence() throws {
        let h = try Harness("linear", B: 1, T: 40, NH: 4, NKV: 2, hs: 8, pos0: 0)
        #expect(h.variant.cacheCount(maxTokens: 10) == h.variant.cacheCount(maxTokens: 100_000))
        #expect(h.variant.cacheCount(maxTokens: 1) == 2 * 9 * 8)
        #expect(h.decodeError() < 1e-5)
    }

    @Test func chunkMustBePositive() {
        let shape = AttentionShape(heads: 2, kvHeads: 1, headSize: 4, channels: 8, context: 8)
        let error = #expect(throws: AttentionError.self) {
            try AttentionRegistry.make(AttentionConfig(variant: "linear", options: ["chunk": .int(0)]), shape: shape)
        }
        #expect(error?.description.contains("chunk") == true)
    }
}

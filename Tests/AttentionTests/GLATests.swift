// gla (Yang et al. 2024): the layer over several chunks and sub-chunks against the quadratic Double
// oracle, with ordinary gates and with decays so strong that the factored intra-chunk scores would
// overflow (the pairwise fallback), every chunk size the same numbers, and an O(1) decode state.
import Attention
import Basics
import Foundation
import Kernels
import TestSupport
import Testing

struct GLATests {
    /// A gla harness whose gate bias is `bias` (about tau * log α per step when W1 W2 is small).
    static func harness(B: Int, T: Int, NH: Int, NKV: Int, chunk: Int, bias: Float) throws -> Harness {
        let h = try Harness("gla", B: B, T: T, NH: NH, NKV: NKV, hs: 8, options: ["chunk": .int(chunk)])
        let spec = try #require(h.variant.parameters.first { $0.name == "gate.bias" })
        for i in 0..<spec.count { h.params[spec.offset + i] += bias }
        return h
    }

    /// Gate biases 0 and -3 keep every chunk in one factored block, -30 needs the 16-row
    /// sub-chunks, -400 the pairwise diagonal.
    @Test(arguments: [(Float(0), 4, 2), (-3, 3, 1), (-30, 4, 1), (-400, 2, 2)])
    func layerEqualsTheQuadraticOracle(bias: Float, NH: Int, NKV: Int) throws {
        let (B, T) = (2, 45)
        let h = try Self.harness(B: B, T: T, NH: NH, NKV: NKV, chunk: 32, bias: bias)
        var rng = TestRandom(seed: 12)
        let dout = Floats(normal: h.out.count, rng: &rng)
        let (dqkv, _, _) = h.gradients(dout: dout)
        let ref = NaiveGLA.run(
            qkv: h.qkv.array, x: h.x.array, params: h.params.array, dout: dout.array, B: B, T: T, shape: h.shape,
            rank: 16, tau: 16)
        #expect(h.out.array.allSatisfy(\.isFinite) && dqkv.array.allSatisfy(\.isFinite))
        #expect(relativeError(h.out.array, ref.out) < 1e-5, "bias \(bias)")
        #expect(relativeError(dqkv.array, ref.dqkv) < 1e-4, "bias \(bias)")
    }

    @Test(arguments: [Float(0), -30, -400])
    func everyChunkSizeGivesTheSameNumbers(bias: Float) throws {
        var results: [[Float]] = []
        for chunk in [64, 20, 7, 1] {
            let h = try Self.harness(B: 2, T: 37, NH: 4, NKV: 2, chunk: chunk, bias: bias)
            var rng = TestRandom(seed: 4)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, dx, dp) = h.gradients(dout: dout)
            results.append(h.out.array + dqkv.array + dx.array + dp.array)
        }
        for r in results.dropFirst() {
            #expect(relativeError(r, results[0].map(Double.init)) < 1e-4)
        }
    }

    @Test func decodeStateDoesNotGrowWithTheSequence() throws {
        let h = try Self.harness(B: 1, T: 40, NH: 4, NKV: 2, chunk: 16, bias: -50)
        #expect(h.variant.cacheCount(maxTokens: 10) == h.variant.cacheCount(maxTokens: 100_000))
        #expect(h.decodeError() < 1e-5)
    }
}

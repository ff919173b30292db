// rela (golden vectors with the gain and its gradient: TensorInterfaceTests; gradients, decode,
// tiles, the kept weights: VariantTests and ProbsCacheTests): what is particular to it. The
// weights are exactly sparse (a query whose scores are all negative reads nothing and outputs 0,
// with finite gradients), the RMSNorm makes the output independent of the scale of v, the gain
// sets each head's output RMS, and decode equals forward far past the tile size without RoPE.
import Attention
import Basics
import Foundation
import Kernels
import TestSupport
import Testing

struct ReLATests {
    /// q = -k for every head: every score of the first token is -|k|²s < 0, so it reads nothing.
    @Test func aQueryWithOnlyNegativeScoresOutputsZero() throws {
        let h = try Harness("rela", B: 1, T: 1, NH: 2, NKV: 2, hs: 4, options: ["rope": .bool(false)])
        for d in 0..<2 * 4 { h.qkv[d] = -h.qkv[2 * 4 + d] }
        var rng = TestRandom(seed: 3)
        let dout = Floats(normal: h.out.count, rng: &rng)
        let (dqkv, _, dp) = h.gradients(dout: dout)
        #expect(h.out.array.allSatisfy { $0 == 0 })
        #expect(dqkv.array.allSatisfy { $0 == 0 } && dp.array.allSatisfy { $0 == 0 })
    }

    /// Multiplies every v of the harness by c.
    private func scaleV(_ h: Harness, by c: Float) {
        let (W, start) = (h.shape.qkvWidth, (h.shape.heads + h.shape.kvHeads) * h.shape.headSize)
        for r in 0..<h.B * h.T {
            for i in start..<W { h.qkv[r * W + i] *= c }
        }
    }

    /// Scaling every v by c > 0 scales O by c, which the norm removes (its epsilon 1e-5 in the root
    /// matters only where mean(O²) is small, so v is large here).
    @Test func outputIgnoresTheScaleOfV() throws {
        let a = try Harness("rela", B: 2, T: 9, NH: 4, NKV: 2, hs: 8, seed: 5)
        let b = try Harness("rela", B: 2, T: 9, NH: 4, NKV: 2, hs: 8, seed: 5)
        scaleV(a, by: 1000)
        scaleV(b, by: 7000)
        a.forward()
        b.forward()
        #expect(scaledError(a.out.p, b.out.p, a.out.count) < 1e-4)
    }

    /// With gain g_h = c (every entry), each head's output row has RMS c (v large, as above).
    @Test func theGainSetsTheRMS() throws {
        let (NH, hs) = (3, 8)
        let h = try Harness("rela", B: 1, T: 6, NH: NH, NKV: 1, hs: hs, seed: 9)
        scaleV(h, by: 1000)
        for head in 0..<NH { (h.params.p + head * hs).update(repeating: Float(head + 1), count: hs) }
        h.forward()
        var rows = 0
        for t in 0..<6 {
            for head in 0..<NH {
                let row = h.out.p + t * NH * hs + head * hs
                let rms = (dot(row, row, hs) / Float(hs)).squareRoot()
                guard rms > 0 else { continue }  // a row whose scores were all negative
                rows += 1
                #expect(abs(rms - Float(head + 1)) < 1e-3 * Float(head + 1), "t=\(t) head=\(head) rms \(rms)")
            }
        }
        #expect(rows > 6)
    }

    @Test func decodeMatchesForwardPastTheTile() throws {
        for rope in [true, false] {
            let h = try Harness(
                "rela", B: 1, T: 70, NH: 4, NKV: 2, hs: 8, options: ["rope": .bool(rope), "tile": .int(16)])
            #expect(h.decodeError() < 1e-5, "rope \(rope)")
        }
    }

    @Test func initialGainIsOne() throws {
        let h = try Harness("rela", B: 1, T: 2, NH: 2, NKV: 1, hs: 4)
        let fresh = Floats(h.params.count)
        var rng = SplitMix64(seed: 1)
        h.variant.initialize(params: fresh.p, rng: &rng)
        #expect(h.variant.parameters.map(\.name) == ["norm.weight"])
        #expect(fresh.array == [Float](repeating: 1, count: 8))
    }
}

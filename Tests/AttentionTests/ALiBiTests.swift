// alibi (golden vectors: TensorInterfaceTests, alibi-h4, -h3, -gqa, -t1): the slopes of §1h for
// H = 1, 3, 6, 8, the tiled path against the naive oracle, and invariance to pos0 (the bias
// depends on i - j only).
import Attention
import Foundation
import Kernels
import TestSupport
import Testing

struct ALiBiTests {
    @Test func slopes() {
        let expected: [Int: [Double]] = [
            8: (1...8).map { pow(2, -Double($0)) },
            6: [0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125],
            4: [0.25, 0.0625, 0.015625, 0.00390625],
            3: [0.0625, 0.00390625, 0.25],
            1: [0.00390625],
        ]
        for (H, slopes) in expected { #expect(ALiBi.slopes(heads: H) == slopes, "H=\(H)") }
    }

    @Test(arguments: [(1, 1), (5, 2), (13, 4), (30, 64), (70, 32)])
    func tiledMatchesNaive(T: Int, tile: Int) throws {
        for (NH, NKV) in [(6, 2), (3, 3), (5, 1)] {
            let h = try Harness(
                "alibi", B: 2, T: T, NH: NH, NKV: NKV, hs: 4, pos0: 7,
                options: ["tile": .int(tile)], seed: UInt64(T))
            var rng = TestRandom(seed: 3)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let spec = NaiveBiasedAttention.Spec(slopes: ALiBi.slopes(heads: NH))
            let (out, dqkv, _, _) = errors(h, dout: dout, against: h.naive(spec, dout: dout))
            #expect(out < 1e-5 && dqkv < 1e-5, "NH=\(NH) out \(out) dqkv \(dqkv)")
        }
    }

    @Test func positionOffsetDoesNotMatter() throws {
        let a = try Harness("alibi", B: 1, T: 9, NH: 4, NKV: 2, hs: 4, pos0: 0)
        let b = try Harness("alibi", B: 1, T: 9, NH: 4, NKV: 2, hs: 4, pos0: 100)
        a.forward()
        b.forward()
        #expect(a.out.array == b.out.array)
    }
}

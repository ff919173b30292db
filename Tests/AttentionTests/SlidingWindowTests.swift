// softmax_rope's "window" option (sliding-window attention, attention.md §2.3 T1): gradients
// against central differences, token-by-token decode equal to the parallel forward, each query
// equal to full attention over just its window (RoPE is relative, so positions shift freely), and
// a window as long as the sequence equal to no window at all.
import Attention
import Foundation
import Kernels
import TestSupport
import Testing

struct SlidingWindowTests {
    static let cases: [(window: Int, tile: Int)] = [(1, 4), (3, 2), (4, 64), (5, 3)]

    @Test(arguments: cases)
    func gradientCheck(window: Int, tile: Int) throws {
        for (NH, NKV) in [(2, 2), (4, 2)] {
            let h = try Harness(
                "softmax_rope", B: 2, T: 11, NH: NH, NKV: NKV, hs: 4, pos0: 3,
                options: ["window": .int(window), "tile": .int(tile)])
            var rng = TestRandom(seed: 7)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, _, _) = h.gradients(dout: dout)
            let error = GradientCheck.maxError(
                of: h.qkv.p, count: h.qkv.count, analytic: dqkv.p, eps: 1e-2, samples: 120,
                precise: true, loss: { h.loss(dout) })
            #expect(error < 2e-3, "W=\(window) tile=\(tile) NH=\(NH) NKV=\(NKV): \(error)")
        }
    }

    @Test(arguments: cases)
    func decodeEqualsForward(window: Int, tile: Int) throws {
        let h = try Harness(
            "softmax_rope", B: 1, T: 13, NH: 4, NKV: 2, hs: 4,
            options: ["window": .int(window), "tile": .int(tile)])
        #expect(h.decodeError() < 1e-5)
    }

    @Test func eachQueryIsFullAttentionOverItsWindow() throws {
        let (T, W, NH, hs) = (12, 4, 2, 4)
        let h = try Harness(
            "softmax_rope", B: 1, T: T, NH: NH, NKV: NH, hs: hs, options: ["window": .int(W), "tile": .int(5)])
        h.forward()
        let width = h.shape.qkvWidth
        let outWidth = h.shape.outWidth
        for i in 0..<T {
            let start = max(0, i - W + 1)
            let n = i - start + 1
            let full = try Harness("softmax_rope", B: 1, T: n, NH: NH, NKV: NH, hs: hs, pos0: start)
            full.qkv.p.update(from: h.qkv.p + start * width, count: n * width)
            full.forward()
            let err = scaledError(h.out.p + i * outWidth, full.out.p + (n - 1) * outWidth, outWidth)
            #expect(err < 1e-5, "query \(i): \(err)")
        }
    }

    @Test func windowAsLongAsTheSequenceIsFullAttention() throws {
        let a = try Harness("softmax_rope", B: 2, T: 9, NH: 2, NKV: 1, hs: 4, options: ["window": .int(9)])
        let b = try Harness("softmax_rope", B: 2, T: 9, NH: 2, NKV: 1, hs: 4)
        a.forward()
        b.forward()
        #expect(a.out.array == b.out.array)
        #expect(throws: (any Error).self) {
            try Harness("softmax_rope", B: 1, T: 2, NH: 1, NKV: 1, hs: 4, options: ["window": .int(-1)])
        }
    }
}

// sinks (StreamingLLM's attention sinks): gradients against central differences where the sinks
// and the window split a tile, decode with a cache of S + W rows equal to the parallel forward far
// past the cache (3 (S + W) tokens), each query equal to full softmax_rope over the keys in its
// rolling cache at positions 0..n-1 within it (the paper's form), S = 0 equal to softmax_rope's
// sliding window, and the tile size and the kept weights changing nothing.
import Attention
import Basics
import Foundation
import Kernels
import TestSupport
import Testing

struct SinksTests {
    static let cases: [(sinks: Int, window: Int, tile: Int)] = [(2, 3, 2), (1, 1, 4), (3, 2, 64), (0, 3, 3), (4, 2, 5)]

    static func options(_ c: (sinks: Int, window: Int, tile: Int)) -> [String: ConfigValue] {
        ["sinks": .int(c.sinks), "window": .int(c.window), "tile": .int(c.tile)]
    }

    @Test(arguments: cases)
    func gradientCheck(sinks: Int, window: Int, tile: Int) throws {
        for (NH, NKV) in [(2, 2), (4, 2), (3, 1)] {
            let h = try Harness(
                "sinks", B: 2, T: 11, NH: NH, NKV: NKV, hs: 4, pos0: 3, options: Self.options((sinks, window, tile)))
            var rng = TestRandom(seed: 7)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, _, _) = h.gradients(dout: dout)
            let error = GradientCheck.maxError(
                of: h.qkv.p, count: h.qkv.count, analytic: dqkv.p, eps: 1e-2, samples: 120, precise: true,
                loss: { h.loss(dout) })
            #expect(error < 2e-3, "S=\(sinks) W=\(window) tile=\(tile) NH=\(NH) NKV=\(NKV): \(error)")
        }
    }

    /// Three times the cache's length: the ring buffer wraps twice and the sinks' rotation is
    /// clamped for most of the sequence; the cache holds S + W rows only.
    @Test(arguments: cases)
    func decodeFarPastTheCacheEqualsForward(sinks: Int, window: Int, tile: Int) throws {
        let T = 3 * (sinks + window) + 2
        for (NH, NKV) in [(4, 2), (2, 2)] {
            let h = try Harness(
                "sinks", B: 1, T: T, NH: NH, NKV: NKV, hs: 8, options: Self.options((sinks, window, tile)))
            #expect(h.variant.cacheCount(maxTokens: T) == (sinks + window) * 2 * NKV * 8)
            #expect(h.decodeError() < 1e-5, "S=\(sinks) W=\(window) NH=\(NH) NKV=\(NKV)")
        }
    }

    /// StreamingLLM's definition: query i attends to the keys in its cache (sinks, then the
    /// window) with positions 0..n-1 within it, i.e. full causal softmax_rope over those n tokens.
    @Test func eachQueryIsSoftmaxOverItsCacheAtCachePositions() throws {
        let (T, S, W, NH, hs) = (20, 3, 4, 2, 4)
        let h = try Harness(
            "sinks", B: 1, T: T, NH: NH, NKV: NH, hs: hs, pos0: 5,
            options: ["sinks": .int(S), "window": .int(W), "tile": .int(3)])
        h.forward()
        let (width, outWidth) = (h.shape.qkvWidth, h.shape.outWidth)
        for i in 0..<T {
            let keys = (0...i).filter { $0 < S || $0 > i - W }
            let full = try Harness("softmax_rope", B: 1, T: keys.count, NH: NH, NKV: NH, hs: hs)
            for (row, j) in keys.enumerated() {
                (full.qkv.p + row * width).update(from: h.qkv.p + j * width, count: width)
            }
            full.forward()
            let err = scaledError(h.out.p + i * outWidth, full.out.p + (keys.count - 1) * outWidth, outWidth)
            #expect(err < 1e-5, "query \(i): \(err)")
        }
    }

    @Test func noSinksIsASlidingWindow() throws {
        let a = try Harness("sinks", B: 2, T: 13, NH: 4, NKV: 2, hs: 4, options: ["sinks": .int(0), "window": .int(4)])
        let b = try Harness("softmax_rope", B: 2, T: 13, NH: 4, NKV: 2, hs: 4, options: ["window": .int(4)])
        var rng = TestRandom(seed: 2)
        let dout = Floats(normal: a.out.count, rng: &rng)
        let (da, _, _) = a.gradients(dout: dout)
        let (db, _, _) = b.gradients(dout: dout)
        #expect(maxRelativeError(a.out.array + da.array, b.out.array + db.array) < 1e-6)
    }

    /// Tiles that start inside the sinks, straddle them or start past the window: the same numbers,
    /// with the weights kept for backward or recomputed.
    @Test func tileAndKeptWeightsChangeNothing() throws {
        var results: [[Float]] = []
        for (tile, mib) in [(64, 64), (1, 64), (3, 0), (7, 64), (7, 0)] {
            let h = try Harness(
                "sinks", B: 2, T: 29, NH: 4, NKV: 2, hs: 6, pos0: 3,
                options: ["sinks": .int(3), "window": .int(5), "tile": .int(tile), "probs_cache_mib": .int(mib)])
            var rng = TestRandom(seed: 4)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, _, _) = h.gradients(dout: dout)
            results.append(h.out.array + dqkv.array)
        }
        for r in results.dropFirst() { #expect(maxRelativeError(r, results[0]) < 1e-5) }
    }

    @Test func optionsAreChecked() throws {
        for bad: [String: ConfigValue] in [["window": .int(0)], ["sinks": .int(-1)]] {
            #expect(throws: AttentionError.self) {
                try Harness("sinks", B: 1, T: 2, NH: 1, NKV: 1, hs: 4, options: bad)
            }
        }
        let odd = #expect(throws: AttentionError.self) { try Harness("sinks", B: 1, T: 2, NH: 1, NKV: 1, hs: 3) }
        #expect(odd?.description.contains("even") == true)
    }
}

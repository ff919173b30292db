// infini (Munkhdalai et al. 2024): the generic tests run at the default segment of 64, longer
// than their sequences, so the memory is exercised here with short segments: gradients through
// the memory (with and without the delta rule), decode across segment boundaries, every tile
// size the same numbers, a single segment being (1 - sigmoid(β)) times softmax_nope, a decode
// cache that stops growing at one segment, and the option's error.
import Attention
import Basics
import Foundation
import Kernels
import TestSupport
import Testing

struct InfiniTests {
    static let modes: [[String: ConfigValue]] = [
        ["segment": .int(2)], ["segment": .int(3), "delta_rule": .bool(true)],
        ["segment": .int(2), "delta_rule": .bool(true), "tile": .int(3)],
    ]

    @Test(arguments: modes)
    func gradientsThroughTheMemory(options: [String: ConfigValue]) throws {
        for (NH, NKV) in VariantTests.headLayouts {
            let h = try Harness("infini", B: 2, T: 8, NH: NH, NKV: NKV, hs: 4, options: options)
            var rng = TestRandom(seed: 31)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, _, dp) = h.gradients(dout: dout)
            let loss = { h.loss(dout) }
            #expect(
                GradientCheck.maxError(
                    of: h.qkv.p, count: h.qkv.count, analytic: dqkv.p, eps: 1e-2, samples: 120, precise: true,
                    kinkEps: 2.5e-3, loss: loss) < 2e-3, "dqkv NH=\(NH) NKV=\(NKV) \(options)")
            #expect(
                GradientCheck.maxError(
                    of: h.params.p, count: h.params.count, analytic: dp.p, eps: 3e-2, precise: true,
                    kinkEps: 2.5e-3, loss: loss) < 2e-3, "dgate.beta \(options)")
        }
    }

    @Test(arguments: modes)
    func decodeAcrossSegmentBoundaries(options: [String: ConfigValue]) throws {
        for (NH, NKV, pos0) in [(2, 2, 0), (4, 1, 0), (4, 2, 37)] {
            let h = try Harness("infini", B: 1, T: 13, NH: NH, NKV: NKV, hs: 8, pos0: pos0, options: options)
            #expect(h.decodeError() < 1e-5, "NH=\(NH) NKV=\(NKV) pos0=\(pos0) \(options)")
        }
    }

    @Test func everyTileSizeGivesTheSameNumbers() throws {
        var results: [[Float]] = []
        for tile in [64, 5, 2, 1] {
            let options: [String: ConfigValue] = ["segment": .int(4), "delta_rule": .bool(true), "tile": .int(tile)]
            let h = try Harness("infini", B: 2, T: 19, NH: 4, NKV: 2, hs: 6, options: options)
            var rng = TestRandom(seed: 8)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, _, dp) = h.gradients(dout: dout)
            results.append(h.out.array + dqkv.array + dp.array)
        }
        for r in results.dropFirst() { #expect(relativeError(r, results[0].map(Double.init)) < 1e-5) }
    }

    /// Within the first segment the memory is empty: out = (1 - sigmoid(β_h)) softmax_nope.
    @Test func oneSegmentIsTheGatedLocalSoftmax() throws {
        let (T, NH, hs) = (11, 4, 8)
        let infini = try Harness("infini", B: 1, T: T, NH: NH, NKV: 2, hs: hs, options: ["segment": .int(16)])
        let nope = try Harness("softmax_nope", B: 1, T: T, NH: NH, NKV: 2, hs: hs)
        nope.qkv.p.update(from: infini.qkv.p, count: infini.qkv.count)
        infini.forward()
        nope.forward()
        var want = [Double]()
        for t in 0..<T {
            for h in 0..<NH {
                let g = 1 / (1 + exp(-Double(infini.params[h])))
                for c in 0..<hs { want.append((1 - g) * Double(nope.out[(t * NH + h) * hs + c])) }
            }
        }
        #expect(relativeError(infini.out.array, want) < 1e-5)
    }

    @Test func decodeCacheStopsGrowingAtOneSegment() throws {
        let h = try Harness("infini", B: 1, T: 9, NH: 4, NKV: 2, hs: 8, options: ["segment": .int(4)])
        let (state, row) = (2 * 8 * 9, 2 * 2 * 8)
        #expect(h.variant.cacheCount(maxTokens: 3) == state + 3 * row)
        #expect(h.variant.cacheCount(maxTokens: 100_000) == state + 4 * row)
        #expect(h.decodeError() < 1e-5)
    }

    @Test func segmentMustBePositive() {
        let shape = AttentionShape(heads: 2, kvHeads: 1, headSize: 4, channels: 8, context: 8)
        let error = #expect(throws: AttentionError.self) {
            try AttentionRegistry.make(AttentionConfig(variant: "infini", options: ["segment": .int(0)]), shape: shape)
        }
        #expect(error?.description.contains("segment") == true)
    }
}

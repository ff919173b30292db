// softmax_nope (golden vectors: TensorInterfaceTests): the tiled path against the naive oracle
// (odd shapes, tiles, pos0, length_scale beyond the training context), length_scale is the
// identity inside the training context, option errors.
import Attention
import Foundation
import Kernels
import TestSupport
import Testing

struct SoftmaxNoPETests {
    @Test(arguments: [(1, 1, false), (5, 2, false), (13, 4, false), (9, 2, true), (20, 64, true)])
    func tiledMatchesNaive(T: Int, tile: Int, lengthScale: Bool) throws {
        let context = 4
        let h = try Harness(
            "softmax_nope", B: 2, T: T, NH: 6, NKV: 2, hs: 6, pos0: 3,
            options: ["tile": .int(tile), "length_scale": .bool(lengthScale)], seed: UInt64(T),
            context: context)
        var rng = TestRandom(seed: 3)
        let dout = Floats(normal: h.out.count, rng: &rng)
        var spec = NaiveBiasedAttention.Spec()
        if lengthScale { spec.lengthScale = { max(1, log(Double($0 + 1)) / log(Double(context))) } }
        let (out, dqkv, _, _) = errors(h, dout: dout, against: h.naive(spec, dout: dout))
        #expect(out < 1e-5 && dqkv < 1e-5, "out \(out) dqkv \(dqkv)")
    }

    @Test func lengthScaleIsIdentityInsideTrainingContext() throws {
        let plain = try Harness(
            "softmax_nope", B: 1, T: 8, NH: 2, NKV: 1, hs: 4, pos0: 2, context: 10)
        let scaled = try Harness(
            "softmax_nope", B: 1, T: 8, NH: 2, NKV: 1, hs: 4, pos0: 2,
            options: ["length_scale": .bool(true)], context: 10)
        plain.forward()
        scaled.forward()
        #expect(plain.out.array == scaled.out.array)
        let beyond = try Harness(
            "softmax_nope", B: 1, T: 8, NH: 2, NKV: 1, hs: 4, pos0: 2,
            options: ["length_scale": .bool(true)], context: 4)
        beyond.forward()
        #expect(beyond.out.array != plain.out.array)
    }

    @Test func lengthScaleDecodeMatchesForward() throws {
        let h = try Harness(
            "softmax_nope", B: 1, T: 12, NH: 4, NKV: 2, hs: 8,
            options: ["length_scale": .bool(true)], context: 3)
        #expect(h.decodeError() < 1e-5)
    }

    @Test func optionsAreChecked() {
        let shape = AttentionShape(heads: 2, kvHeads: 1, headSize: 4, channels: 8, context: 8)
        #expect(throws: AttentionError.self) {
            try AttentionRegistry.make(
                AttentionConfig(variant: "softmax_nope", options: ["rope_base": .int(10)]),
                shape: shape)
        }
        #expect(throws: AttentionError.self) {
            try AttentionRegistry.make(
                AttentionConfig(variant: "softmax_nope", options: ["length_scale": .int(1)]),
                shape: shape)
        }
        let made = try? AttentionRegistry.make(
            AttentionConfig(variant: "softmax_nope"), shape: shape)
        #expect((made as? SoftmaxNoPE)?.lengthScale == false)
    }
}

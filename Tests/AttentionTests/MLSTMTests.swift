// mlstm (golden vectors with dx and the gates' gradients: TensorInterfaceTests; finite differences,
// decode == forward at T = 10, GQA, chunk sizes 64/3/1: VariantTests): its three forms agree (the
// chunkwise training form for several chunk sizes, the recurrent decode, the quadratic oracle) at
// lengths past several chunks and with gates that push the stabiliser far from 0 either way; the
// max(|n·q|, exp(-m)) bound: tiny input gates give a tiny output (it does not normalise), huge ones
// a normalised one; the official initialisation; a decode state that does not grow with T.
import Attention
import Basics
import Foundation
import Kernels
import TestSupport
import Testing

struct MLSTMTests {
    /// max |a - b| / max |b| (no floor: outputs of e^-20 are compared at their own scale).
    private func relative(_ a: [Float], _ b: [Double]) -> Double {
        zip(a, b).map { abs(Double($0) - $1) }.max()! / max(b.map(abs).max()!, 1e-300)
    }

    private func harness(T: Int, tile: Int, inputBias: Float, forgetBias: Float) throws -> Harness {
        let h = try Harness("mlstm", B: 2, T: T, NH: 4, NKV: 2, hs: 8, options: ["tile": .int(tile)], seed: UInt64(T))
        // q·k > 0 everywhere, so n·q never cancels to near 0 (where out = C q / |n·q| is as
        // ill-conditioned as the division: Float and Double would differ by far more than rounding)
        let W = h.shape.qkvWidth
        for r in 0..<2 * T {
            for i in 0..<(4 + 2) * 8 { h.qkv[r * W + i] = abs(h.qkv[r * W + i]) }
        }
        let bias = h.params.p + 2 * 4 * h.shape.channels
        for i in 0..<4 {
            bias[i] += inputBias
            bias[4 + i] += forgetBias
        }
        return h
    }

    @Test(arguments: [(1, 64), (37, 8), (150, 16), (130, 64)])
    func chunkwiseRecurrentAndQuadraticAgree(T: Int, tile: Int) throws {
        for (inputBias, forgetBias): (Float, Float) in [(0, 0), (6, -4), (-6, 3), (20, 0), (-20, 0)] {
            let h = try harness(T: T, tile: tile, inputBias: inputBias, forgetBias: forgetBias)
            h.forward()
            let width = T * h.shape.outWidth
            for b in 0..<2 {
                let want = NaiveMLSTM.sequence(
                    qkv: h.qkv.array, x: h.x.array, params: h.params.array, b: b, T: T, NH: 4, NKV: 2, hs: 8,
                    C: h.shape.channels)
                let got = Array(h.out.array[(b * width)..<((b + 1) * width)])
                #expect(relative(got, want) < 2e-5, "T=\(T) tile=\(tile) gates \(inputBias), \(forgetBias) b=\(b)")
                if b == 0 {
                    #expect(relative(h.decodeAll().array, want) < 2e-5, "decode, gates \(inputBias), \(forgetBias)")
                }
            }
        }
    }

    /// Unstabilised, out = C q / max(|n·q|, 1): with log i = -20 every |n·q| is far below 1, so the
    /// output is the raw memory read, of order e^-20; with log i = +20 it is normalised: a weighted
    /// mean of the v's here (every q·k > 0), so of their order.
    @Test func theBoundDoesNotNormaliseSmallMemories() throws {
        let tiny = try harness(T: 12, tile: 4, inputBias: -20, forgetBias: 0)
        let huge = try harness(T: 12, tile: 4, inputBias: 20, forgetBias: 0)
        tiny.forward()
        huge.forward()
        let (small, large) = (tiny.out.array.map(abs).max()!, huge.out.array.map(abs).max()!)
        #expect(small > 0 && small < 1e-6, "\(small)")
        #expect(large > 0.1 && large < 100, "\(large)")
    }

    @Test func initialisationFollowsTheOfficialCode() throws {
        let shape = AttentionShape(heads: 4, kvHeads: 1, headSize: 8, channels: 6, context: 16)
        let layer = try AttentionRegistry.make(AttentionConfig(variant: "mlstm"), shape: shape)
        #expect(layer.parameters.map(\.name) == ["igate.weight", "fgate.weight", "igate.bias", "fgate.bias"])
        let params = Floats(layer.parameterCount, value: 7)
        var rng = SplitMix64(seed: 3)
        layer.initialize(params: params.p, rng: &rng)
        let p = params.array
        #expect(p[..<(2 * 4 * 6)].allSatisfy { $0 == 0 })
        let inputBias = p[48..<52]
        #expect(inputBias.allSatisfy { abs($0) < 0.5 } && Set(inputBias).count == 4)
        #expect(Array(p[52..<56]) == [3, 4, 5, 6])
    }

    @Test func decodeStateDoesNotGrowWithLength() throws {
        let h = try Harness("mlstm", B: 1, T: 3, NH: 4, NKV: 1, hs: 8)
        #expect(h.variant.cacheCount(maxTokens: 16) == h.variant.cacheCount(maxTokens: 1 << 20))
        #expect(h.variant.cacheCount(maxTokens: 16) == 4 * (8 * 8 + 8 + 2))
    }

    @Test func theInterfaceSaysWhichGatesItNeeds() throws {
        let one = TensorValue(shape: [1, 2, 2], values: [1, 2, 3, 4])
        let error = #expect(throws: AttentionError.self) {
            try TensorInterface.run(variant: "mlstm", TensorInput(tensors: ["q": one, "k": one, "v": one]))
        }
        #expect(error?.description.contains("igate.weight") == true)
        #expect(error?.description.contains("\"x\"") == true)
    }
}

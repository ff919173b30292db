// persistent (persistent memory, Sukhbaatar et al. 2019): the memory has no position (the map
// does not change when every position shifts), each query is softmax attention over [memory |
// its causal keys] (against softmax_rope on a sequence whose first N keys are the memory), decode
// at lengths well past the tile and several memory sizes, the paper's initialisation, and the
// errors for a missing memory tensor and an odd head size; and `tracker attention` inputs of
// both new variants (persistent's memory tensors, sinks' options), mutated, fail cleanly.
import Attention
import Basics
import Foundation
import Kernels
import TestSupport
import Testing

struct PersistentTests {
    /// RoPE scores depend on i - j only and the memory logits on no position at all.
    @Test func positionsShiftFreely() throws {
        var outs: [[Float]] = []
        for pos0 in [0, 37] {
            let h = try Harness(
                "persistent", B: 2, T: 9, NH: 4, NKV: 2, hs: 8, pos0: pos0,
                options: ["memory": .int(5), "tile": .int(4)])
            var rng = TestRandom(seed: 3)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, _, dp) = h.gradients(dout: dout)
            outs.append(h.out.array + dqkv.array + dp.array)
        }
        #expect(maxRelativeError(outs[0], outs[1]) < 1e-4)
    }

    /// One query with memory = unrotated softmax over [√hs K_n | its keys]: the same as
    /// softmax_nope on [memory; sequence] where the memory rows' values are √N V_n, for a
    /// sequence of length 1 (no rotation then matters: q and k are both at position 0).
    @Test func firstQueryIsSoftmaxOverMemoryAndItself() throws {
        let (N, hs, NH) = (3, 4, 2)
        let h = try Harness("persistent", B: 1, T: 1, NH: NH, NKV: NH, hs: hs, options: ["memory": .int(N)])
        h.forward()
        let W = h.shape.qkvWidth
        let nope = try Harness("softmax_nope", B: 1, T: N + 1, NH: NH, NKV: NH, hs: hs)
        let (keys, values) = (h.params.p, h.params.p + NH * N * hs)
        for n in 0..<N {  // memory row n: a "token" whose k, v are the memory's, its q unused
            for g in 0..<NH {
                for e in 0..<hs {
                    nope.qkv[n * W + (NH + g) * hs + e] = Float(hs).squareRoot() * keys[(g * N + n) * hs + e]
                    nope.qkv[n * W + (2 * NH + g) * hs + e] = Float(N).squareRoot() * values[(g * N + n) * hs + e]
                }
            }
        }
        (nope.qkv.p + N * W).update(from: h.qkv.p, count: W)
        nope.forward()
        #expect(scaledError(h.out.p, nope.out.p + N * h.shape.outWidth, h.shape.outWidth) < 1e-5)
    }

    @Test(arguments: [(1, 64), (16, 5), (7, 3)])
    func decodeEqualsForward(memory: Int, tile: Int) throws {
        for (NH, NKV) in [(4, 2), (3, 1)] {
            let h = try Harness(
                "persistent", B: 1, T: 23, NH: NH, NKV: NKV, hs: 8,
                options: ["memory": .int(memory), "tile": .int(tile)])
            #expect(h.decodeError() < 1e-5, "N=\(memory) NH=\(NH) NKV=\(NKV)")
        }
    }

    /// Keys N(0, 1/hs) and values N(0, 1/N), as the paper's code (used times √hs and √N).
    @Test func initialisationIsThePapers() throws {
        let (NKV, N, hs) = (4, 64, 16)
        let shape = AttentionShape(heads: 8, kvHeads: NKV, headSize: hs, channels: 32, context: 16)
        let variant = try AttentionRegistry.make(
            AttentionConfig(variant: "persistent", options: ["memory": .int(N)]), shape: shape)
        #expect(variant.parameters.map(\.name) == ["persistent.key", "persistent.value"])
        #expect(variant.parameters.map(\.shape) == [[NKV, N, hs], [NKV, N, hs]])
        let params = Floats(variant.parameterCount)
        var rng = SplitMix64(seed: 5)
        variant.initialize(params: params.p, rng: &rng)
        let n = NKV * N * hs
        func variance(_ range: Range<Int>) -> Double {
            range.reduce(0.0) { $0 + Double(params[$1] * params[$1]) } / Double(range.count)
        }
        // 4,096 samples each: the sample variance is within 10% of the true one (about 4.5 sd)
        #expect(abs(variance(0..<n) * Double(hs) - 1) < 0.1)
        #expect(abs(variance(n..<2 * n) * Double(N) - 1) < 0.1)
    }

    @Test func errorsSayWhatIsMissing() throws {
        var rng = TestRandom(seed: 1)
        func tensor(_ shape: [Int]) -> TensorValue {
            TensorValue(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in Double(rng.normal()) })
        }
        let input = TensorInput(
            tensors: ["q": tensor([2, 3, 4]), "k": tensor([1, 3, 4]), "v": tensor([1, 3, 4])],
            options: ["memory": .int(2)])
        let missing = #expect(throws: AttentionError.self) { try TensorInterface.run(variant: "persistent", input) }
        #expect(missing?.description.contains("persistent.key") == true, "\(missing?.description ?? "")")
        let odd = #expect(throws: AttentionError.self) {
            try Harness("persistent", B: 1, T: 2, NH: 1, NKV: 1, hs: 3)
        }
        #expect(odd?.description.contains("even") == true)
    }

    /// A golden input of persistent (memory tensors) or sinks (its options), mutated: every
    /// parsable mutant runs or fails with an AttentionError, never a trap.
    @Test(arguments: ["persistent-gqa.json", "sinks-basic.json"])
    func mutatedInterfaceInputsFailCleanly(file: String) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(file)")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let input = try JSONSerialization.data(withJSONObject: try #require(root["input"]), options: [.sortedKeys])
        let variant = try #require(root["variant"] as? String)
        var mutator = Mutator(seed: 12)
        var (ran, refused) = (0, 0)
        for _ in 0..<400 {
            let text = mutator.mutate(String(decoding: input, as: UTF8.self))
            guard let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) else { continue }
            do {
                _ = try TensorInterface.run(variant: variant, TensorInput(json: json))
                ran += 1
            } catch is AttentionError {
                refused += 1
            }
        }
        #expect(ran > 0 && refused > 0, "\(file): \(ran) ran, \(refused) refused")
    }
}

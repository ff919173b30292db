// cope: golden vectors at every tile size, the layer against a naive Double oracle on long
// sequences (clamped and not), e = 0 is softmax_nope, decode == forward far past max_position,
// the parameter and its initialisation, the tensor interface's errors.
import Attention
import Basics
import Foundation
import Kernels
import TestSupport
import Testing

struct CopeTests {
    @Test(arguments: ["clamped", "unclamped", "gqa", "mqa", "t1"], [1, 3, 64])
    func golden(name: String, tile: Int) throws {
        let g = try HeadGolden("cope-" + name)
        let P = g.input["pos_emb"]!.count / (g.H * g.d) - 1
        let r = Cope.compute(
            q: g.input["q"]!, k: g.input["k"]!, v: g.input["v"]!, posEmb: g.input["pos_emb"]!, dout: g.input["dout"]!,
            heads: g.H, kvHeads: g.Hkv, T: g.T, d: g.d, dv: g.dv, maxPosition: P, tile: tile)
        #expect(maxRelativeError(r.out, g.output["out"]!) < 1e-4)
        #expect(maxRelativeError(r.dq, g.output["dq"]!) < 1e-4)
        #expect(maxRelativeError(r.dk, g.output["dk"]!) < 1e-4)
        #expect(maxRelativeError(r.dv, g.output["dv"]!) < 1e-4)
        #expect(maxRelativeError(r.dposEmb, g.output["dpos_emb"]!) < 1e-4)
    }

    /// Hundreds of keys, positions clamped (P = 6) or never (P = 400), logits of a few units.
    @Test(arguments: [6, 400])
    func longSequenceMatchesNaive(maxPosition: Int) throws {
        let (T, d, dv) = (300, 8, 4)
        var rng = TestRandom(seed: UInt64(maxPosition))
        func normal(_ n: Int, _ s: Float = 1) -> [Float] { (0..<n).map { _ in s * rng.normal() } }
        let (q, k, v, e) = (normal(T * d, 1.5), normal(T * d, 1.5), normal(T * dv), normal((maxPosition + 1) * d))
        let r = Cope.compute(
            q: q, k: k, v: v, posEmb: e, dout: nil, heads: 1, kvHeads: 1, T: T, d: d, dv: dv, maxPosition: maxPosition)
        let naive = NaiveCope.forward(q: q, k: k, v: v, e: e, T: T, d: d, dv: dv, P: maxPosition)
        #expect(maxRelativeError(r.out, naive) < 2e-5)
    }

    /// With e = 0 (its initialisation) the map is softmax_nope, gradients included (but de).
    @Test func zeroEmbeddingsAreNoPE() throws {
        let cope = try Harness("cope", B: 2, T: 9, NH: 4, NKV: 2, hs: 4, options: ["max_position": .int(3)])
        let nope = try Harness("softmax_nope", B: 2, T: 9, NH: 4, NKV: 2, hs: 4)
        var rng = SplitMix64(seed: 1)
        cope.variant.initialize(params: cope.params.p, rng: &rng)
        #expect(cope.params.array.allSatisfy { $0 == 0 })
        var trng = TestRandom(seed: 2)
        let dout = Floats(normal: cope.out.count, rng: &trng)
        let (dc, _, dp) = cope.gradients(dout: dout)
        let (dn, _, _) = nope.gradients(dout: dout)
        #expect(scaledError(cope.out.p, nope.out.p, cope.out.count) < 1e-6)
        #expect(scaledError(dc.p, dn.p, dc.count) < 1e-5)
        #expect(dp.array.contains { $0 != 0 }, "e still learns")
    }

    @Test(arguments: [2, 64])
    func decodeMatchesForwardPastMaxPosition(maxPosition: Int) throws {
        let h = try Harness(
            "cope", B: 1, T: 40, NH: 4, NKV: 1, hs: 8, options: ["max_position": .int(maxPosition)], qkvScale: 2)
        #expect(h.decodeError() < 1e-5)
    }

    @Test func parametersAndOptions() throws {
        let shape = AttentionShape(heads: 3, kvHeads: 1, headSize: 4, channels: 12, context: 8)
        let c = try AttentionRegistry.make(AttentionConfig(variant: "cope"), shape: shape) as! Cope
        #expect(c.maxPosition == 8 && c.parameters.map(\.name) == ["pos_emb"], "default: the context ...")
        #expect(c.parameters[0].shape == [3, 9, 4])
        var long = shape
        long.context = 2048
        #expect((try AttentionRegistry.make(AttentionConfig(variant: "cope"), shape: long) as! Cope).maxPosition == 64)
        let error = #expect(throws: AttentionError.self) {
            try AttentionRegistry.make(
                AttentionConfig(variant: "cope", options: ["max_position": .int(0)]), shape: shape)
        }
        #expect(error?.description.contains("max_position") == true)
        #expect(c.cacheCount(maxTokens: 10) == 10 * 2 * 4, "a KV cache: k and v of the one kv head")
    }

    @Test func tensorInterfaceNeedsTheEmbeddings() throws {
        func tensor(_ shape: [Int]) -> TensorValue {
            TensorValue(shape: shape, values: [Double](repeating: 0.5, count: shape.reduce(1, *)))
        }
        let input = ["q": tensor([2, 3, 4]), "k": tensor([1, 3, 4]), "v": tensor([1, 3, 4])]
        let missing = #expect(throws: AttentionError.self) {
            try TensorInterface.run(variant: "cope", TensorInput(tensors: input, options: ["max_position": .int(2)]))
        }
        #expect(missing?.description.contains("pos_emb") == true)
        var wrong = input
        wrong["pos_emb"] = tensor([2, 2, 4])
        let shape = #expect(throws: AttentionError.self) {
            try TensorInterface.run(variant: "cope", TensorInput(tensors: wrong, options: ["max_position": .int(2)]))
        }
        #expect(shape?.description.contains("[2][3][4]") == true)
        wrong["pos_emb"] = tensor([2, 3, 4])
        let out = try TensorInterface.run(
            variant: "cope", TensorInput(tensors: wrong, options: ["max_position": .int(2)]))
        #expect(out.tensors.map(\.name) == ["out"])
    }
}

/// CoPE forward, one head, in Double straight from the definition (every gate summed, clamped).
enum NaiveCope {
    static func forward(
        q: [Float], k: [Float], v: [Float], e: [Float], T: Int, d: Int, dv: Int, P: Int
    ) -> [Double] {
        let s = 1 / Double(d).squareRoot()
        func dot(_ a: [Float], _ i: Int, _ b: [Float], _ j: Int) -> Double {
            (0..<d).reduce(0.0) { $0 + Double(a[i * d + $1]) * Double(b[j * d + $1]) }
        }
        var out = [Double](repeating: 0, count: T * dv)
        for i in 0..<T {
            let z = (0...i).map { s * dot(q, i, k, $0) }
            let L = (0...P).map { s * dot(q, i, e, $0) }
            var a = z
            var p = 0.0
            for j in stride(from: i, through: 0, by: -1) {
                p += 1 / (1 + exp(-z[j]))
                let c = min(p, Double(P))
                let f = min(Int(c.rounded(.down)), P - 1)
                a[j] += L[f] + (c - Double(f)) * (L[f + 1] - L[f])
            }
            let m = a.max()!
            let w = a.map { exp($0 - m) }
            let sum = w.reduce(0, +)
            for j in 0...i { for c in 0..<dv { out[i * dv + c] += w[j] / sum * Double(v[j * dv + c]) } }
        }
        return out
    }
}

// aaren: golden vectors, RNN == Hillis-Steele prefix scan == parallel softmax with the query
// repeated (forward and gradients), the layer path against the tensor entry point, float32 safety
// with scores in the hundreds, the ignored q projection, options.
import Attention
import Foundation
import Kernels
import TestSupport
import Testing

struct AarenTests {
    @Test(arguments: ["scaled", "unscaled", "gqa", "t1"])
    func golden(name: String) throws {
        let g = try HeadGolden("aaren-" + name)
        let r = Aaren.compute(
            query: g.input["q"]!, k: g.input["k"]!, v: g.input["v"]!, dout: g.input["dout"]!,
            heads: g.H, kvHeads: g.Hkv, T: g.T, d: g.d, dv: g.dv, scale: name != "unscaled")
        #expect(maxRelativeError(r.out, g.output["out"]!) < 1e-4)
        #expect(maxRelativeError(r.dquery, g.output["dq"]!) < 1e-4)
        #expect(maxRelativeError(r.dk, g.output["dk"]!) < 1e-4)
        #expect(maxRelativeError(r.dv, g.output["dv"]!) < 1e-4)
    }

    @Test(arguments: [(1, 1.0), (17, 1.0), (40, 8.0)])
    func rnnEqualsScanEqualsSoftmax(shape: (Int, Float)) {
        let (T, spread) = shape
        let (d, dv) = (4, 3)
        var rng = TestRandom(seed: UInt64(T))
        func rows(_ n: Int, _ w: Int, _ s: Float = 1) -> [[Double]] {
            (0..<n).map { _ in (0..<w).map { _ in Double(s * rng.normal()) } }
        }
        let query = rows(1, d)[0]
        let k = rows(T, d, spread)
        let v = rows(T, dv)
        let dout = rows(T, dv)
        for scaled in [true, false] {
            let s = scaled ? 1 / Double(d).squareRoot() : 1
            let r = Aaren.compute(
                query: query.map(Float.init), k: k.joined().map(Float.init),
                v: v.joined().map(Float.init), dout: dout.joined().map(Float.init),
                heads: 1, kvHeads: 1, T: T, d: d, dv: dv, scale: scaled)
            let scan = NaiveAaren.scan(query: query, k: k, v: v, scale: s)
            let soft = NaiveAaren.softmax(query: query, k: k, v: v, dout: dout, scale: s)
            #expect(maxRelativeError(r.out, Array(scan.joined())) < 1e-5, "RNN == prefix scan")
            #expect(maxRelativeError(r.out, Array(soft.out.joined())) < 1e-5, "RNN == softmax")
            #expect(maxRelativeError(r.dquery, soft.dquery) < 1e-4)
            #expect(maxRelativeError(r.dk, Array(soft.dk.joined())) < 1e-4)
            #expect(maxRelativeError(r.dv, Array(soft.dv.joined())) < 1e-5)
        }
    }

    /// Scores growing to ~±800 would overflow e^s in float32 without the per-prefix max.
    @Test func largeScoresStayAccurate() {
        let (T, d, dv) = (64, 4, 3)
        var rng = TestRandom(seed: 2)
        let query: [Double] = [1, -1, 0.5, 2]
        let k = (0..<T).map { t in (0..<d).map { _ in Double(rng.normal()) * 100 * Double(t % 7 + 1) } }
        let v = (0..<T).map { _ in (0..<dv).map { _ in Double(rng.normal()) } }
        let dout = (0..<T).map { _ in (0..<dv).map { _ in Double(rng.normal()) } }
        let r = Aaren.compute(
            query: query.map(Float.init), k: k.joined().map(Float.init), v: v.joined().map(Float.init),
            dout: dout.joined().map(Float.init), heads: 1, kvHeads: 1, T: T, d: d, dv: dv, scale: true)
        let soft = NaiveAaren.softmax(
            query: query, k: k.map { $0.map { Double(Float($0)) } }, v: v, dout: dout,
            scale: 0.5)
        let all: [[Float]] = [r.out, r.dquery, r.dk, r.dv]
        #expect(all.allSatisfy { $0.allSatisfy(\.isFinite) })
        #expect(maxRelativeError(r.out, Array(soft.out.joined())) < 1e-4)
        #expect(maxRelativeError(r.dv, Array(soft.dv.joined())) < 1e-4)
    }

    /// The layer path equals the tensor entry point; the q projection gets no gradient.
    @Test func layerMatchesTensorEntryPointAndIgnoresQ() throws {
        let h = try Harness("aaren", B: 2, T: 7, NH: 4, NKV: 2, hs: 4)
        var rng = TestRandom(seed: 4)
        let dout = Floats(normal: h.out.count, rng: &rng)
        let (dqkv, _, dp) = h.gradients(dout: dout)
        let (q, k, v) = h.headMajor()
        let r = Aaren.compute(
            query: h.params.array + h.params.array, k: k, v: v, dout: h.headMajor(out: dout.array),
            heads: 8, kvHeads: 4, T: 7, d: 4, dv: 4, scale: true)
        #expect(maxRelativeError(h.headMajor(out: h.out.array), r.out) < 1e-6)
        let zeroQ = [Float](repeating: 0, count: q.count)
        #expect(maxRelativeError(dqkv.array, h.layerLayout(dq: zeroQ, dk: r.dk, dv: r.dv)) < 1e-6)
        #expect(maxRelativeError(dp.array, (0..<16).map { r.dquery[$0] + r.dquery[16 + $0] }) < 1e-6)
        let before = h.out.copy()
        for t in 0..<7 { for c in 0..<16 { h.qkv[t * h.shape.qkvWidth + c] += 1 } }
        h.forward()
        #expect(h.out.array == before.array, "q is ignored")
    }

    @Test func optionsAndParameters() throws {
        let shape = AttentionShape(heads: 3, kvHeads: 1, headSize: 4, channels: 12, context: 8)
        #expect(throws: AttentionError.self) {
            try AttentionRegistry.make(AttentionConfig(variant: "aaren", options: ["scale": .int(1)]), shape: shape)
        }
        let a = try AttentionRegistry.make(AttentionConfig(variant: "aaren"), shape: shape) as! Aaren
        #expect(a.scaled && a.parameters.map(\.name) == ["query"] && a.parameters[0].shape == [3, 4])
        #expect(a.projections == .keyValue && a.projectedColumns == 12..<20, "k and v only")
        #expect(a.cacheCount(maxTokens: 1000) == a.cacheCount(maxTokens: 1), "constant-size decode state")
    }
}

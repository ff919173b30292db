// retnet: golden vectors (un-normalised core), recurrent (forward and reverse-time backward) ==
// chunkwise == the tiled parallel form, the layer path (with and without the per-head RMS norm)
// against the tensor entry point, gradient checks with custom gammas, decode, options.
import Attention
import Basics
import Foundation
import Kernels
import TestSupport
import Testing

struct RetNetTests {
    @Test(arguments: ["default_gammas", "gammas", "gqa", "t1"])
    func golden(name: String) throws {
        let g = try HeadGolden("retnet-" + name)
        for tile in [64, 2] {
            let r = RetNet.compute(
                q: g.input["q"]!, k: g.input["k"]!, v: g.input["v"]!, dout: g.input["dout"]!,
                heads: g.H, kvHeads: g.Hkv, T: g.T, d: g.d, dv: g.dv,
                gammas: name == "gammas" ? [0.5, 0.9] : RetNet.defaultGammas(g.H), groupNorm: false,
                ropeBase: 10_000, tile: tile)
            #expect(maxRelativeError(r.out, g.output["out"]!) < 1e-4)
            #expect(maxRelativeError(r.dq, g.output["dq"]!) < 1e-4)
            #expect(maxRelativeError(r.dk, g.output["dk"]!) < 1e-4)
            #expect(maxRelativeError(r.dv, g.output["dv"]!) < 1e-4)
        }
    }

    /// The oracles run on rotated q, k; their gradients are rotated back by the negative angle.
    @Test(arguments: [0.5, 0.96875, 0.999])
    func recurrentEqualsChunkwiseEqualsParallel(gamma: Double) {
        let (T, d, dv) = (23, 4, 3)
        var rng = TestRandom(seed: UInt64(gamma * 1000))
        func rows(_ w: Int) -> [[Double]] { (0..<T).map { _ in (0..<w).map { _ in Double(rng.normal()) } } }
        let (q, k, v, dout) = (rows(d), rows(d), rows(dv), rows(dv))
        let flat = { (x: [[Double]]) in x.joined().map(Float.init) }
        let r = RetNet.compute(
            q: flat(q), k: flat(k), v: flat(v), dout: flat(dout), heads: 1, kvHeads: 1, T: T, d: d,
            dv: dv, gammas: [gamma], groupNorm: false, ropeBase: 10_000, tile: 5)
        let rot = { (x: [[Double]], inverse: Bool) in
            x.indices.map { NaiveSoftmaxRoPE.rotate(x[$0], $0, base: 10_000, inverse: inverse) }
        }
        let (qr, kr) = (rot(q, false), rot(k, false))
        let rec = NaiveRetNet.recurrent(q: qr, k: kr, v: v, dout: dout, gamma: gamma)
        #expect(maxRelativeError(r.out, Array(rec.out.joined())) < 1e-5)
        #expect(maxRelativeError(r.dq, Array(rot(rec.dq, true).joined())) < 1e-5)
        #expect(maxRelativeError(r.dk, Array(rot(rec.dk, true).joined())) < 1e-5)
        #expect(maxRelativeError(r.dv, Array(rec.dv.joined())) < 1e-5)
        for B in [1, 2, 4, 5, 23] {
            let chunk = NaiveRetNet.chunkwise(q: qr, k: kr, v: v, gamma: gamma, B: B)
            #expect(maxRelativeError(r.out, Array(chunk.joined())) < 1e-5, "chunk \(B)")
        }
    }

    @Test(arguments: [true, false])
    func layerMatchesTensorEntryPoint(groupNorm: Bool) throws {
        let h = try Harness(
            "retnet", B: 2, T: 9, NH: 4, NKV: 2, hs: 4, pos0: 5,
            options: ["group_norm": .bool(groupNorm), "tile": .int(4), "gammas": .string("0.5,0.8, 0.9,1")])
        var rng = TestRandom(seed: 6)
        let dout = Floats(normal: h.out.count, rng: &rng)
        let (dqkv, _, _) = h.gradients(dout: dout)
        let (q, k, v) = h.headMajor()
        let r = RetNet.compute(
            q: q, k: k, v: v, dout: h.headMajor(out: dout.array), heads: 8, kvHeads: 4, T: 9, d: 4,
            dv: 4, gammas: [0.5, 0.8, 0.9, 1, 0.5, 0.8, 0.9, 1], pos0: 5, groupNorm: groupNorm, ropeBase: 10_000,
            tile: 64)
        #expect(maxRelativeError(h.headMajor(out: h.out.array), r.out) < 1e-5)
        #expect(maxRelativeError(dqkv.array, h.layerLayout(dq: r.dq, dk: r.dk, dv: r.dv)) < 1e-5)
    }

    @Test func gradientCheckWithoutNormAndCustomGammas() throws {
        for (NH, NKV) in [(2, 2), (4, 2), (3, 1)] {
            let gammas = (0..<NH).map { String(0.6 + 0.1 * Double($0)) }.joined(separator: ",")
            let h = try Harness(
                "retnet", B: 2, T: 6, NH: NH, NKV: NKV, hs: 4, pos0: 2,
                options: ["group_norm": .bool(false), "gammas": .string(gammas)])
            var rng = TestRandom(seed: 9)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, _, _) = h.gradients(dout: dout)
            #expect(
                GradientCheck.maxError(
                    of: h.qkv.p, count: h.qkv.count, analytic: dqkv.p, samples: 80,
                    precise: true, loss: { h.loss(dout) }) < 2e-3, "NH=\(NH) NKV=\(NKV)")
        }
    }

    @Test func decodeMatchesForwardWithoutNorm() throws {
        let h = try Harness(
            "retnet", B: 1, T: 10, NH: 4, NKV: 2, hs: 8, options: ["group_norm": .bool(false), "tile": .int(3)])
        h.forward()
        let stepped = h.decodeAll()
        #expect(scaledError(stepped.p, h.out.p, h.out.count) < 1e-5)
    }

    @Test func optionsAreChecked() throws {
        let shape = AttentionShape(heads: 2, kvHeads: 1, headSize: 4, channels: 8, context: 8)
        for bad: [String: ConfigValue] in [
            ["gammas": .string("0.5")], ["gammas": .string("0.5,x")],
            ["gammas": .string("0.5,1.5")], ["gammas": .double(0.5)], ["decay": .int(1)],
        ] {
            #expect(throws: AttentionError.self) {
                try AttentionRegistry.make(AttentionConfig(variant: "retnet", options: bad), shape: shape)
            }
        }
        let r = try AttentionRegistry.make(AttentionConfig(variant: "retnet"), shape: shape) as! RetNet
        #expect(r.gammas == [0.96875, 0.984375] && r.groupNorm && r.parameters.isEmpty)
        let c = try RetNet(options: ["gammas": .string(" 0.5 , 0.25 ")], shape: shape)
        #expect(c.gammas == [0.5, 0.25])
    }

    /// gammas as a list, or as the comma string of older configs; wrong counts, ranges and types
    /// are errors.
    @Test func gammasReadAsAListOrACommaString() throws {
        let shape = AttentionShape(heads: 2, kvHeads: 2, headSize: 8, channels: 16, context: 8)
        func make(_ v: ConfigValue) throws -> RetNet? {
            try AttentionRegistry.make(AttentionConfig(variant: "retnet", options: ["gammas": v]), shape: shape)
                as? RetNet
        }
        #expect(try make(.numbers([0.9, 0.99]))?.gammas == [0.9, 0.99])
        #expect(try make(.string("0.9, 0.99"))?.gammas == [0.9, 0.99])
        #expect(try make(.string(""))?.gammas == RetNet.defaultGammas(2))  // older configs' "no list"
        for bad: ConfigValue in [.numbers([0.9]), .string("0.9, x"), .numbers([0.9, 1.5]), .bool(true)] {
            #expect(throws: AttentionError.self, "\(bad)") { try make(bad) }
        }
    }
}

// stick_breaking: golden vectors (all 6 modes, GQA, T = 1), the tiled kernel against the naive
// product-form oracle, the layer path against the tensor entry point, gradient checks of every mode
// with GQA/MQA and the remainder bias, decode == forward per mode, the spec's properties of A and
// stability at |z| in the hundreds, and options. Its speed against softmax_rope is measured by
// bench/stick_breaking_speed.sh, not here.
import Attention
import Basics
import Foundation
import Kernels
import TestSupport
import Testing

struct StickBreakingTests {
    typealias Mode = (remainder: StickBreaking.Remainder, attendCurrent: Bool)
    static let modes: [Mode] = StickBreaking.Remainder.allCases.flatMap { r in [false, true].map { (r, $0) } }

    static func options(_ m: Mode, tile: Int? = nil) -> [String: ConfigValue] {
        var o: [String: ConfigValue] = [
            "remainder": .string(m.remainder.rawValue), "attend_current": .bool(m.attendCurrent),
        ]
        if let tile { o["tile"] = .int(tile) }
        return o
    }

    @Test(arguments: [
        "current-exclusive", "current-inclusive", "bias-exclusive", "bias-inclusive",
        "none-exclusive", "none-inclusive", "gqa", "bias-gqa", "t1", "bias-t1",
    ])
    func golden(name: String) throws {
        let g = try HeadGolden("stick_breaking-" + name)
        let remainder: StickBreaking.Remainder =
            name.hasPrefix("bias") ? .bias : name.hasPrefix("none") ? .none : .current
        for tile in [64, 3] {
            let r = StickBreaking.compute(
                q: g.input["q"]!, k: g.input["k"]!, v: g.input["v"]!, remainderBias: g.input["remainder_bias"] ?? [],
                dout: g.input["dout"]!, heads: g.H, kvHeads: g.Hkv, T: g.T, d: g.d, dv: g.dv,
                remainder: remainder, attendCurrent: name.hasSuffix("inclusive"), tile: tile, earlyStop: true)
            #expect(maxRelativeError(r.out, g.output["out"]!) < 1e-4, "out")
            #expect(maxRelativeError(r.dq, g.output["dq"]!) < 1e-4, "dq")
            #expect(maxRelativeError(r.dk, g.output["dk"]!) < 1e-4, "dk")
            #expect(maxRelativeError(r.dv, g.output["dv"]!) < 1e-4, "dv")
            if remainder == .bias { #expect(maxRelativeError(r.dremainderBias, g.output["dremainder_bias"]!) < 1e-4) }
        }
    }

    @Test(arguments: [(1, 64), (9, 1), (37, 8), (37, 64), (70, 16), (300, 8)])  // 300: early stop
    func tiledMatchesNaive(shape: (Int, Int)) {
        let (T, tile) = shape
        let (H, Hkv, d, dv) = (4, 2, 6, 5)
        var rng = TestRandom(seed: UInt64(T * 100 + tile))
        func normal(_ n: Int) -> [Float] { (0..<n).map { _ in rng.normal() } }
        let (q, k, v, bias, dout) = (
            normal(H * T * d), normal(Hkv * T * d), normal(Hkv * T * dv), normal(H * dv),
            normal(H * T * dv)
        )
        for m in Self.modes {
            let r = StickBreaking.compute(
                q: q, k: k, v: v, remainderBias: bias, dout: dout, heads: H, kvHeads: Hkv,
                T: T, d: d, dv: dv, remainder: m.remainder, attendCurrent: m.attendCurrent,
                tile: tile, earlyStop: true)
            let n = NaiveStickBreaking.run(
                q: q, k: k, v: v, bias: bias, dout: dout, H: H, Hkv: Hkv, T: T, d: d,
                dv: dv, remainder: m.remainder.rawValue, attendCurrent: m.attendCurrent)
            let label = "\(m) T=\(T) tile=\(tile)"
            #expect(maxRelativeError(r.out, n.out) < 1e-5, "out \(label)")
            #expect(maxRelativeError(r.dq, n.dq) < 1e-4 && maxRelativeError(r.dk, n.dk) < 1e-4, "dq dk \(label)")
            #expect(maxRelativeError(r.dv, n.dv) < 1e-5, "dv \(label)")
            if m.remainder == .bias { #expect(maxRelativeError(r.dremainderBias, n.db) < 1e-5, "db \(label)") }
        }
    }

    /// The variant (fused qkv, parameters) computes exactly what the tensor entry point does.
    @Test func layerMatchesTensorEntryPoint() throws {
        for m in Self.modes {
            let h = try Harness(
                "stick_breaking", B: 2, T: 9, NH: 4, NKV: 2, hs: 4, pos0: 3, options: Self.options(m, tile: 4))
            var rng = TestRandom(seed: 11)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, _, dp) = h.gradients(dout: dout)
            let (q, k, v) = h.headMajor()
            let bias = m.remainder == .bias ? h.params.array + h.params.array : []
            let r = StickBreaking.compute(
                q: q, k: k, v: v, remainderBias: bias, dout: h.headMajor(out: dout.array),
                heads: 8, kvHeads: 4, T: 9, d: 4, dv: 4, remainder: m.remainder,
                attendCurrent: m.attendCurrent, tile: 64, earlyStop: true)
            #expect(maxRelativeError(h.headMajor(out: h.out.array), r.out) < 1e-6, "\(m)")
            #expect(maxRelativeError(dqkv.array, h.layerLayout(dq: r.dq, dk: r.dk, dv: r.dv)) < 1e-6, "\(m)")
            if m.remainder == .bias {
                let summed = (0..<16).map { r.dremainderBias[$0] + r.dremainderBias[16 + $0] }
                #expect(maxRelativeError(dp.array, summed) < 1e-6)
            }
        }
    }

    @Test func gradientCheckEveryMode() throws {
        for m in Self.modes {
            for (NH, NKV) in [(4, 2), (3, 1)] {
                let h = try Harness("stick_breaking", B: 2, T: 6, NH: NH, NKV: NKV, hs: 4, options: Self.options(m))
                var rng = TestRandom(seed: 7)
                let dout = Floats(normal: h.out.count, rng: &rng)
                let (dqkv, _, dp) = h.gradients(dout: dout)
                let loss = { h.loss(dout) }
                #expect(
                    GradientCheck.maxError(
                        of: h.qkv.p, count: h.qkv.count, analytic: dqkv.p, samples: 80,
                        precise: true, loss: loss) < 2e-3, "dqkv \(m) NH=\(NH) NKV=\(NKV)")
                if m.remainder == .bias {
                    #expect(h.params.count == NH * 4)
                    #expect(
                        GradientCheck.maxError(
                            of: h.params.p, count: h.params.count, analytic: dp.p,
                            precise: true, loss: loss) < 2e-3, "dbias \(m)")
                }
            }
        }
    }

    @Test func decodeMatchesForwardEveryMode() throws {
        for m in Self.modes {
            let h = try Harness("stick_breaking", B: 1, T: 12, NH: 4, NKV: 2, hs: 8, options: Self.options(m, tile: 5))
            h.forward()
            let stepped = h.decodeAll()
            #expect(scaledError(stepped.p, h.out.p, h.out.count) < 1e-5, "\(m)")
        }
    }

    /// early_stop = false visits every key; with sticks that run out within a few keys (large
    /// logits) the default stops early, and both give the same outputs, gradients and decode.
    @Test func earlyStopChangesNothingButCost() throws {
        var results: [[Float]] = []
        for early in [true, false] {
            let h = try Harness(
                "stick_breaking", B: 1, T: 200, NH: 2, NKV: 1, hs: 8, options: ["early_stop": .bool(early)],
                seed: 5, qkvScale: 4)
            var rng = TestRandom(seed: 9)
            let dout = Floats(normal: h.out.count, rng: &rng)
            let (dqkv, _, _) = h.gradients(dout: dout)
            results.append(h.out.array + dqkv.array)
            let stepped = h.decodeAll()
            #expect(scaledError(stepped.p, h.out.p, h.out.count) < 1e-5, "decode, early_stop=\(early)")
        }
        #expect(maxRelativeError(results[0], results[1]) < 1e-5)
        #expect(throws: (any Error).self) {
            try Harness("stick_breaking", B: 1, T: 4, NH: 1, NKV: 1, hs: 4, options: ["early_stop": .int(3)])
        }
    }

    @Test(arguments: [false, true])
    func weightsAreAStickBreaking(attendCurrent: Bool) {
        let (T, d) = (13, 4)
        var rng = TestRandom(seed: 3)
        let k = (0..<T * d).map { _ in rng.normal() }
        for scale: Float in [1, 100] {
            let q = (0..<T * d).map { _ in scale * rng.normal() }
            let (A, rem) = StickBreaking.weights(q: q, k: k, T: T, d: d, attendCurrent: attendCurrent, tile: 5)
            for i in 0..<T {
                let row = A[i * T..<(i + 1) * T]
                #expect(row.allSatisfy { $0 >= 0 && $0.isFinite })
                let total: Float = row.reduce(0, +)
                #expect(total <= 1 + 1e-6)
                #expect(abs(total + rem[i] - 1) < 1e-5, "rows + remainder = 1")
                let firstMasked = attendCurrent ? i + 1 : i
                #expect(row.dropFirst(firstMasked).allSatisfy { $0 == 0 }, "masked keys get 0")
            }
        }
    }

    @Test func firstOutputIsFirstValueWithRemainderToCurrent() throws {
        let h = try Harness("stick_breaking", B: 2, T: 5, NH: 2, NKV: 1, hs: 4)
        h.forward()
        let W = h.shape.qkvWidth
        let NH = 2
        for b in 0..<2 {
            for head in 0..<NH {
                for c in 0..<4 { #expect(h.out[b * 5 * NH * 4 + head * 4 + c] == h.qkv[b * 5 * W + (NH + 1) * 4 + c]) }
            }
        }
    }

    @Test func hugeLogitsStayFinite() {
        let (T, d) = (16, 4)
        var rng = TestRandom(seed: 5)
        let q = (0..<2 * T * d).map { _ in 300 * rng.normal() }
        let k = (0..<2 * T * d).map { _ in rng.normal() }
        let v = (0..<2 * T * 3).map { _ in rng.normal() }
        let dout = (0..<2 * T * 3).map { _ in rng.normal() }
        for m in Self.modes {
            let r = StickBreaking.compute(
                q: q, k: k, v: v, remainderBias: [Float](repeating: 1, count: 6), dout: dout,
                heads: 2, kvHeads: 2, T: T, d: d, dv: 3, remainder: m.remainder,
                attendCurrent: m.attendCurrent, tile: 64, earlyStop: true)
            let all: [[Float]] = [r.out, r.dq, r.dk, r.dv, r.dremainderBias]
            #expect(all.allSatisfy { $0.allSatisfy(\.isFinite) }, "\(m)")
        }
    }

    @Test func optionsAreChecked() throws {
        let shape = AttentionShape(heads: 2, kvHeads: 1, headSize: 4, channels: 8, context: 8)
        for bad: [String: ConfigValue] in [
            ["remainder": .string("rest")], ["attend_current": .int(1)], ["window": .int(3)],
        ] {
            #expect(throws: AttentionError.self) {
                try AttentionRegistry.make(AttentionConfig(variant: "stick_breaking", options: bad), shape: shape)
            }
        }
        let v = try AttentionRegistry.make(AttentionConfig(variant: "stick_breaking"), shape: shape) as! StickBreaking
        #expect(v.remainder == .current && !v.attendCurrent && v.parameters.isEmpty)
        let b = try StickBreaking(options: ["remainder": .string("bias")], shape: shape)
        #expect(b.parameters.map(\.name) == ["remainder_bias"] && b.parameters[0].shape == [2, 4])
        let p = Floats(b.parameterCount, value: 5)
        var rng = SplitMix64(seed: 1)
        b.initialize(params: p.p, rng: &rng)
        #expect(p.array.allSatisfy { $0 == 0 })
    }
}

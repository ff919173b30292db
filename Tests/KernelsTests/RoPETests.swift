import TestSupport
import Testing

// RoPE: golden half-split rotation at a position offset, gradient check, relative-position
// property.
@testable import Kernels

struct RoPETests {
    @Test func golden() {
        let g = KernelGolden["rope"]
        let (B, T, H, hs, pos0) = (
            g.dim("B"), g.dim("T"), g.dim("heads"), g.dim("hs"), g.dim("pos0")
        )
        let x = g.floats("inp")
        let dout = g.floats("dout")
        let cos = Floats(T * hs / 2)
        let sin = Floats(T * hs / 2)
        ropeTables(cos: cos.p, sin: sin.p, T: T, hs: hs, pos0: pos0)
        let out = Floats(x.count)
        let dx = Floats(x.count)
        ropeForward(
            out: out.p, inp: x.p, cos: cos.p, sin: sin.p, B: B, T: T, heads: H, hs: hs,
            outStride: H * hs, inpStride: H * hs)
        ropeBackward(
            dinp: dx.p, dout: dout.p, cos: cos.p, sin: sin.p, B: B, T: T, heads: H, hs: hs,
            dinpStride: H * hs, doutStride: H * hs)
        #expect(scaledError(out.p, g.values("out")) < 1e-6)
        #expect(scaledError(dx.p, g.values("dinp")) < 1e-6)
    }

    /// The process-wide rows ropeTables copies are the per-call computation bit for bit: any
    /// offset, a table that grows the cache, one past its limit, odd bases, T = 1.
    @Test(arguments: [(64, 10_000.0), (6, 500.0), (128, 1e6), (2, 10_000.0)])
    func cachedTablesAreTheComputedOnes(hs: Int, base: Double) {
        let limit = RopeRows.maxFloats / (hs / 2)
        for (T, pos0) in [(256, 0), (3, 250), (1, 17), (700, 100), (5, 0), (4, limit - 4), (8, limit - 4)] {
            let (c, s) = (Floats(T * hs / 2), Floats(T * hs / 2))
            let (c0, s0) = (Floats(T * hs / 2), Floats(T * hs / 2))
            ropeTables(cos: c.p, sin: s.p, T: T, hs: hs, pos0: pos0, base: base)
            ropeRows(cos: c0.p, sin: s0.p, T: T, hs: hs, pos0: pos0, base: base)
            #expect(
                (0..<T * hs / 2).allSatisfy {
                    c.p[$0].bitPattern == c0.p[$0].bitPattern && s.p[$0].bitPattern == s0.p[$0].bitPattern
                },
                "T \(T), pos0 \(pos0), hs \(hs), base \(base)")
        }
    }

    @Test func dotProductDependsOnlyOnDistance() {
        let hs = 8
        var rng = TestRandom(seed: 2)
        let q = Floats(normal: hs, rng: &rng)
        let k = Floats(normal: hs, rng: &rng)
        func rotatedDot(_ i: Int, _ j: Int) -> Float {
            let c = Floats(hs / 2)
            let s = Floats(hs / 2)
            let qr = Floats(hs)
            let kr = Floats(hs)
            ropeTables(cos: c.p, sin: s.p, T: 1, hs: hs, pos0: i)
            ropeForward(
                out: qr.p, inp: q.p, cos: c.p, sin: s.p, B: 1, T: 1, heads: 1, hs: hs,
                outStride: hs, inpStride: hs)
            ropeTables(cos: c.p, sin: s.p, T: 1, hs: hs, pos0: j)
            ropeForward(
                out: kr.p, inp: k.p, cos: c.p, sin: s.p, B: 1, T: 1, heads: 1, hs: hs,
                outStride: hs, inpStride: hs)
            return dot(qr.p, kr.p, hs)
        }
        #expect(abs(rotatedDot(7, 3) - rotatedDot(104, 100)) < 1e-4)
    }

    @Test func gradientCheck() {
        let (B, T, H, hs) = (2, 3, 2, 6)
        var rng = TestRandom(seed: 4)
        let x = Floats(normal: B * T * H * hs, rng: &rng)
        let dout = Floats(normal: x.count, rng: &rng)
        let cos = Floats(T * hs / 2)
        let sin = Floats(T * hs / 2)
        let out = Floats(x.count)
        let dx = Floats(x.count)
        ropeTables(cos: cos.p, sin: sin.p, T: T, hs: hs, pos0: 5)
        ropeBackward(
            dinp: dx.p, dout: dout.p, cos: cos.p, sin: sin.p, B: B, T: T, heads: H, hs: hs,
            dinpStride: H * hs, doutStride: H * hs)
        #expect(
            GradientCheck.maxError(of: x.p, count: x.count, analytic: dx.p) {
                ropeForward(
                    out: out.p, inp: x.p, cos: cos.p, sin: sin.p, B: B, T: T, heads: H, hs: hs,
                    outStride: H * hs, inpStride: H * hs)
                return weightedSum(out.p, dout.p, x.count)
            } < 1e-3)
    }
}

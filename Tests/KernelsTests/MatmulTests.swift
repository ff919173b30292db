// Matmul: BLAS against the naive loop on odd shapes, golden forward/backward, gradient check.
import Kernels
import TestSupport
import Testing

struct MatmulTests {
    @Test(arguments: [(1, 1, 1), (3, 5, 7), (17, 9, 13), (33, 65, 31)])
    func blasMatchesNaive(shape: (Int, Int, Int)) {
        let (BT, C, OC) = shape
        var rng = TestRandom(seed: 7)
        let x = Floats(normal: BT * C, rng: &rng)
        let w = Floats(normal: OC * C, rng: &rng)
        let b = Floats(normal: OC, rng: &rng)
        let fast = Floats(BT * OC)
        let slow = Floats(BT * OC)
        matmulForward(out: fast.p, inp: x.p, weight: w.p, bias: b.p, BT: BT, C: C, OC: OC)
        matmulForwardNaive(out: slow.p, inp: x.p, weight: w.p, bias: b.p, BT: BT, C: C, OC: OC)
        #expect(scaledError(fast.p, slow.p, BT * OC) < 1e-5)
    }

    @Test func golden() {
        let g = KernelGolden["matmul"]
        let (BT, C, OC) = (g.dim("BT"), g.dim("C"), g.dim("OC"))
        let x = g.floats("inp")
        let w = g.floats("weight")
        let b = g.floats("bias")
        let dout = g.floats("dout")
        let out = Floats(BT * OC)
        matmulForward(out: out.p, inp: x.p, weight: w.p, bias: b.p, BT: BT, C: C, OC: OC)
        #expect(scaledError(out.p, g.values("out")) < 1e-6)
        let dx = Floats(BT * C)
        let dw = Floats(OC * C)
        let db = Floats(OC)
        matmulBackward(
            dinp: dx.p, dweight: dw.p, dbias: db.p, dout: dout.p, inp: x.p, weight: w.p,
            BT: BT, C: C, OC: OC)
        #expect(scaledError(dx.p, g.values("dinp")) < 1e-6)
        #expect(scaledError(dw.p, g.values("dweight")) < 1e-6)
        #expect(scaledError(db.p, g.values("dbias")) < 1e-6)
    }

    /// With outStride / doutStride the product is a column block of a wider matrix: the same
    /// numbers as the dense call, and the other columns untouched.
    @Test func stridedColumnBlock() {
        let (BT, C, OC, wide, at) = (5, 6, 3, 8, 2)
        var rng = TestRandom(seed: 9)
        let x = Floats(normal: BT * C, rng: &rng)
        let w = Floats(normal: OC * C, rng: &rng)
        let b = Floats(normal: OC, rng: &rng)
        let dense = Floats(BT * OC)
        let block = Floats(normal: BT * wide, rng: &rng)
        let before = block.array
        matmulForward(out: dense.p, inp: x.p, weight: w.p, bias: b.p, BT: BT, C: C, OC: OC)
        matmulForward(out: block.p + at, inp: x.p, weight: w.p, bias: b.p, BT: BT, C: C, OC: OC, outStride: wide)
        for r in 0..<BT {
            for c in 0..<wide {
                let inside = (at..<at + OC).contains(c)
                let want = inside ? dense[r * OC + c - at] : before[r * wide + c]
                #expect(abs(block[r * wide + c] - want) <= (inside ? 1e-5 : 0))
            }
        }
        let (dx1, dw1, db1, dx2, dw2, db2) = (
            Floats(BT * C), Floats(OC * C), Floats(OC), Floats(BT * C), Floats(OC * C), Floats(OC)
        )
        matmulBackward(
            dinp: dx1.p, dweight: dw1.p, dbias: db1.p, dout: dense.p, inp: x.p, weight: w.p, BT: BT, C: C, OC: OC)
        matmulBackward(
            dinp: dx2.p, dweight: dw2.p, dbias: db2.p, dout: block.p + at, inp: x.p, weight: w.p, BT: BT, C: C, OC: OC,
            doutStride: wide)
        #expect(scaledError(dx1.p, dx2.p, dx1.count) < 1e-6 && scaledError(dw1.p, dw2.p, dw1.count) < 1e-6)
        #expect(scaledError(db1.p, db2.p, db1.count) < 1e-6)
    }

    @Test func backwardAccumulates() {
        let (BT, C, OC) = (3, 4, 5)
        var rng = TestRandom(seed: 3)
        let x = Floats(normal: BT * C, rng: &rng)
        let w = Floats(normal: OC * C, rng: &rng)
        let dout = Floats(normal: BT * OC, rng: &rng)
        let once = Floats(OC * C)
        let twice = Floats(OC * C)
        matmulBackward(
            dinp: nil, dweight: once.p, dbias: nil, dout: dout.p, inp: x.p, weight: w.p,
            BT: BT, C: C, OC: OC)
        for _ in 0..<2 {
            matmulBackward(
                dinp: nil, dweight: twice.p, dbias: nil, dout: dout.p, inp: x.p,
                weight: w.p, BT: BT, C: C, OC: OC)
        }
        for i in 0..<OC * C { #expect(abs(twice[i] - 2 * once[i]) < 1e-5) }
    }

    @Test func gradientCheck() {
        let (BT, C, OC) = (4, 5, 3)
        var rng = TestRandom(seed: 11)
        let x = Floats(normal: BT * C, rng: &rng)
        let w = Floats(normal: OC * C, rng: &rng)
        let b = Floats(normal: OC, rng: &rng)
        let dout = Floats(normal: BT * OC, rng: &rng)
        let out = Floats(BT * OC)
        let dx = Floats(BT * C)
        let dw = Floats(OC * C)
        let db = Floats(OC)
        matmulBackward(
            dinp: dx.p, dweight: dw.p, dbias: db.p, dout: dout.p, inp: x.p, weight: w.p,
            BT: BT, C: C, OC: OC)
        let loss = {
            matmulForward(out: out.p, inp: x.p, weight: w.p, bias: b.p, BT: BT, C: C, OC: OC)
            return weightedSum(out.p, dout.p, BT * OC)
        }
        #expect(GradientCheck.maxError(of: x.p, count: x.count, analytic: dx.p, loss: loss) < 1e-3)
        #expect(GradientCheck.maxError(of: w.p, count: w.count, analytic: dw.p, loss: loss) < 1e-3)
        #expect(GradientCheck.maxError(of: b.p, count: b.count, analytic: db.p, loss: loss) < 1e-3)
    }
}

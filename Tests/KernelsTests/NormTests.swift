// RMSNorm and LayerNorm: golden forward/backward from numpy and finite-difference gradients.
import Kernels
import TestSupport
import Testing

struct NormTests {
    @Test func rmsNormGolden() {
        let g = KernelGolden["rmsnorm"]
        let (BT, C) = (g.dim("BT"), g.dim("C"))
        let x = g.floats("inp")
        let w = g.floats("weight")
        let dout = g.floats("dout")
        let out = Floats(BT * C)
        let rstd = Floats(BT)
        let dx = Floats(BT * C)
        let dw = Floats(C)
        rmsNormForward(out: out.p, rstd: rstd.p, inp: x.p, weight: w.p, BT: BT, C: C)
        rmsNormBackward(
            dinp: dx.p, dweight: dw.p, dout: dout.p, inp: x.p, weight: w.p, rstd: rstd.p,
            BT: BT, C: C)
        #expect(scaledError(out.p, g.values("out")) < 1e-6)
        #expect(scaledError(rstd.p, g.values("rstd")) < 1e-6)
        #expect(scaledError(dx.p, g.values("dinp")) < 1e-5)
        #expect(scaledError(dw.p, g.values("dweight")) < 1e-5)
    }

    @Test func layerNormGolden() {
        let g = KernelGolden["layernorm"]
        let (BT, C) = (g.dim("BT"), g.dim("C"))
        let x = g.floats("inp")
        let w = g.floats("weight")
        let b = g.floats("bias")
        let dout = g.floats("dout")
        let out = Floats(BT * C)
        let mean = Floats(BT)
        let rstd = Floats(BT)
        let dx = Floats(BT * C)
        let dw = Floats(C)
        let db = Floats(C)
        layerNormForward(
            out: out.p, mean: mean.p, rstd: rstd.p, inp: x.p, weight: w.p, bias: b.p,
            BT: BT, C: C)
        layerNormBackward(
            dinp: dx.p, dweight: dw.p, dbias: db.p, dout: dout.p, inp: x.p, weight: w.p,
            mean: mean.p, rstd: rstd.p, BT: BT, C: C)
        #expect(scaledError(out.p, g.values("out")) < 1e-6)
        #expect(scaledError(dx.p, g.values("dinp")) < 1e-5)
        #expect(scaledError(dw.p, g.values("dweight")) < 1e-5)
        #expect(scaledError(db.p, g.values("dbias")) < 1e-5)
    }

    @Test func rmsNormGradientCheck() {
        let (BT, C) = (3, 7)
        var rng = TestRandom(seed: 5)
        let x = Floats(normal: BT * C, rng: &rng)
        let w = Floats(normal: C, rng: &rng)
        let dout = Floats(normal: BT * C, rng: &rng)
        let out = Floats(BT * C)
        let rstd = Floats(BT)
        let dx = Floats(BT * C)
        let dw = Floats(C)
        rmsNormForward(out: out.p, rstd: rstd.p, inp: x.p, weight: w.p, BT: BT, C: C)
        rmsNormBackward(
            dinp: dx.p, dweight: dw.p, dout: dout.p, inp: x.p, weight: w.p, rstd: rstd.p,
            BT: BT, C: C)
        let loss = {
            rmsNormForward(out: out.p, rstd: rstd.p, inp: x.p, weight: w.p, BT: BT, C: C)
            return weightedSum(out.p, dout.p, BT * C)
        }
        #expect(
            GradientCheck.maxError(
                of: x.p, count: x.count, analytic: dx.p, eps: 1e-2,
                precise: true, loss: loss) < 2e-3)
        #expect(GradientCheck.maxError(of: w.p, count: w.count, analytic: dw.p, loss: loss) < 2e-3)
    }

    @Test func layerNormGradientCheck() {
        let (BT, C) = (3, 7)
        var rng = TestRandom(seed: 6)
        let x = Floats(normal: BT * C, rng: &rng)
        let w = Floats(normal: C, rng: &rng)
        let b = Floats(normal: C, rng: &rng)
        let dout = Floats(normal: BT * C, rng: &rng)
        let out = Floats(BT * C)
        let mean = Floats(BT)
        let rstd = Floats(BT)
        let dx = Floats(BT * C)
        let dw = Floats(C)
        let db = Floats(C)
        layerNormForward(
            out: out.p, mean: mean.p, rstd: rstd.p, inp: x.p, weight: w.p, bias: b.p,
            BT: BT, C: C)
        layerNormBackward(
            dinp: dx.p, dweight: dw.p, dbias: db.p, dout: dout.p, inp: x.p, weight: w.p,
            mean: mean.p, rstd: rstd.p, BT: BT, C: C)
        let loss = {
            layerNormForward(
                out: out.p, mean: mean.p, rstd: rstd.p, inp: x.p, weight: w.p,
                bias: b.p, BT: BT, C: C)
            return weightedSum(out.p, dout.p, BT * C)
        }
        #expect(
            GradientCheck.maxError(
                of: x.p, count: x.count, analytic: dx.p, eps: 1e-2,
                precise: true, loss: loss) < 2e-3)
        #expect(GradientCheck.maxError(of: w.p, count: w.count, analytic: dw.p, loss: loss) < 2e-3)
        #expect(GradientCheck.maxError(of: b.p, count: b.count, analytic: db.p, loss: loss) < 2e-3)
    }
}

// Cross-entropy: the fused chunked classifier against numpy and against the plain
// matmul + softmax + cross-entropy path; ignored targets; gradient check.
import Kernels
import TestSupport
import Testing

struct CrossEntropyTests {
    /// Runs the fused classifier; returns (mean loss, losses, dinp, dweight).
    func fused(_ x: Floats, _ w: Floats, _ targets: [Int32], C: Int, V: Int, chunk: Int)
        -> (Double, Floats, Floats, Floats)
    {
        let BT = targets.count
        let losses = Floats(BT)
        let dx = Floats(BT * C)
        let dw = Floats(V * C)
        let scratch = Floats(chunk * V)
        let total = targets.withUnsafeBufferPointer { t in
            let n = countTargets(t.baseAddress!, BT: BT)
            return fusedClassifier(
                losses: losses.p, dinp: dx.p, dweight: dw.p, scratch: scratch.p, inp: x.p,
                weight: w.p, targets: t.baseAddress!, dlossScale: 1 / Float(n), BT: BT, C: C, V: V,
                chunk: chunk) / Double(n)
        }
        return (total, losses, dx, dw)
    }

    @Test(arguments: [1, 3, 7, 64])
    func fusedMatchesGolden(chunk: Int) {
        let g = KernelGolden["crossentropy"]
        let (C, V) = (g.dim("C"), g.dim("V"))
        let (loss, losses, dx, dw) = fused(
            g.floats("inp"), g.floats("weight"), g.ints("targets"),
            C: C, V: V, chunk: chunk)
        #expect(abs(loss - g.values("loss")[0]) < 1e-5)
        #expect(scaledError(losses.p, g.values("losses")) < 1e-5)
        #expect(scaledError(dx.p, g.values("dinp")) < 1e-5)
        #expect(scaledError(dw.p, g.values("dweight")) < 1e-5)
    }

    @Test func fusedMatchesPlainPath() {
        let (BT, C, V) = (9, 5, 13)
        var rng = TestRandom(seed: 21)
        let x = Floats(normal: BT * C, rng: &rng)
        let w = Floats(normal: V * C, rng: &rng)
        let targets: [Int32] = (0..<BT).map { $0 == 4 ? -1 : Int32(rng.int(0..<V)) }
        let (_, losses, dx, dw) = fused(x, w, targets, C: C, V: V, chunk: 4)
        let logits = Floats(BT * V)
        let probs = Floats(BT * V)
        let plainLosses = Floats(BT)
        let dlogits = Floats(BT * V)
        let pdx = Floats(BT * C)
        let pdw = Floats(V * C)
        let dlosses = Floats([Float](repeating: 1 / Float(BT - 1), count: BT))
        matmulForward(out: logits.p, inp: x.p, weight: w.p, bias: nil, BT: BT, C: C, OC: V)
        targets.withUnsafeBufferPointer { t in
            softmaxCrossEntropyForward(
                losses: plainLosses.p, probs: probs.p, logits: logits.p,
                targets: t.baseAddress!, BT: BT, V: V)
            softmaxCrossEntropyBackward(
                dlogits: dlogits.p, dlosses: dlosses.p, probs: probs.p,
                targets: t.baseAddress!, BT: BT, V: V)
        }
        matmulBackward(
            dinp: pdx.p, dweight: pdw.p, dbias: nil, dout: dlogits.p, inp: x.p, weight: w.p,
            BT: BT, C: C, OC: V)
        #expect(plainLosses[4] == 0 && losses[4] == 0)
        #expect(scaledError(losses.p, plainLosses.p, BT) < 1e-5)
        #expect(scaledError(dx.p, pdx.p, BT * C) < 1e-5)
        #expect(scaledError(dw.p, pdw.p, V * C) < 1e-5)
    }

    @Test func gradientCheck() {
        let (BT, C, V) = (5, 4, 7)
        var rng = TestRandom(seed: 8)
        let x = Floats(normal: BT * C, rng: &rng)
        let w = Floats(normal: V * C, rng: &rng)
        let targets: [Int32] = [2, -1, 6, 0, 2]
        let (_, _, dx, dw) = fused(x, w, targets, C: C, V: V, chunk: 2)
        let loss = { fused(x, w, targets, C: C, V: V, chunk: 2).0 }
        #expect(
            GradientCheck.maxError(
                of: x.p, count: x.count, analytic: dx.p, eps: 1e-2,
                precise: true, loss: loss) < 2e-3)
        #expect(
            GradientCheck.maxError(
                of: w.p, count: w.count, analytic: dw.p, eps: 1e-2,
                precise: true, loss: loss) < 2e-3)
    }
}

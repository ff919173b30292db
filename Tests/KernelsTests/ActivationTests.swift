// GELU, SwiGLU, residual and embedding: golden values, gradient checks, vector exp/tanh accuracy.
import Foundation
import Kernels
import TestSupport
import Testing

struct ActivationTests {
    @Test func vectorExpIsAccurate() {
        var worst = 0.0
        var x: Float = -87
        while x < 88 {
            let got = Double(vexp(Vec8(repeating: x))[0])
            worst = max(worst, abs(got - exp(Double(x))) / exp(Double(x)))
            x += 0.0137
        }
        #expect(worst < 2e-7)
        #expect(vexp(Vec8(repeating: -1e4))[0] < 1e-37)
        #expect(vtanh(Vec16(repeating: 50))[0] == 1)
        #expect(vtanh(Vec16(repeating: -50))[0] == -1)
    }

    /// vsqrt gives Float.squareRoot()'s bits in every lane: zeros, subnormals, ordinary and huge
    /// values, infinity, and NaN for negatives.
    @Test func vectorSquareRootMatchesScalar() {
        var inputs: [Float] = [
            0, -0, .leastNonzeroMagnitude, .leastNormalMagnitude / 1024, 1e-30, 0.25, 1, 2, 3, 1e10,
            .greatestFiniteMagnitude,
        ]
        inputs += [.infinity, -1, 7e-8, 0.95, 123.456]
        var rng = TestRandom(seed: 3)
        inputs += (0..<64).map { _ in Float(rng.uniform()) * 100 }
        var i = 0
        while i + 8 <= inputs.count {
            let x = Vec8(inputs[i..<i + 8])
            let got = vsqrt(x)
            for lane in 0..<8 {
                let want = x[lane].squareRoot()
                #expect(
                    got[lane].bitPattern == want.bitPattern || (got[lane].isNaN && want.isNaN), "sqrt(\(x[lane]))")
            }
            i += 8
        }
    }

    @Test func geluGolden() {
        let g = KernelGolden["gelu"]
        let N = g.dim("N")
        let x = g.floats("inp")
        let dout = g.floats("dout")
        let out = Floats(N)
        let dx = Floats(N)
        geluForward(out: out.p, inp: x.p, N: N)
        geluBackward(dinp: dx.p, inp: x.p, dout: dout.p, N: N)
        #expect(scaledError(out.p, g.values("out")) < 1e-6)
        #expect(scaledError(dx.p, g.values("dinp")) < 1e-6)
    }

    /// The training pair (forward keeping gelu', backward one multiply) gives the same bits as
    /// geluForward and geluBackward, lanes and scalar tail alike, with outputs aliasing inputs.
    @Test func geluKeptDerivativeIsBitIdentical() {
        var rng = TestRandom(seed: 12)
        let N = 37
        let x = Floats(normal: N, scale: 3, rng: &rng)
        let dout = Floats(normal: N, rng: &rng)
        let out = Floats(N)
        let dx = Floats(N)
        geluForward(out: out.p, inp: x.p, N: N)
        geluBackward(dinp: dx.p, inp: x.p, dout: dout.p, N: N, accumulate: false)
        let kept = x.copy()  // derivative written over its input, as the model does
        let out2 = Floats(N)
        geluForward(out: out2.p, derivative: kept.p, inp: kept.p, N: N)
        #expect(out2.array == out.array)
        let dx2 = dout.copy()  // gradient written over dout, as the model does
        geluBackward(dinp: dx2.p, derivative: kept.p, dout: dx2.p, N: N)
        #expect(dx2.array == dx.array)
    }

    @Test func swigluGolden() {
        let g = KernelGolden["swiglu"]
        let (N, H) = (g.dim("N"), g.dim("H"))
        let x = g.floats("inp")
        let dout = g.floats("dout")
        let out = Floats(N * H)
        let dx = Floats(2 * N * H)
        swigluForward(out: out.p, inp: x.p, N: N, H: H)
        swigluBackward(dinp: dx.p, inp: x.p, dout: dout.p, N: N, H: H)
        #expect(scaledError(out.p, g.values("out")) < 1e-6)
        #expect(scaledError(dx.p, g.values("dinp")) < 1e-6)
    }

    @Test func geluAndSwigluGradientCheck() {
        var rng = TestRandom(seed: 9)
        let N = 19
        let H = 11
        let x = Floats(normal: N, scale: 2, rng: &rng)
        let dout = Floats(normal: N, rng: &rng)
        let out = Floats(N)
        let dx = Floats(N)
        geluBackward(dinp: dx.p, inp: x.p, dout: dout.p, N: N)
        #expect(
            GradientCheck.maxError(of: x.p, count: N, analytic: dx.p, eps: 1e-2, precise: true) {
                geluForward(out: out.p, inp: x.p, N: N)
                return weightedSum(out.p, dout.p, N)
            } < 2e-3)
        let h = Floats(normal: 2 * 2 * H, scale: 2, rng: &rng)
        let dh = Floats(2 * 2 * H)
        let dsw = Floats(normal: 2 * H, rng: &rng)
        let sw = Floats(2 * H)
        swigluBackward(dinp: dh.p, inp: h.p, dout: dsw.p, N: 2, H: H)
        #expect(
            GradientCheck.maxError(
                of: h.p, count: h.count, analytic: dh.p, eps: 1e-2, precise: true
            ) {
                swigluForward(out: sw.p, inp: h.p, N: 2, H: H)
                return weightedSum(sw.p, dsw.p, 2 * H)
            } < 2e-3)
    }

    @Test func residualAddsAndSplitsGradient() {
        let a = Floats([1, 2, 3])
        let b = Floats([10, 20, 30])
        let out = Floats(3)
        residualForward(out: out.p, a: a.p, b: b.p, N: 3)
        #expect(out.array == [11, 22, 33])
        let da = Floats([1, 1, 1])
        let db = Floats(3)
        let dout = Floats([0.5, -1, 2])
        residualBackward(da: da.p, db: db.p, dout: dout.p, N: 3)
        #expect(da.array == [1.5, 0, 3])
        #expect(db.array == [0.5, -1, 2])
    }

    @Test func embeddingGolden() {
        let g = KernelGolden["embedding"]
        let (BT, C, V) = (g.dim("BT"), g.dim("C"), g.dim("V"))
        let wte = g.floats("wte")
        let dout = g.floats("dout")
        let tokens = g.ints("tokens")
        let out = Floats(BT * C)
        let dwte = Floats(V * C)
        tokens.withUnsafeBufferPointer { tok in
            embeddingForward(out: out.p, tokens: tok.baseAddress!, wte: wte.p, BT: BT, C: C)
            embeddingBackward(dwte: dwte.p, dout: dout.p, tokens: tok.baseAddress!, BT: BT, C: C)
        }
        #expect(scaledError(out.p, g.values("out")) < 1e-7)
        #expect(scaledError(dwte.p, g.values("dwte")) < 1e-6)
    }
}

struct EmbeddingGradientTests {
    @Test func gradientCheck() {
        let (V, C) = (5, 3)
        let tokens: [Int32] = [4, 0, 4, 2]
        var rng = TestRandom(seed: 12)
        let wte = Floats(normal: V * C, rng: &rng)
        let dout = Floats(normal: tokens.count * C, rng: &rng)
        let out = Floats(tokens.count * C)
        let dwte = Floats(V * C)
        embeddingBackward(dwte: dwte.p, dout: dout.p, tokens: tokens, BT: tokens.count, C: C)
        #expect(
            GradientCheck.maxError(of: wte.p, count: wte.count, analytic: dwte.p) {
                embeddingForward(out: out.p, tokens: tokens, wte: wte.p, BT: tokens.count, C: C)
                return weightedSum(out.p, dout.p, out.count)
            } < 1e-3)
    }
}

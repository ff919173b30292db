// `accumulate: false` (the model's way of skipping a memset per gradient buffer per layer): the
// result must equal accumulating into zeros, bit for bit, whatever the buffer held before (NaN
// here, the worst case of a stale buffer).
import Kernels
import TestSupport
import Testing

struct OverwriteTests {
    /// Runs `kernel` into a zeroed buffer with accumulate true, and into a NaN-filled one with
    /// accumulate false; returns both.
    func both(_ count: Int, _ kernel: (UnsafeMutablePointer<Float>, Bool) -> Void) -> ([Float], [Float]) {
        let zeroed = Floats(count)
        let stale = Floats(count, value: .nan)
        kernel(zeroed.p, true)
        kernel(stale.p, false)
        return (zeroed.array, stale.array)
    }

    @Test(arguments: [1, 8, 37])
    func activationsOverwrite(N: Int) {
        var rng = TestRandom(seed: UInt64(N))
        let x = Floats(normal: 2 * N, scale: 2, rng: &rng)
        let dout = Floats(normal: N, rng: &rng)
        let (a, b) = both(N) { geluBackward(dinp: $0, inp: x.p, dout: dout.p, N: N, accumulate: $1) }
        #expect(a == b)
        let (c, d) = both(2 * N) { swigluBackward(dinp: $0, inp: x.p, dout: dout.p, N: 1, H: N, accumulate: $1) }
        #expect(c == d)
    }

    @Test func matmulOverwritesDinpOnly() {
        let (BT, C, OC) = (7, 9, 5)
        var rng = TestRandom(seed: 2)
        let x = Floats(normal: BT * C, rng: &rng)
        let w = Floats(normal: OC * C, rng: &rng)
        let dout = Floats(normal: BT * OC, rng: &rng)
        let (a, b) = both(BT * C) {
            matmulBackward(
                dinp: $0, dweight: nil, dbias: nil, dout: dout.p, inp: x.p, weight: w.p, BT: BT, C: C, OC: OC,
                accumulate: $1)
        }
        #expect(a == b)
        // dweight still accumulates: twice with accumulate false is twice the gradient
        let dw = Floats(OC * C)
        let once = Floats(OC * C)
        let dx = Floats(BT * C)
        matmulBackward(
            dinp: nil, dweight: once.p, dbias: nil, dout: dout.p, inp: x.p, weight: w.p, BT: BT, C: C, OC: OC)
        for _ in 0..<2 {
            matmulBackward(
                dinp: dx.p, dweight: dw.p, dbias: nil, dout: dout.p, inp: x.p, weight: w.p, BT: BT, C: C, OC: OC,
                accumulate: false)
        }
        for i in 0..<OC * C { #expect(abs(dw[i] - 2 * once[i]) < 1e-5) }
    }

    @Test(arguments: [1, 3, 16])
    func classifierOverwrites(chunk: Int) {
        let (BT, C, V) = (11, 6, 13)
        var rng = TestRandom(seed: 5)
        let x = Floats(normal: BT * C, rng: &rng)
        let w = Floats(normal: V * C, rng: &rng)
        let targets: [Int32] = (0..<BT).map { $0 == 3 ? -1 : Int32(rng.int(0..<V)) }
        var results: [[Float]] = []
        for accumulate in [true, false] {
            let dx = Floats(BT * C, value: accumulate ? 0 : .nan)
            let dw = Floats(V * C, value: accumulate ? 0 : .nan)
            let losses = Floats(BT)
            let scratch = Floats(chunk * V)
            targets.withUnsafeBufferPointer { t in
                _ = fusedClassifier(
                    losses: losses.p, dinp: dx.p, dweight: dw.p, scratch: scratch.p, inp: x.p, weight: w.p,
                    targets: t.baseAddress!, dlossScale: 0.1, BT: BT, C: C, V: V, chunk: chunk,
                    accumulate: accumulate)
            }
            results.append(dx.array + dw.array + losses.array)
        }
        #expect(results[0] == results[1])
    }
}

// AdamW against float64 numpy (golden_adamw.py): three steps with changing learning rates,
// decoupled weight decay on the first segment only, gradients pre-scaled by 0.5.
import Foundation
import Testing

@testable import Training

// Output of `python3 Tests/TrainingTests/golden_adamw.py`.
let paramsAfterStep1: [Double] = [
    4.895000001585e-01, -3.096999998212e-01, 1.098999996987e-01, 8.091999998643e-01, -1.188800001605e+00,
    4.000000014215e-02, -9.999999772048e-03, 2.009999999787e+00,
]
let paramsAfterStep2: [Double] = [
    4.843102049925e-01, -3.117831559476e-01, 1.143897341489e-01, 8.135021002377e-01, -1.191610760978e+00,
    3.500142639808e-02, -1.018493230955e-02, 2.014755852322e+00,
]
let paramsAfterStep3: [Double] = [
    4.660325272047e-01, -3.029841556972e-01, 1.330468199815e-01, 8.143239055670e-01, -1.205504865042e+00,
    2.054780795326e-02, 9.550463530667e-04, 2.033744026681e+00,
]
let mAfter3: [Double] = [
    1.505961278081e-01, -8.341626119614e-02, -1.952236405611e-01, -2.102792680264e-02, 1.839737470970e-01,
    1.194534490108e-01, -1.200664325655e-01, -1.836887114644e-01,
]
let vAfter3: [Double] = [
    5.880277597325e-02, 8.087175524238e-02, 8.300573404455e-02, 5.727959691372e-02, 9.923449490114e-02,
    5.305926977740e-02, 9.023843444303e-02, 7.269684585306e-02,
]

struct AdamWTests {
    func grads(step: Int) -> [Float] {
        (0..<8).map { i in Float(sin(1.3 * Double(i) + Double(step)) * (1 + 0.5 * Double(step))) }
    }

    func close(_ a: [Float], _ b: [Double], tol: Double = 2e-6) -> Bool {
        zip(a, b).allSatisfy { abs(Double($0) - $1) <= tol * max(1, abs($1)) }
    }

    @Test(arguments: [false, true])
    func threeStepsMatchNumpy(splitRanges: Bool) {
        var params: [Float] = [0.5, -0.3, 0.1, 0.8, -1.2, 0.05, 0.0, 2.0]
        let opt = AdamW(
            count: 8, segments: [ParameterSegment(offset: 0, count: 5, decay: true)],
            settings: AdamWSettings(beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1))
        let expected = [paramsAfterStep1, paramsAfterStep2, paramsAfterStep3]
        for (t, lr) in [1e-2, 5e-3, 2e-2].enumerated() {
            let g = grads(step: t + 1)
            params.withUnsafeMutableBufferPointer { p in
                g.withUnsafeBufferPointer { gp in
                    if splitRanges {
                        for r in [0..<3, 3..<8] {
                            opt.update(params: p.baseAddress!, grads: gp.baseAddress!, range: r, lr: lr, gradScale: 0.5)
                        }
                        opt.finishStep()
                    } else {
                        opt.step(params: p.baseAddress!, grads: gp.baseAddress!, lr: lr, gradScale: 0.5)
                    }
                }
            }
            #expect(close(params, expected[t]), "step \(t + 1): \(params)")
        }
        #expect(opt.t == 3)
        #expect(close(Array(opt.m), mAfter3))
        #expect(close(Array(opt.v), vAfter3))
    }

    /// The eight-lane loop against the scalar formula written out here, bit for bit, over
    /// segments and ranges that start and end off lane boundaries; updateAndClear zeroes exactly
    /// its range of the gradients.
    @Test func lanesMatchScalarFormula() {
        let P = 1003
        let settings = AdamWSettings(beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1)
        let segments = [
            ParameterSegment(offset: 3, count: 500, decay: true),
            ParameterSegment(offset: 611, count: 390, decay: true),
        ]
        let fast = AdamW(count: P, segments: segments, settings: settings)
        let decay = (0..<P).map { i in segments.contains { i >= $0.offset && i < $0.offset + $0.count } }
        var params = (0..<P).map { Float(sin(Double($0))) }
        var expected = params
        var m = [Float](repeating: 0, count: P)
        var v = m
        for step in 1...3 {
            var g = (0..<P).map { Float(cos(1.7 * Double($0 + step))) }
            let lr: Float = 1e-2
            let scale: Float = 0.7
            let bc1 = Float(1 - pow(0.9, Double(step)))
            let bc2 = Float(1 - pow(0.95, Double(step)))
            let (b1, b2) = (Float(0.9), Float(0.95))
            for i in 0..<P {
                let gi = g[i] * scale
                m[i] = b1 * m[i] + (1 - b1) * gi
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                let wd: Float = decay[i] ? 0.1 : 0
                expected[i] -= lr * ((m[i] / bc1) / ((v[i] / bc2).squareRoot() + 1e-8) + wd * expected[i])
            }
            params.withUnsafeMutableBufferPointer { p in
                g.withUnsafeMutableBufferPointer { gp in
                    for r in [0..<13, 13..<500, 500..<1003] {
                        fast.updateAndClear(
                            params: p.baseAddress!, grads: gp.baseAddress!, range: r, lr: Double(lr), gradScale: scale)
                    }
                }
            }
            fast.finishStep()
            #expect(params == expected, "step \(step)")
            #expect(g.allSatisfy { $0 == 0 })
        }
        #expect(Array(fast.m) == m)
        #expect(Array(fast.v) == v)
    }

    /// The trainer's gradient reduction: a weighted sum into the first buffer, the others zeroed,
    /// and the sum of squares, over a range off lane boundaries.
    @Test func gradientReduction() {
        let P = 2100
        let bufs = (0..<3).map { k in
            let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: P)
            for i in 0..<P { b[i] = Float(k + 1) * Float(sin(Double(i))) }
            return b
        }
        defer { for b in bufs { b.deallocate() } }
        let weights: [Float] = [0.5, 0.25, 0.25]
        let range = 5..<2093
        let sumSq = sumGradients(bufs, weights: weights, range: range)
        var exact = 0.0
        for i in range {
            let s = Float(sin(Double(i)))
            let want = s * 0.5 + 2 * s * 0.25 + 3 * s * 0.25
            #expect(bufs[0][i] == want)
            #expect(bufs[1][i] == 0 && bufs[2][i] == 0)
            exact += Double(want) * Double(want)
        }
        #expect(abs(sumSq - exact) <= 1e-6 * exact)
        #expect(bufs[1][4] != 0 && bufs[2][2093] != 0)  // outside the range: untouched
        #expect(bufs[0][0] == Float(sin(0.0)) && bufs[0][2099] == Float(sin(2099.0)))
    }

    @Test func segmentsCoverTheArena() {
        let opt = AdamW(
            count: 10,
            segments: [
                ParameterSegment(offset: 6, count: 2, decay: true), ParameterSegment(offset: 2, count: 3, decay: true),
            ],
            settings: AdamWSettings())
        #expect(opt.segments.map(\.offset) == [0, 2, 5, 6, 8])
        #expect(opt.segments.map(\.count).reduce(0, +) == 10)
        #expect(opt.segments.map(\.decay) == [false, true, false, true, false])
    }
}

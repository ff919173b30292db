// The warm-up + cosine schedule at its corners and against nanoGPT's get_lr written out by hand.
import Foundation
import Testing
import Training

struct LRScheduleTests {
    let s = LRSchedule(maxLR: 1e-3, minLR: 1e-4, warmup: 10, decaySteps: 110)

    @Test func warmupIsLinearFromOneStep() {
        #expect(s.lr(step: 0) == 1e-3 * 1 / 11)
        #expect(s.lr(step: 4) == 1e-3 * 5 / 11)
        #expect(s.lr(step: 9) == 1e-3 * 10 / 11)
    }

    @Test func cosineStartsAtPeakHalvesAtMidpointAndEndsAtFloor() {
        #expect(s.lr(step: 10) == 1e-3)
        #expect(abs(s.lr(step: 60) - 5.5e-4) < 1e-15)
        #expect(abs(s.lr(step: 110) - 1e-4) < 1e-15)
        #expect(s.lr(step: 111) == 1e-4)
        #expect(s.lr(step: 10_000) == 1e-4)
    }

    @Test func matchesNanoGPTFormula() {
        for step in [12, 35, 77, 99] {
            let ratio = Double(step - 10) / 100
            let expected = 1e-4 + 0.5 * (1 + cos(Double.pi * ratio)) * 9e-4
            #expect(abs(s.lr(step: step) - expected) < 1e-15)
        }
    }

    @Test func decreasesMonotonicallyAfterWarmup() {
        let values = (10...120).map { s.lr(step: $0) }
        #expect(zip(values, values.dropFirst()).allSatisfy { $0 >= $1 })
    }

    @Test func noWarmupStartsAtPeak() {
        let flat = LRSchedule(maxLR: 2e-3, minLR: 2e-3, warmup: 0, decaySteps: 50)
        #expect(flat.lr(step: 0) == 2e-3)
        #expect(flat.lr(step: 49) == 2e-3)
    }
}

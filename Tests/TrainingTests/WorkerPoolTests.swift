// The trainer's worker threads flush subnormal floats to zero (Basics/FloatEnvironment.swift): a
// confident model's underflowing probabilities and gradients otherwise cost an x86 core a
// microcode assist each (an S1 stick-breaking run trained 2.5 times slower without it).
import Basics
import Testing
import Training

struct WorkerPoolTests {
    @Test func everyWorkerFlushesSubnormalsAndRunsTheJob() {
        let pool = WorkerPool(threads: 3)
        let flushes = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 3)
        let halves = UnsafeMutableBufferPointer<Float>.allocate(capacity: 3)
        defer {
            flushes.deallocate()
            halves.deallocate()
        }
        let tiny = [Float.leastNormalMagnitude]
        pool.run { i in
            flushes[i] = FloatEnvironment.flushesSubnormals
            halves[i] = tiny[0] * 0.5
        }
        #expect(Array(flushes) == [true, true, true])
        #expect(Array(halves) == [0, 0, 0], "half the smallest normal float is flushed to zero")
    }
}

// The machine's measured fp32 matmul peak, the denominator of MFU (model FLOPs utilisation):
// the best 1024^3 OpenBLAS sgemm call on `threads` threads, over at least `repeats` calls and at
// least a quarter of a second (a shared VM loses whole slices of 0.1 s to its neighbours, and one
// disturbed burst of five calls once read 20% low). MFU against a measured
// sgemm peak, rather than a datasheet peak, says how close training gets to what BLAS itself
// achieves on this CPU.
import Basics
import Dispatch
import Kernels

public enum PeakFlops {
    /// FLOP/s of `threads`-thread sgemm (2 * n^3 FLOPs per call); restores `restoreThreads` after.
    public static func measure(
        threads: Int, n: Int = 1024, repeats: Int = 5, minSeconds: Double = 0.25, restoreThreads: Int = 1
    ) -> Double {
        let a = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * n)
        let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * n)
        let c = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * n)
        defer {
            a.deallocate()
            b.deallocate()
            c.deallocate()
        }
        var rng = SplitMix64(seed: 7)
        for i in 0..<(n * n) {
            a[i] = Float(rng.next() >> 40) * 0x1p-24 - 0.5
            b[i] = Float(rng.next() >> 40) * 0x1p-24 - 0.5
        }
        c.initialize(repeating: 0)
        BLAS.setThreads(threads)
        defer { BLAS.setThreads(restoreThreads) }
        var best = Double.infinity
        let begin = DispatchTime.now()
        var calls = 0
        while calls <= repeats || (secondsSince(begin) < minSeconds && calls < 200) {
            let start = DispatchTime.now()
            BLAS.gemm(
                M: n, N: n, K: n, A: a.baseAddress!, lda: n, B: b.baseAddress!, ldb: n, beta: 0,
                C: c.baseAddress!, ldc: n)
            best = min(best, secondsSince(start))
            calls += 1
        }
        return 2 * Double(n) * Double(n) * Double(n) / best
    }
}

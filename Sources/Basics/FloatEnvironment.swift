// The floating-point environment of the threads that train: subnormal floats flushed to zero.
//
// Why: once a model is confident (an S1 stick-breaking run past step 2,000, train loss near 1e-4),
// its probabilities, sigmoids and gradients underflow into subnormal floats, and on x86 every
// instruction that reads or writes one takes a microcode assist. Measured on 2026-12-07 (Intel
// Emerald Rapids, the other core busy): 500 steps of that run resumed from its step-10,000
// checkpoint trained at 17.0k tokens/s as the CPU left it and at 42.3k with flush-to-zero, to the
// same train loss (0.0229); its tokens/s had fallen from 62k at step 500 to 32k by step 5,000.
// GPUs and oneDNN's CPU kernels flush the same way. The mode is per thread and inherited by the
// threads a thread creates: the CLI sets it first thing, and WorkerPool's threads set it too, for
// library users.
import CFloatEnv

public enum FloatEnvironment {
    /// Makes the calling thread (and the threads it creates from now on) flush subnormal
    /// results and inputs to zero; false on a CPU without such a mode.
    @discardableResult
    public static func flushSubnormals() -> Bool { tracker_flush_subnormals() == 1 }

    /// Whether the calling thread flushes subnormals to zero.
    public static var flushesSubnormals: Bool { tracker_flushes_subnormals() == 1 }
}

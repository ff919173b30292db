// The calling thread's floating-point environment: flush subnormal floats to zero.
#ifndef CFLOATENV_H
#define CFLOATENV_H

/// Makes the calling thread flush subnormal results to zero and read subnormal inputs as zero
/// (x86: MXCSR FTZ and DAZ; AArch64: FPCR FZ). Threads created afterwards by this thread
/// inherit the setting. Returns 1 when the CPU has such a mode, else 0.
int tracker_flush_subnormals(void);

/// 1 when the calling thread flushes subnormals to zero, else 0.
int tracker_flushes_subnormals(void);

#endif

// Flush-to-zero for the calling thread (see CFloatEnv.h). A subnormal float costs an x86 core a
// microcode assist of about a hundred cycles in every instruction that reads or writes one.
#include "CFloatEnv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
// MXCSR bit 15 (FTZ: subnormal results become 0) and bit 6 (DAZ: subnormal inputs read as 0).
#define TRACKER_FTZ_DAZ 0x8040u

int tracker_flush_subnormals(void) {
    _mm_setcsr(_mm_getcsr() | TRACKER_FTZ_DAZ);
    return 1;
}

int tracker_flushes_subnormals(void) { return (_mm_getcsr() & TRACKER_FTZ_DAZ) == TRACKER_FTZ_DAZ; }

#elif defined(__aarch64__)
// FPCR bit 24 (FZ).
#define TRACKER_FZ (1ull << 24)

int tracker_flush_subnormals(void) {
    unsigned long long fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr | TRACKER_FZ));
    return 1;
}

int tracker_flushes_subnormals(void) {
    unsigned long long fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    return (fpcr & TRACKER_FZ) != 0;
}

#else
int tracker_flush_subnormals(void) { return 0; }
int tracker_flushes_subnormals(void) { return 0; }
#endif

// SHA-256's compression function on the CPU's SHA extensions (x86 SHA-NI), for Basics' SHA256.
// The Swift implementation stays the reference and the fallback where the extensions are missing.
#ifndef TRACKER_CSHA256_H
#define TRACKER_CSHA256_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has the SHA extensions (and SSSE3/SSE4.1), else 0.
int tracker_sha256_hw_available(void);

/// Runs the compression function over `blocks` 64-byte blocks of `data`, updating `state`
/// (the eight working words a..h). Call only when tracker_sha256_hw_available() is 1.
void tracker_sha256_hw_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

#endif

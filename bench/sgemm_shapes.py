#!/usr/bin/env python3
"""What the sgemm calls of training config A can reach: the ceiling under its MFU.

tracker trains with two workers, each calling single-threaded OpenBLAS on half the batch, while
MFU is measured against the best 2-thread sgemm 1024^3 (the peak `tracker train` reports). This
script times, with the same libopenblas.so.0 and the same OPENBLAS_* environment as tracker, every
product shape of one config A step (C 256, L 4, T 256, B 8, V 8192: 1,024 tokens a worker) on one
thread in two processes at once (as the workers run), then the 2-thread 1024^3 peak, and prints
the FLOP-weighted rate of the step's products as a fraction of the peak's per-core share: the MFU
that training would reach if nothing but these products took time.
Usage: python3 bench/sgemm_shapes.py [seconds per shape, default 0.2] [peak GFLOP/s]
With a peak (bench/train_speed.sh passes the best one `tracker train` measured in its pass), the
ceiling is against it instead of this script's own 2-thread measurement; the last line is then
`ceiling=X` for the caller. Run it with the OPENBLAS_CORETYPE that tracker chose (it prints it).
"""
import ctypes
import multiprocessing as mp
import sys
import time

import numpy as np

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 0.2
GIVEN_PEAK = float(sys.argv[2]) if len(sys.argv) > 2 else None
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
L, C, H, V, TOKENS = 4, 256, 1024, 8192, 1024
# (name, transA, transB, M, N, K, beta, calls per step per worker); y = x W^T forward,
# dx = dy W and dW += dy^T x backward, for qkv, the attention output, fc, proj and the LM head
SHAPES = [
    ("qkv forward", 0, 1, TOKENS, 3 * C, C, 0, L), ("attn out forward", 0, 1, TOKENS, C, C, 1, L),
    ("fc forward", 0, 1, TOKENS, H, C, 0, L), ("proj forward", 0, 1, TOKENS, C, H, 1, L),
    ("head forward", 0, 1, TOKENS, V, C, 0, 1),
    ("qkv dx", 0, 0, TOKENS, C, 3 * C, 1, L), ("qkv dW", 1, 0, 3 * C, C, TOKENS, 1, L),
    ("attn out dx", 0, 0, TOKENS, C, C, 0, L), ("attn out dW", 1, 0, C, C, TOKENS, 1, L),
    ("fc dx", 0, 0, TOKENS, C, H, 1, L), ("fc dW", 1, 0, H, C, TOKENS, 1, L),
    ("proj dx", 0, 0, TOKENS, H, C, 0, L), ("proj dW", 1, 0, C, H, TOKENS, 1, L),
    ("head dx", 0, 0, TOKENS, C, V, 0, 1), ("head dW", 1, 0, V, C, TOKENS, 1, 1),
]


def library(threads):
    lib = ctypes.CDLL("libopenblas.so.0")
    lib.openblas_set_num_threads(threads)
    lib.openblas_get_config.restype = ctypes.c_char_p
    return lib


def rate(lib, ta, tb, M, N, K, beta):
    """Best GFLOP/s of C (M,N) = op(A) op(B) + beta C over 5 rounds of SECONDS each."""
    a = np.random.rand(M * K).astype(np.float32)
    b = np.random.rand(K * N).astype(np.float32)
    c = np.zeros(M * N, np.float32)
    args = (ROW_MAJOR, TRANS if ta else NO_TRANS, TRANS if tb else NO_TRANS, M, N, K, ctypes.c_float(1.0),
            a.ctypes.data_as(ctypes.c_void_p), M if ta else K, b.ctypes.data_as(ctypes.c_void_p), K if tb else N,
            ctypes.c_float(beta), c.ctypes.data_as(ctypes.c_void_p), N)
    best = 0.0
    for _ in range(5):
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < SECONDS:
            lib.cblas_sgemm(*args)
            n += 1
        best = max(best, 2 * M * N * K * n / (time.perf_counter() - start) / 1e9)
    return best


def worker(queue):
    lib = library(1)
    queue.put([rate(lib, *s[1:7]) for s in SHAPES])


if __name__ == "__main__":
    queue = mp.Queue()
    procs = [mp.Process(target=worker, args=(queue,)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    lib = library(2)
    peak = rate(lib, 0, 0, 1024, 1024, 1024, 0)
    print(f"OpenBLAS: {lib.openblas_get_config().decode()}")
    print(f"2-thread sgemm 1024^3 (the MFU peak): {peak:.1f} GFLOP/s, {peak / 2:.1f} per core")
    print(f"{'product':18} {'M':>5} {'N':>5} {'K':>5} {'GFLOP/s, 1 thread, 2 at once':>29} {'of the step':>12}")
    flops = [2 * s[3] * s[4] * s[5] * s[7] for s in SHAPES]
    total = sum(flops)
    per_shape = [min(r[i] for r in results) for i in range(len(SHAPES))]
    for s, f, g in zip(SHAPES, flops, per_shape):
        print(f"{s[0]:18} {s[3]:5} {s[4]:5} {s[5]:5} {g:29.1f} {100 * f / total:11.1f}%")
    weighted = total / sum(f / g for f, g in zip(flops, per_shape))
    print(f"FLOP-weighted rate of the step's products: {weighted:.1f} GFLOP/s a core, "
          f"{weighted / (peak / 2):.3f} of the peak's per-core share (the MFU ceiling of these products alone)")
    if GIVEN_PEAK:
        print(f"against the given peak, {GIVEN_PEAK:.1f} GFLOP/s: {weighted / (GIVEN_PEAK / 2):.3f}")
        print(f"ceiling={weighted / (GIVEN_PEAK / 2):.4f}")

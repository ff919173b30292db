// Float arenas for the engine's large buffers (parameters, gradients, optimizer moments, per-thread
// workspaces): 2 MiB aligned and advised as transparent huge pages where Linux has them in
// "madvise" mode (this machine's default). BLAS packing reads its operands with row strides of
// kilobytes (a 512 x 8192 logits chunk is 16 MiB: one 4 KiB page per row touched), and AdamW and
// the gradient sum stream tens of MiB per step; with 2 MiB pages those walks stay within the TLB.
// The arithmetic is unchanged: only where the floats live.
#if canImport(Glibc)
    import Glibc
#endif

public enum LargeFloats {
    /// The huge page size advised for (x86_64 and aarch64 Linux with 4 KiB base pages).
    public static let hugePageBytes = 2 << 20

    /// Uninitialised room for `count` floats (at least one): 2 MiB aligned and advised as huge
    /// pages from 2 MiB up, else 64-byte aligned. Free it with `deallocate`.
    public static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let huge = bytes >= hugePageBytes
        let size = huge ? (bytes + hugePageBytes - 1) / hugePageBytes * hugePageBytes : bytes
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, huge ? hugePageBytes : 64, size) == 0, let raw else {
            fatalError(
                "out of memory: could not allocate \(size >> 20) MiB for the model; use a smaller batch or model")
        }
        #if os(Linux)
            if huge { _ = madvise(raw, size, MADV_HUGEPAGE) }  // advice only: ignored where unsupported
        #endif
        return raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// `allocate`, filled with zeros, as a buffer of `count` floats.
    public static func zeros(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        let p = allocate(count)
        p.initialize(repeating: 0, count: max(count, 1))
        return UnsafeMutableBufferPointer(start: p, count: count)
    }

    /// Frees what `allocate` or `zeros` returned.
    public static func deallocate(_ p: UnsafeMutablePointer<Float>?) { free(p) }
}

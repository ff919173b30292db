// BLAS: the one door to OpenBLAS. Row-major sgemm with llm.c's weight layout (OC, C), and the
// thread count. The trainer runs two workers that each call single-threaded BLAS, so the engine
// sets `BLAS.setThreads(1)` before training; see ggml-blas.cpp for the same CblasRowMajor usage.
//
// OpenBLAS is opened with dlopen on first use instead of being linked: a linked OpenBLAS starts
// its thread pool when the process loads, and those threads spin (sched_yield) for about 0.1 s
// on the other core, which every command paid, `tracker --help` and `tracker report` included,
// though only training, sampling and the attention command multiply matrices.
import Basics
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public enum BLAS {
    /// Sets the number of OpenBLAS threads for every later call in this process.
    public static func setThreads(_ n: Int) {
        precondition(n >= 1, "BLAS thread count must be at least 1")
        OpenBLAS.shared.setThreads?(Int32(n))
    }

    /// The number of threads OpenBLAS will use.
    public static var threads: Int { Int(OpenBLAS.shared.getThreads?() ?? 1) }

    /// OpenBLAS's build line with the kernel family it runs, e.g. "OpenBLAS 0.3.21 NO_LAPACKE
    /// DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"; nil for another BLAS.
    public static var configuration: String? { OpenBLAS.shared.getConfig?().map { String(cString: $0) } }

    /// The kernel family OpenBLAS runs on this CPU, e.g. "Haswell" (AVX2) or "Cooperlake" (AVX-512).
    public static var coreName: String? { OpenBLAS.shared.getCoreName?().map { String(cString: $0) } }

    /// OpenBLAS's kernel families that use AVX-512.
    static let avx512Cores: Set<String> = ["SkylakeX", "Cooperlake", "SapphireRapids"]

    /// Advice when OPENBLAS_CORETYPE pins OpenBLAS to kernels without AVX-512 on a CPU that has it
    /// (a container image may set it for every process): matrix products then run on half-width
    /// vectors. nil when nothing is pinned, the CPU lacks AVX-512, or the kernels use it.
    public static func kernelAdvice(core: String?, pinned: String?, cpuFlags: Set<String>) -> String? {
        guard let pinned, !pinned.isEmpty, let core, !avx512Cores.contains(core) else { return nil }
        guard ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(cpuFlags.contains) else { return nil }
        return "OPENBLAS_CORETYPE=\(pinned) holds OpenBLAS to its \(core) kernels on this AVX-512 CPU; "
            + "`env -u OPENBLAS_CORETYPE` lets it pick AVX-512 ones, up to twice as fast where the cores "
            + "have full-width AVX-512 units (README: Performance)"
    }

    /// The kernel family for a CPU with these feature flags: "SkylakeX" with AVX-512 (F, BW, DQ,
    /// VL), "Haswell" with AVX2 and FMA, else nil (OpenBLAS's own choice is as good).
    public static func kernelFamily(cpuFlags: Set<String>) -> String? {
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(cpuFlags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(cpuFlags.contains) { return "Haswell" }
        return nil
    }

    /// The family `chooseKernels` pinned in this process, nil when it pinned none (the user's
    /// OPENBLAS_CORETYPE, a CPU without AVX2, or not called yet).
    public nonisolated(unsafe) private(set) static var chosenKernels: String?

    /// Sets OPENBLAS_CORETYPE from this CPU's flags unless it is set already; OpenBLAS reads it
    /// once, when it is loaded, so this runs before the first matrix product (the CLI calls it
    /// first thing, while the process has one thread; the loader calls it again, a no-op then).
    /// Why: an OpenBLAS older than the CPU does not recognise its model number and falls back to
    /// its SSE3 "Prescott" kernels. Debian 12's 0.3.21 does so on Intel's Emerald Rapids (family
    /// 6, model 207): sgemm 1024^3 on one thread ran at 32.5 GFLOP/s, and at 155.5 with
    /// OPENBLAS_CORETYPE=SkylakeX (2026-12-07). On a CPU it recognises, the pin names the
    /// kernels it would pick itself (its AVX-512 families share the SkylakeX sgemm; Zen's are
    /// Haswell's). Set OPENBLAS_CORETYPE yourself to choose otherwise.
    public static func chooseKernels() {
        guard getenv("OPENBLAS_CORETYPE") == nil, let family = kernelFamily(cpuFlags: CPUInfo.flags()) else { return }
        setenv("OPENBLAS_CORETYPE", family, 0)
        chosenKernels = family
    }

    /// `kernelAdvice` for this process: the loaded OpenBLAS, its environment and this CPU.
    public static func kernelAdvice() -> String? {
        kernelAdvice(
            core: coreName, pinned: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"],
            cpuFlags: CPUInfo.flags())
    }

    /// C (M,N) = alpha * op(A) * op(B) + beta * C, all row-major.
    /// op(A) is (M,K): A is (M,K) with leading dimension lda, or (K,M) if transA.
    /// op(B) is (K,N): B is (K,N) with leading dimension ldb, or (N,K) if transB.
    @inlinable
    public static func gemm(
        transA: Bool = false, transB: Bool = false, M: Int, N: Int, K: Int, alpha: Float = 1,
        A: UnsafePointer<Float>, lda: Int, B: UnsafePointer<Float>, ldb: Int,
        beta: Float, C: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if M == 0 || N == 0 { return }
        OpenBLAS.shared.sgemm(
            OpenBLAS.rowMajor, transA ? OpenBLAS.trans : OpenBLAS.noTrans, transB ? OpenBLAS.trans : OpenBLAS.noTrans,
            Int32(M), Int32(N), Int32(K), alpha, A, Int32(lda), B, Int32(ldb), beta, C, Int32(ldc))
    }
}

/// The OpenBLAS entry points, resolved once from the shared library (32-bit integer interface,
/// Debian's libopenblas0).
@usableFromInline
struct OpenBLAS: @unchecked Sendable {
    @usableFromInline typealias SGEMM =
        @convention(c) (
            Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32,
            Float, UnsafeMutablePointer<Float>?, Int32
        ) -> Void

    // cblas.h: CBLAS_ORDER and CBLAS_TRANSPOSE values.
    @usableFromInline static let rowMajor: Int32 = 101
    @usableFromInline static let noTrans: Int32 = 111
    @usableFromInline static let trans: Int32 = 112

    @usableFromInline let sgemm: SGEMM
    let setThreads: (@convention(c) (Int32) -> Void)?
    let getThreads: (@convention(c) () -> Int32)?
    let getConfig: (@convention(c) () -> UnsafePointer<CChar>?)?
    let getCoreName: (@convention(c) () -> UnsafePointer<CChar>?)?

    /// Library names tried in order: OpenBLAS's soname, its development link, the generic BLAS
    /// (which has no thread control).
    static let libraries = ["libopenblas.so.0", "libopenblas.so", "libblas.so.3"]

    @usableFromInline static let shared: OpenBLAS = {
        BLAS.chooseKernels()
        var errors: [String] = []
        for name in libraries {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL) else {
                errors.append(String(cString: dlerror()))
                continue
            }
            guard let sgemm = dlsym(handle, "cblas_sgemm") else {
                errors.append("\(name) has no cblas_sgemm")
                continue
            }
            return OpenBLAS(
                sgemm: unsafeBitCast(sgemm, to: SGEMM.self),
                setThreads: dlsym(handle, "openblas_set_num_threads").map {
                    unsafeBitCast($0, to: (@convention(c) (Int32) -> Void).self)
                },
                getThreads: dlsym(handle, "openblas_get_num_threads").map {
                    unsafeBitCast($0, to: (@convention(c) () -> Int32).self)
                },
                getConfig: dlsym(handle, "openblas_get_config").map {
                    unsafeBitCast($0, to: (@convention(c) () -> UnsafePointer<CChar>?).self)
                },
                getCoreName: dlsym(handle, "openblas_get_corename").map {
                    unsafeBitCast($0, to: (@convention(c) () -> UnsafePointer<CChar>?).self)
                })
        }
        fatalError(
            "tracker needs OpenBLAS to multiply matrices and could not load it (\(errors.joined(separator: "; "))): "
                + "install it, e.g. `apt-get install libopenblas0`")
    }()
}

// What tracker says about the loaded OpenBLAS: its build line and kernel family, and the advice
// when OPENBLAS_CORETYPE pins AVX2 kernels on a CPU with AVX-512 (and only then).
import Kernels
import Testing

struct BLASInfoTests {
    let avx512: Set<String> = ["avx2", "avx512f", "avx512bw", "avx512dq", "avx512vl"]

    @Test func loadedOpenBLASNamesItsKernels() throws {
        let configuration = try #require(BLAS.configuration, "tracker loads OpenBLAS (libopenblas0)")
        let core = try #require(BLAS.coreName)
        #expect(configuration.hasPrefix("OpenBLAS"))
        #expect(configuration.contains(core), "the build line names the kernel family in use")
    }

    @Test func advisesOnlyWhenAPinHoldsAnAVX512CPUToNarrowerKernels() throws {
        let advice = try #require(BLAS.kernelAdvice(core: "Haswell", pinned: "Haswell", cpuFlags: avx512))
        #expect(advice.contains("OPENBLAS_CORETYPE=Haswell") && advice.contains("env -u OPENBLAS_CORETYPE"))
        // not pinned: OpenBLAS chose for itself
        #expect(BLAS.kernelAdvice(core: "Haswell", pinned: nil, cpuFlags: avx512) == nil)
        #expect(BLAS.kernelAdvice(core: "Haswell", pinned: "", cpuFlags: avx512) == nil)
        // pinned to AVX-512 kernels already
        #expect(BLAS.kernelAdvice(core: "SkylakeX", pinned: "SkylakeX", cpuFlags: avx512) == nil)
        #expect(BLAS.kernelAdvice(core: "Cooperlake", pinned: "Cooperlake", cpuFlags: avx512) == nil)
        // a CPU without (all of) AVX-512
        #expect(BLAS.kernelAdvice(core: "Haswell", pinned: "Haswell", cpuFlags: ["avx2", "avx512f"]) == nil)
        #expect(BLAS.kernelAdvice(core: "Haswell", pinned: "Haswell", cpuFlags: []) == nil)
        // another BLAS (no core name)
        #expect(BLAS.kernelAdvice(core: nil, pinned: "Haswell", cpuFlags: avx512) == nil)
    }
}

// What tracker says about the loaded OpenBLAS: its build line and kernel family, and the advice
// when OPENBLAS_CORETYPE pins AVX2 kernels on a CPU with AVX-512 (and only then).
import Basics
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

    @Test func choosesTheWidestKernelFamilyTheFlagsAllow() {
        #expect(BLAS.kernelFamily(cpuFlags: avx512.union(["fma"])) == "SkylakeX")
        #expect(BLAS.kernelFamily(cpuFlags: ["avx2", "fma", "avx512f"]) == "Haswell", "AVX-512F alone is not enough")
        #expect(BLAS.kernelFamily(cpuFlags: ["avx2", "fma"]) == "Haswell")
        #expect(BLAS.kernelFamily(cpuFlags: ["avx2"]) == nil)
        #expect(BLAS.kernelFamily(cpuFlags: ["sse4_2", "avx"]) == nil)
        #expect(BLAS.kernelFamily(cpuFlags: []) == nil)
    }

    /// Debian 12's OpenBLAS falls back to SSE3 kernels on CPUs newer than it (Emerald Rapids):
    /// loaded through tracker it must run the family this CPU's flags allow, unless the test's
    /// environment pinned one itself.
    @Test func loadedOpenBLASRunsTheKernelsThisCPUAllows() throws {
        let core = try #require(BLAS.coreName, "tracker loads OpenBLAS (libopenblas0)")
        guard let family = BLAS.kernelFamily(cpuFlags: CPUInfo.flags()), BLAS.chosenKernels != nil else { return }
        #expect(family == BLAS.chosenKernels)
        if family == "SkylakeX" {
            #expect(["SkylakeX", "Cooperlake", "SapphireRapids"].contains(core), "OpenBLAS runs \(core)")
        } else {
            #expect(!["Prescott", "Core2", "Nehalem", "Sandybridge"].contains(core), "OpenBLAS runs \(core)")
        }
    }
}

// /proc/cpuinfo parsing: the first processor's fields, flags as a set, missing fields as nil.
import Basics
import Testing

struct CPUInfoTests {
    let sample = """
        processor\t: 0
        vendor_id\t: AuthenticAMD
        model name\t: AMD EPYC 9B45
        flags\t\t: fpu sse2 avx2 avx512f avx512bw
        bogomips\t: 4800.00

        processor\t: 1
        model name\t: second processor
        flags\t\t: fpu

        """

    @Test func readsTheFirstProcessorsFields() {
        #expect(CPUInfo.field("model name", in: sample) == "AMD EPYC 9B45")
        #expect(CPUInfo.flags(in: sample) == ["fpu", "sse2", "avx2", "avx512f", "avx512bw"])
    }

    @Test func missingFieldsAreNilOrEmpty() {
        #expect(CPUInfo.field("model name", in: "processor : 0\n") == nil)
        #expect(CPUInfo.flags(in: "").isEmpty)
        #expect(CPUInfo.field("flags", in: "no colon here\n:\n") == nil)
    }

    @Test func thisMachineHasAModelName() {
        // Linux always has /proc/cpuinfo; its x86 and arm64 layouts both name the model.
        #expect(CPUInfo.modelName() != nil || CPUInfo.flags().isEmpty)
    }
}

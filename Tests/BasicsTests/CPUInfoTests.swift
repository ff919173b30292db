// /proc/cpuinfo parsing: the first processor's fields, flags as a set, missing fields as nil.
import Basics
import Foundation
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

    @Test func trimsBlanksAroundKeysAndValues() {
        let text = "  model name \t:\t  Some CPU  \t\nflags:a  b\n"
        #expect(CPUInfo.field("model name", in: text) == "Some CPU")
        #expect(CPUInfo.flags(in: text) == ["a", "b"])
        #expect(CPUInfo.field("model", in: text) == nil)
    }

    @Test func readsThisMachinesFileAsTextParsingDoes() throws {
        // The byte reader against the file read whole as a String, line by line.
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return }
        let lines = text.split(separator: "\n").map { $0.split(separator: ":", maxSplits: 1) }
        let flags = lines.first { $0.count == 2 && $0[0].trimmingCharacters(in: .whitespaces) == "flags" }
        #expect(CPUInfo.flags() == Set((flags?[1] ?? "").split(separator: " ").map(String.init)))
    }

    @Test func thisMachineHasAModelName() {
        // Linux always has /proc/cpuinfo; its x86 and arm64 layouts both name the model.
        #expect(CPUInfo.modelName() != nil || CPUInfo.flags().isEmpty)
    }
}

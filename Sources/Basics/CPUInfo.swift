// The processor, from /proc/cpuinfo (Linux): its model name and feature flags, for provenance and
// for advice such as "this CPU has AVX-512 but OpenBLAS is pinned to AVX2 kernels".
import Foundation

public enum CPUInfo {
    /// "model name" of the first processor, e.g. "AMD EPYC", or nil where /proc/cpuinfo is absent.
    public static func modelName() -> String? { field("model name", in: cpuinfo()) }

    /// The first processor's feature flags ("avx2", "avx512f", ...); empty where unknown.
    public static func flags() -> Set<String> { flags(in: cpuinfo()) }

    /// Feature flags of the first processor in /proc/cpuinfo text (the "flags" line on x86).
    public static func flags(in text: String) -> Set<String> {
        Set((field("flags", in: text) ?? "").split(separator: " ").map(String.init))
    }

    /// The value of the first "name<tabs>: value" line in /proc/cpuinfo text.
    public static func field(_ name: String, in text: String) -> String? {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].trimmingCharacters(in: .whitespaces) == name {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    private static func cpuinfo() -> String {
        (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    }
}

// The processor, from /proc/cpuinfo (Linux): its model name and feature flags, for provenance and
// for advice such as "this CPU has AVX-512 but OpenBLAS is pinned to AVX2 kernels".
// Every `tracker` process reads the flags before anything else (BLAS.chooseKernels), so this is
// plain bytes and POSIX reads: through Foundation's String(contentsOfFile:) and
// trimmingCharacters it was a fifth of the 9 ms that `tracker --version` took (2026-12-08).
#if canImport(Glibc)
    import Glibc
#endif

public enum CPUInfo {
    /// "model name" of the first processor, e.g. "AMD EPYC", or nil where /proc/cpuinfo is absent.
    public static func modelName() -> String? {
        cpuinfo().withUnsafeBytes { field(Array("model name".utf8), in: $0) }
    }

    /// The first processor's feature flags ("avx2", "avx512f", ...); empty where unknown.
    public static func flags() -> Set<String> {
        cpuinfo().withUnsafeBytes { words(field(Array("flags".utf8), in: $0)) }
    }

    /// Feature flags of the first processor in /proc/cpuinfo text (the "flags" line on x86).
    public static func flags(in text: String) -> Set<String> {
        words(field("flags", in: text))
    }

    /// The value of the first "name<tabs>: value" line in /proc/cpuinfo text.
    public static func field(_ name: String, in text: String) -> String? {
        Array(text.utf8).withUnsafeBytes { field(Array(name.utf8), in: $0) }
    }

    private static func words(_ line: String?) -> Set<String> {
        Set((line ?? "").split(separator: " ").map(String.init))
    }

    /// The value of the first line whose key (before its first colon, spaces and tabs trimmed)
    /// is `name`, trimmed the same way.
    static func field(_ name: [UInt8], in text: UnsafeRawBufferPointer) -> String? {
        let bytes = text.bindMemory(to: UInt8.self)
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
            if let colon = bytes[start..<end].firstIndex(of: UInt8(ascii: ":")),
                trimmed(bytes, start, colon).elementsEqual(name)
            {
                return String(decoding: trimmed(bytes, colon + 1, end), as: UTF8.self)
            }
            start = end + 1
        }
        return nil
    }

    private static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> Slice<
        UnsafeBufferPointer<UInt8>
    > {
        func blank(_ b: UInt8) -> Bool { b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") }
        var (i, j) = (from, to)
        while i < j && blank(bytes[i]) { i += 1 }
        while j > i && blank(bytes[j - 1]) { j -= 1 }
        return bytes[i..<j]
    }

    /// /proc/cpuinfo's bytes (procfs reports no size: read to the end), or none.
    private static func cpuinfo() -> [UInt8] {
        #if canImport(Glibc)
            let fd = open("/proc/cpuinfo", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return [] }
            defer { close(fd) }
            var out: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                out.append(contentsOf: chunk[0..<n])
            }
            return out
        #else
            return []
        #endif
    }
}

// What the process used, for summaries and benchmarks.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public enum ProcessStats {
    /// Peak resident set size in bytes (VmHWM from /proc/self/status), or 0 when unavailable.
    public static func peakRSSBytes() -> Int64 { statusBytes("VmHWM:") }

    /// Resident set size now in bytes (VmRSS from /proc/self/status), or 0 when unavailable.
    public static func residentBytes() -> Int64 { statusBytes("VmRSS:") }

    /// User + system CPU seconds of this process so far, all threads (the wall-clock rate
    /// suffers on a busy machine; this does not).
    public static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }

    /// Starts a new peak: hands freed heap memory back to the system and resets VmHWM to the
    /// resident size now (Linux; elsewhere nothing happens).
    public static func resetPeak() {
        #if canImport(Glibc)
            // glibc's malloc_trim, which the Glibc module does not export.
            if let trim = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") {
                _ = unsafeBitCast(trim, to: (@convention(c) (Int) -> Int32).self)(0)
            }
        #endif
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    /// A "Name:  N kB" field of /proc/self/status in bytes, or 0.
    private static func statusBytes(_ field: String) -> Int64 {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in s.split(separator: "\n") where line.hasPrefix(field) {
            let digits = line.split(separator: " ").dropFirst().first.flatMap { Int64($0) } ?? 0
            return digits * 1024
        }
        return 0
    }
}

/// Wall-clock seconds since `start`.
public func secondsSince(_ start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}

// What the process used, for summaries and benchmarks.
import Foundation

public enum ProcessStats {
    /// Peak resident set size in bytes (VmHWM from /proc/self/status), or 0 when unavailable.
    public static func peakRSSBytes() -> Int64 {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
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

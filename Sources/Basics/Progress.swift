import Foundation

// Progress for long work: one bar per stage on a terminal (stderr), with throughput and ETA,
// redrawn at most 10 times a second; silent when stderr is not a terminal (cron, pipes, tests).
#if canImport(Glibc)
    import Glibc
#endif

/// What a stage counts: bytes are shown as MB/s, items as items/s.
public enum ProgressUnit: Sendable {
    case bytes
    case items(String)
}

/// A thread-safe progress bar for one stage. `advance` is cheap enough to call per document.
public final class ProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private let label: String
    private let unit: ProgressUnit
    private var total: Int64?
    private var done: Int64 = 0
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let enabled: Bool
    private var finished = false

    public init(_ label: String, total: Int64?, unit: ProgressUnit, enabled: Bool = ProgressBar.terminalAttached) {
        self.label = label
        self.total = total
        self.unit = unit
        self.enabled = enabled
    }

    /// True when stderr is a terminal and TRACKER_NO_PROGRESS is unset.
    public static var terminalAttached: Bool {
        isatty(2) != 0 && ProcessInfo.processInfo.environment["TRACKER_NO_PROGRESS"] == nil
    }

    public func setTotal(_ t: Int64?) {
        lock.lock()
        total = t
        lock.unlock()
    }

    public func advance(_ n: Int64) {
        guard enabled else { return }
        lock.lock()
        done += n
        let now = Date()
        let draw = now.timeIntervalSince(lastDraw) > 0.1
        if draw { lastDraw = now }
        let line = draw ? render(now: now) : nil
        lock.unlock()
        if let line { writeStderr("\r\u{1B}[2K" + line) }
    }

    public func set(_ value: Int64) {
        guard enabled else { return }
        lock.lock()
        let d = value - done
        lock.unlock()
        advance(d)
    }

    /// Draws the final state of the bar and moves to the next line.
    public func finish() {
        guard enabled else { return }
        lock.lock()
        if finished {
            lock.unlock()
            return
        }
        finished = true
        if let t = total { done = max(done, t) }
        let line = render(now: Date(), final: true)
        lock.unlock()
        writeStderr("\r\u{1B}[2K" + line + "\n")
    }

    private func render(now: Date, final: Bool = false) -> String {
        let elapsed = max(now.timeIntervalSince(start), 1e-9)
        let rate = Double(done) / elapsed
        var s = label.padding(toLength: 10, withPad: " ", startingAt: 0) + " "
        if let t = total, t > 0 {
            let frac = min(1, Double(done) / Double(t))
            let width = 24
            let filled = Int(frac * Double(width))
            s += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            s += String(format: "%3.0f%% ", frac * 100)
            s += amount(done) + "/" + amount(t)
            let eta = rate > 0 ? Double(t - done) / rate : 0
            s +=
                "  " + rateText(rate)
                + (final ? "  in " + Format.duration(elapsed) : "  ETA " + Format.duration(max(0, eta)))
        } else {
            s += amount(done) + "  " + rateText(rate) + "  " + Format.duration(elapsed)
        }
        return s
    }

    private func amount(_ v: Int64) -> String {
        switch unit {
        case .bytes: return Format.bytes(v)
        case .items: return Format.count(v)
        }
    }

    private func rateText(_ r: Double) -> String {
        switch unit {
        case .bytes: return Format.bytes(Int64(r)) + "/s"
        case .items(let name): return Format.count(Int64(r)) + " \(name)/s"
        }
    }
}

/// Writes to stderr without buffering (progress lines must appear at once).
public func writeStderr(_ s: String) {
    var s = s
    s.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
}

/// Human-readable numbers for summaries and progress lines.
public enum Format {
    public static func bytes(_ v: Int64) -> String {
        let a = Double(v)
        if abs(a) >= 1e9 { return String(format: "%.2f GB", a / 1e9) }
        if abs(a) >= 1e6 { return String(format: "%.1f MB", a / 1e6) }
        if abs(a) >= 1e3 { return String(format: "%.1f kB", a / 1e3) }
        return "\(v) B"
    }

    public static func count(_ v: Int64) -> String {
        let a = Double(v)
        if abs(a) >= 1e9 { return formatFixed(a / 1e9, 2) + "G" }
        if abs(a) >= 1e6 { return formatFixed(a / 1e6, 2) + "M" }
        if abs(a) >= 1e4 { return formatFixed(a / 1e3, 1) + "k" }
        return "\(v)"
    }

    /// An exact count with thousands separators: 10000000 -> "10,000,000".
    public static func grouped(_ v: Int64) -> String {
        let digits = Array(String(v.magnitude))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return (v < 0 ? "-" : "") + out
    }

    public static func duration(_ s: Double) -> String {
        if s < 1 { return String(format: "%.0f ms", s * 1000) }
        if s < 60 { return String(format: "%.1f s", s) }
        let m = Int(s) / 60
        let sec = Int(s) % 60
        if m < 60 { return "\(m)m\(String(format: "%02d", sec))s" }
        return "\(m / 60)h\(String(format: "%02d", m % 60))m"
    }
}

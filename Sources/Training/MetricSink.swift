// Where training metrics go. The engine only knows this protocol; the experiment tracker wraps
// its database in a sink of its own (NIOCore/NIOPosix-style inversion), tests record in memory,
// the CLI draws a progress line and appends metrics.jsonl.
//
// Keys are `split/name`: train/loss, train/lr, train/gradNorm, train/tokensPerSecond, train/mfu,
// val/loss, val/ppl, val/bpb.
import Basics
import Foundation

public protocol MetricSink: AnyObject {
    /// Metrics measured at optimizer step `step` (1-based: the number of updates applied).
    func log(step: Int, metrics: [String: Double])
    /// Training stopped (finished, or failed with `error`); flush what is buffered.
    func finish(error: Error?)
    /// Makes everything logged so far durable; called before a checkpoint is recorded, so a run
    /// resumed from that checkpoint has every metric step up to it.
    func flush()
}

extension MetricSink {
    public func finish(error: Error?) {}
    public func flush() {}
}

/// Keeps every logged record in memory, for tests.
public final class RecordingSink: MetricSink, @unchecked Sendable {
    public struct Record: Equatable, Sendable {
        public var step: Int
        public var metrics: [String: Double]
    }

    private let lock = NSLock()
    private var stored: [Record] = []
    public private(set) var finished = false

    public init() {}

    public func log(step: Int, metrics: [String: Double]) {
        lock.lock()
        stored.append(Record(step: step, metrics: metrics))
        lock.unlock()
    }

    public func finish(error: Error?) {
        lock.lock()
        finished = true
        lock.unlock()
    }

    public var records: [Record] {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    /// The (step, value) series of one key, in logging order.
    public func series(_ key: String) -> [(step: Int, value: Double)] {
        records.compactMap { r in r.metrics[key].map { (r.step, $0) } }
    }
}

/// Appends one JSON object per log call to a file: {"step": 10, "elapsed": 1.2, "train/loss": ...}.
public final class JSONLinesSink: MetricSink {
    private let handle: FileHandle
    private let start = Date()
    public let path: String

    public init(path: String) throws {
        self.path = path
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw TrainingError.io(.io(path: path, errno: errno, action: "create"))
            }
        }
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw TrainingError.io(.io(path: path, errno: errno, action: "open"))
        }
        handle = h
        handle.seekToEndOfFile()
    }

    deinit { try? handle.close() }

    public func log(step: Int, metrics: [String: Double]) {
        var fields = ["\"step\":\(step)", "\"elapsed\":\(Self.number(Date().timeIntervalSince(start)))"]
        for key in metrics.keys.sorted() {
            fields.append("\(JSONText.quoted(key)):\(Self.number(metrics[key]!))")
        }
        handle.write(Data(("{" + fields.joined(separator: ",") + "}\n").utf8))
    }

    public func finish(error: Error?) { try? handle.synchronize() }
    public func flush() { try? handle.synchronize() }

    /// JSON has no NaN or infinity: they are written as strings, as the CLI's JSON output does.
    static func number(_ v: Double) -> String {
        if v.isNaN { return "\"nan\"" }
        if v.isInfinite { return v > 0 ? "\"inf\"" : "\"-inf\"" }
        return "\(v)"
    }
}

/// Sends every call to each of `sinks`, in order.
public final class FanOutSink: MetricSink {
    public let sinks: [MetricSink]
    public init(_ sinks: [MetricSink]) { self.sinks = sinks }
    public func log(step: Int, metrics: [String: Double]) {
        for s in sinks { s.log(step: step, metrics: metrics) }
    }
    public func finish(error: Error?) {
        for s in sinks { s.finish(error: error) }
    }
    public func flush() {
        for s in sinks { s.flush() }
    }
}

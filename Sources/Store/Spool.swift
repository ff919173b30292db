// A run's spool file: what a Slurm task reports, one JSON line per event, appended by the task
// (the only writer of the file) on the shared filesystem, and ingested into SQLite by the head
// (the only host that opens the database). Each line carries a sequence number: ingesting
// applies the events after the last one ingested and remembers the byte offset, so ingesting
// twice is ingesting once. A line without its newline (a task killed mid-write, or a write the
// head sees half of on NFS) is not an event yet: the reader leaves it, and the writer cuts it
// off before it appends again.
import Basics
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One event of a run's spool file.
public struct SpoolEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// A task started the run (`job` is `A_T`, `host` the node).
        case start
        /// The task checked its data and built its model: training begins at `step` (the step it
        /// resumes from, 0 when it starts afresh). Only its time matters (tracker's own overhead:
        /// bench/slurm_overhead.sh); the ingest changes nothing for it.
        case training
        /// Metrics at `step`.
        case metrics
        /// A checkpoint file the run finished writing (`path`, `step`, `sha256`, `size`).
        case checkpoint
        /// How this attempt ended (`outcome`, `exitCode`, `error`).
        case end
        /// The run reached ASHA rung `rung` (at `step`; `metric`'s `value` was logged at `atStep`)
        /// and waits for the head's decision (`RungDecisionFile`).
        case rung
    }

    /// How a task's attempt ended, as the task itself saw it.
    public enum Outcome: String, Codable, Sendable {
        /// Training completed.
        case succeeded
        /// Training failed (`exitCode`, `error`).
        case failed
        /// Checkpointed after SIGUSR1 (a time limit or preemption is near) and asked Slurm to requeue it.
        case requeued
        /// Checkpointed after SIGTERM or SIGINT (a cancel, or a preemption's grace period ended).
        case stopped
        /// Pruned at an ASHA rung (the head's decision): checkpointed and ended (`error`: why).
        case pruned
    }

    public var seq: Int64
    public var kind: Kind
    /// Unix seconds.
    public var time: Double
    public var job: String?
    public var host: String?
    public var step: Int64?
    public var metrics: [String: Double]?
    public var path: String?
    public var sha256: String?
    public var size: Int64?
    public var outcome: Outcome?
    public var exitCode: Int64?
    public var signal: Int64?
    public var error: String?
    public var rung: Int64?
    public var atStep: Int64?
    public var metric: String?
    public var value: Double?

    public init(
        seq: Int64 = 0, kind: Kind, time: Double = Date().timeIntervalSince1970, job: String? = nil,
        host: String? = nil, step: Int64? = nil, metrics: [String: Double]? = nil, path: String? = nil,
        sha256: String? = nil, size: Int64? = nil, outcome: Outcome? = nil, exitCode: Int64? = nil,
        signal: Int64? = nil, error: String? = nil, rung: Int64? = nil, atStep: Int64? = nil,
        metric: String? = nil, value: Double? = nil
    ) {
        self.seq = seq
        self.kind = kind
        self.time = time
        self.job = job
        self.host = host
        self.step = step
        self.metrics = metrics
        self.path = path
        self.sha256 = sha256
        self.size = size
        self.outcome = outcome
        self.exitCode = exitCode
        self.signal = signal
        self.error = error
        self.rung = rung
        self.atStep = atStep
        self.metric = metric
        self.value = value
    }

    /// Has the fields its kind needs (a line that parses as JSON but lacks them is not an event).
    var isComplete: Bool {
        guard seq > 0 else { return false }
        switch kind {
        case .start, .training: return true
        case .metrics: return step != nil && metrics != nil
        case .checkpoint: return step != nil && path != nil && sha256 != nil && size != nil
        case .end: return outcome != nil
        case .rung: return rung != nil && step != nil && atStep != nil && metric != nil && value != nil
        }
    }
}

/// Reading and appending spool files.
public enum Spool {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }()

    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    /// One event as its line (with the newline).
    public static func line(_ event: SpoolEvent) throws -> Data {
        var data = try encoder.encode(event)
        data.append(0x0A)
        return data
    }

    /// What a read found from `offset` on.
    public struct Chunk: Sendable {
        /// The complete events, in file order (lines that are not events are skipped and counted).
        public var events: [SpoolEvent]
        /// The offset just after the last complete line (a torn last line is not consumed).
        public var end: Int64
        /// Complete lines that are not events (corrupt), skipped.
        public var skipped: Int
    }

    /// Reads the complete lines of `path` from byte `offset`; a missing file reads as empty.
    public static func read(path: String, from offset: Int64 = 0) throws -> Chunk {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            if FileManager.default.fileExists(atPath: path) {
                throw StoreError.cannotRead(
                    path: path, reason: "the spool file cannot be opened: check its permissions")
            }
            return Chunk(events: [], end: offset, skipped: 0)
        }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(max(0, offset)))
        let data = handle.readDataToEndOfFile()
        return parse(data, base: max(0, offset))
    }

    /// The complete lines of `data` (read from byte `base` of the file) as events.
    public static func parse(_ data: Data, base: Int64 = 0) -> Chunk {
        guard let lastNewline = data.lastIndex(of: 0x0A) else { return Chunk(events: [], end: base, skipped: 0) }
        var events: [SpoolEvent] = []
        var skipped = 0
        let decoder = decoder()
        for line in data[data.startIndex..<lastNewline].split(separator: 0x0A, omittingEmptySubsequences: true) {
            if let e = try? decoder.decode(SpoolEvent.self, from: Data(line)), e.isComplete {
                events.append(e)
            } else {
                skipped += 1
            }
        }
        return Chunk(events: events, end: base + Int64(lastNewline - data.startIndex) + 1, skipped: skipped)
    }
}

/// Appends events to one run's spool file: the task's only writer of it. Opening cuts a torn
/// last line off and continues the sequence after the last event in the file.
public final class SpoolWriter: @unchecked Sendable {
    public let path: String
    /// The events already in the file when it was opened.
    public let history: [SpoolEvent]
    private let lock = NSLock()
    private let fd: Int32
    private var seq: Int64

    public init(path: String) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let chunk = try Spool.read(path: path)
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw StoreError.cannotWriteSpool(path: path, reason: String(cString: strerror(errno)))
        }
        // a torn line (the last writer was killed mid-line) would swallow the next event
        if ftruncate(fd, off_t(chunk.end)) != 0 || lseek(fd, off_t(chunk.end), SEEK_SET) < 0 {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw StoreError.cannotWriteSpool(path: path, reason: "cannot cut its torn last line: \(reason)")
        }
        history = chunk.events
        seq = chunk.events.map(\.seq).max() ?? 0
    }

    deinit { close(fd) }

    /// Appends `event` with the next sequence number; with `sync`, also makes it durable (fsync).
    public func append(_ event: SpoolEvent, sync: Bool = false) throws {
        try lock.withLock {
            var e = event
            seq += 1
            e.seq = seq
            let data = try Spool.line(e)
            let failure = data.withUnsafeBytes { raw -> String? in
                do {
                    try AtomicFile.writeAll(fd, raw, path: path)
                    return nil
                } catch {
                    return "\(error)"
                }
            }
            if let failure { throw StoreError.cannotWriteSpool(path: path, reason: failure) }
            if sync { _ = fsync(fd) }
        }
    }

    /// Makes every appended event durable.
    public func sync() { lock.withLock { _ = fsync(fd) } }
}

// A metric logger a training step can call without waiting for SQLite: `log` appends to an
// in-memory buffer under a mutex (well under a microsecond), and one background thread writes
// the buffer through `TrackerDB.logMetrics` in batches, every `flushInterval` or as soon as
// `batchSize` points are waiting. `flush()` blocks until everything logged before it is in the
// database; `close()` flushes and stops the thread. Why a thread and not a Task: the engine is
// synchronous (no async in Kernels..Training), and a dedicated thread never queues behind the
// compute threads of a cooperative pool.
import Foundation
import GRDB

public final class MetricWriter: @unchecked Sendable {
    public let db: TrackerDB
    public let flushInterval: TimeInterval
    public let batchSize: Int

    // Everything below is guarded by `cond`.
    private let cond = NSCondition()
    private var buffer: [MetricPoint] = []
    private var logged = 0
    private var written = 0
    private var flushWaiters = 0
    private var closed = false
    private var running = true
    private var failure: Error?

    /// Starts the flush thread.
    /// - Parameters:
    ///   - flushInterval: longest time a point waits in memory.
    ///   - batchSize: a batch this large is written at once, without waiting for the interval.
    public init(db: TrackerDB, flushInterval: TimeInterval = 0.25, batchSize: Int = 4096) {
        self.db = db
        self.flushInterval = flushInterval
        self.batchSize = batchSize
        buffer.reserveCapacity(batchSize)
        let thread = Thread { [self] in flushLoop() }
        thread.name = "tracker.MetricWriter"
        thread.start()
    }

    /// Buffers one point; never touches the database. `time` defaults to now (unix seconds).
    public func log(runId: Int64, key: String, step: Int64, value: Double, time: Double = Date().timeIntervalSince1970)
    {
        append(CollectionOfOne(MetricPoint(runId: runId, key: key, step: step, value: value, time: time)))
    }

    /// Buffers one point per metric, all at `step`.
    public func log(runId: Int64, step: Int64, metrics: [String: Double], time: Double = Date().timeIntervalSince1970) {
        append(metrics.map { MetricPoint(runId: runId, key: $0.key, step: step, value: $0.value, time: time) })
    }

    /// Buffers points as they are.
    public func log(_ points: [MetricPoint]) { append(points) }

    /// Blocks until every point logged before this call is written; throws the first write error
    /// since the last flush (the points of a failed batch are dropped, not retried forever).
    public func flush() throws {
        cond.lock()
        let target = logged
        flushWaiters += 1
        cond.broadcast()
        while written < target && running { cond.wait() }
        flushWaiters -= 1
        let error = failure
        failure = nil
        cond.unlock()
        if let error { throw error }
    }

    /// Flushes, then stops the flush thread. Logging after `close` is a programmer error.
    public func close() throws {
        cond.lock()
        closed = true
        cond.broadcast()
        while running { cond.wait() }
        let error = failure
        failure = nil
        cond.unlock()
        if let error { throw error }
    }

    /// Points logged but not yet written.
    public var pending: Int {
        cond.lock()
        defer { cond.unlock() }
        return logged - written
    }

    private func append<C: Collection<MetricPoint>>(_ points: C) {
        cond.lock()
        precondition(!closed, "MetricWriter.log after close()")
        buffer.append(contentsOf: points)
        logged += points.count
        if buffer.count >= batchSize { cond.signal() }
        cond.unlock()
    }

    private func flushLoop() {
        cond.lock()
        while true {
            if buffer.isEmpty || (!closed && flushWaiters == 0 && buffer.count < batchSize) {
                if buffer.isEmpty && closed { break }
                _ = cond.wait(until: Date(timeIntervalSinceNow: flushInterval))
                if buffer.isEmpty { continue }
            }
            let batch = buffer
            buffer = []
            buffer.reserveCapacity(batchSize)
            cond.unlock()
            let error = write(batch)
            cond.lock()
            if let error, failure == nil { failure = error }
            written += batch.count
            cond.broadcast()
        }
        running = false
        cond.broadcast()
        cond.unlock()
    }

    /// Writes one batch. A second try covers a transient error; a store that stays locked past
    /// the busy timeout (another process holding the write lock for long: a big schema upgrade,
    /// a VACUUM) is waited for up to `lockedTries` timeouts in all before the batch is given up.
    private func write(_ batch: [MetricPoint]) -> Error? {
        var tries = 0
        while true {
            do {
                try db.logMetrics(batch)
                return nil
            } catch {
                tries += 1
                let locked = (error as? DatabaseError).map { [.SQLITE_BUSY, .SQLITE_LOCKED].contains($0.resultCode) }
                if tries >= (locked == true ? Self.lockedTries : 2) { return error }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }

    /// Tries of a batch whose store stays locked (each waits the store's busy timeout, 30 s).
    static let lockedTries = 10
}

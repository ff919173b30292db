// The run queue (goqite's shape on the run table): an atomic claim with one UPDATE ... RETURNING,
// a lease renewed by heartbeat, guarded state changes (each UPDATE names the state and worker it
// expects, so a lost race changes nothing), recovery of runs whose worker died, cancellation,
// and the live-worker table. Every write is one short BEGIN IMMEDIATE transaction on SQLite, so
// many workers and readers share the file without "database is locked"; on PostgreSQL the claim's
// subquery takes its row FOR UPDATE SKIP LOCKED, so concurrent claimers each get a different run.
import Foundation

/// Queue counts by state.
public typealias StateCounts = [RunState: Int]

extension TrackerDB {
    /// Claims the queued run with the highest priority, then the lowest id, for `worker` (never a
    /// run handed to Slurm: its Slurm task runs it).
    /// - Parameter experimentId: only runs of this experiment, when given.
    public func claimNextRun(
        worker: String, lease: TimeInterval, experimentId: Int64? = nil, now: Double = Date().timeIntervalSince1970
    )
        throws -> RunRecord?
    {
        try write { db in
            // SQLite: BEGIN IMMEDIATE already serialises claims. PostgreSQL: skip rows another
            // claimer holds instead of waiting for them (and then finding them taken).
            let lock = db.dialect == .postgres ? "FOR UPDATE SKIP LOCKED" : ""
            guard
                let run = try db.fetchOne(
                    RunRecord.self,
                    sql: """
                        UPDATE run SET state = 'running', worker = ?, attempts = attempts + 1, leaseExpiresAt = ?,
                          heartbeatAt = ?, startedAt = coalesce(startedAt, ?), finishedAt = NULL,
                          exitCode = NULL, signal = NULL, error = NULL
                        WHERE id = (SELECT id FROM run WHERE state = 'queued' AND attempts < maxAttempts
                                      AND cancelRequested = 0 AND (CAST(? AS BIGINT) IS NULL OR experimentId = ?)
                                      AND NOT EXISTS (SELECT 1 FROM slurmTask s WHERE s.runId = run.id)
                                    ORDER BY priority DESC, id LIMIT 1 \(lock))
                        RETURNING *
                        """, arguments: [worker, now + lease, now, isoNow(), experimentId, experimentId])
            else { return nil }
            try Self.recordEvent(
                runId: run.id!, from: .queued, to: .running, worker: worker, detail: "attempt \(run.attempts)", db)
            try db.execute(
                sql: "UPDATE worker SET runId = ?, heartbeatAt = ? WHERE id = ?", arguments: [run.id, now, worker])
            return run
        }
    }

    /// What a heartbeat learned: whether the worker still holds the run, and whether a cancel was asked.
    public struct LeaseStatus: Sendable, Equatable {
        public var held: Bool
        public var cancelRequested: Bool
    }

    /// Pushes the run's lease forward (and the worker's heartbeat).
    public func heartbeat(runId: Int64, worker: String, lease: TimeInterval, now: Double = Date().timeIntervalSince1970)
        throws -> LeaseStatus
    {
        try write { db in
            try db.execute(sql: "UPDATE worker SET heartbeatAt = ? WHERE id = ?", arguments: [now, worker])
            let row = try db.row(
                sql: """
                    UPDATE run SET heartbeatAt = ?, leaseExpiresAt = ?
                    WHERE id = ? AND state = 'running' AND worker = ? RETURNING cancelRequested
                    """, arguments: [now, now + lease, runId, worker])
            return LeaseStatus(
                held: row != nil, cancelRequested: row.flatMap { Bool(sqlValue: $0["cancelRequested"]) } ?? false)
        }
    }

    /// Moves a run from `from` to `to` if it is still in `from` (and held by `worker` when given).
    /// Returns false when the run was not in that state: someone else moved it first.
    @discardableResult
    public func transition(
        runId: Int64, from: RunState, to: RunState, worker: String?, exitCode: Int64? = nil, signal: Int64? = nil,
        error: String? = nil, detail: String? = nil
    ) throws -> Bool {
        precondition(RunState.allowed(from: from, to: to), "transition \(from) -> \(to) is not in RunState.transitions")
        return try write { db in
            try Self.transition(
                runId: runId, from: from, to: to, worker: worker, exitCode: exitCode, signal: signal, error: error,
                detail: detail, db)
        }
    }

    static func transition(
        runId: Int64, from: RunState, to: RunState, worker: String?, exitCode: Int64?, signal: Int64?, error: String?,
        detail: String?, _ db: any StoreConnection
    ) throws -> Bool {
        let finished = to.isTerminal || to == .crashed
        // Back to the queue: the lease is dropped; a release (not a crash) does not use up an attempt.
        let release = from == .running && to == .queued
        let changed = try db.execute(
            sql: """
                UPDATE run SET state = ?, exitCode = coalesce(?, exitCode), signal = coalesce(?, signal),
                  error = coalesce(?, error), finishedAt = CASE WHEN ? = 1 THEN ? ELSE finishedAt END,
                  worker = CASE WHEN ? = 1 THEN NULL ELSE worker END,
                  leaseExpiresAt = CASE WHEN ? = 1 THEN NULL ELSE leaseExpiresAt END,
                  attempts = CASE WHEN ? = 1 AND attempts > 0 THEN attempts - 1 ELSE attempts END
                WHERE id = ? AND state = ? AND (CAST(? AS TEXT) IS NULL OR worker = ?)
                """,
            arguments: [
                to, exitCode, signal, error, finished, isoNow(), to != .running, to != .running, release, runId, from,
                worker, worker,
            ])
        guard changed > 0 else { return false }
        try recordEvent(runId: runId, from: from, to: to, worker: worker, detail: detail ?? error, db)
        if let worker { try db.execute(sql: "UPDATE worker SET runId = NULL WHERE id = ?", arguments: [worker]) }
        return true
    }

    /// Finds running runs whose lease expired (their worker died or hung): each becomes crashed, and
    /// goes back to the queue under the same id while attempts < maxAttempts. Returns the runs found,
    /// as they are afterwards.
    public func recoverExpiredLeases(now: Double = Date().timeIntervalSince1970) throws -> [RunRecord] {
        // Every worker and supervisor calls this often: look with a read first, write only when needed.
        let any = try read { db in
            try db.scalar(
                Bool.self, sql: "SELECT EXISTS (SELECT 1 FROM run WHERE state = 'running' AND leaseExpiresAt < ?)",
                arguments: [now]) ?? false
        }
        if !any { return [] }
        return try write { db in
            let stale = try db.fetchAll(
                RunRecord.self, sql: "SELECT * FROM run WHERE state = 'running' AND leaseExpiresAt < ? ORDER BY id",
                arguments: [now])
            var out: [RunRecord] = []
            for r in stale {
                let why = "\(Self.leaseExpiredDetail): worker \(r.worker ?? "?") missed its heartbeat"
                guard try Self.crash(r, worker: r.worker, signal: nil, error: why, db) else { continue }
                // Its worker has sent nothing since its last heartbeat for this run: it is gone.
                try db.execute(
                    sql: "DELETE FROM worker WHERE id = ? AND heartbeatAt <= ?", arguments: [r.worker, r.heartbeatAt])
                if let now = try db.fetch(RunRecord.self, id: r.id!) { out.append(now) }
            }
            return out
        }
    }

    /// Whether a running run (of experiment `experimentId`, or any) has a worker that stopped
    /// renewing its lease: its last heartbeat is older than half the lease (a live worker renews
    /// it every few seconds). Once the lease runs out, `recoverExpiredLeases` queues it again.
    public func hasSilentRun(experimentId: Int64? = nil, now: Double = Date().timeIntervalSince1970) throws -> Bool {
        try read { db in
            try db.scalar(
                Bool.self,
                sql: """
                    SELECT EXISTS (SELECT 1 FROM run WHERE state = 'running'
                      AND (CAST(? AS BIGINT) IS NULL OR experimentId = ?)
                      AND heartbeatAt + (leaseExpiresAt - heartbeatAt) / 2 < CAST(? AS DOUBLE PRECISION))
                    """, arguments: [experimentId, experimentId, now]) ?? false
        }
    }

    /// Records that running run `runId`'s process died without finishing (SIGKILL, as by the
    /// out-of-memory killer): crashed, with the signal, and back in the queue under the same id
    /// (to resume from its last checkpoint) while attempts < maxAttempts and no cancel was asked.
    /// Returns false when the run was no longer running for `worker`.
    @discardableResult
    public func crash(runId: Int64, worker: String, signal: Int64?, error: String) throws -> Bool {
        try write { db in
            guard let r = try db.fetch(RunRecord.self, id: runId) else { return false }
            return try Self.crash(r, worker: worker, signal: signal, error: error, db)
        }
    }

    /// running -> crashed, then -> queued while the run has attempts left (the one place for both).
    static func crash(_ r: RunRecord, worker: String?, signal: Int64?, error: String, _ db: any StoreConnection) throws
        -> Bool
    {
        guard
            try transition(
                runId: r.id!, from: .running, to: .crashed, worker: worker, exitCode: nil, signal: signal, error: error,
                detail: nil, db)
        else { return false }
        if r.attempts < r.maxAttempts && !r.cancelRequested {
            _ = try transition(
                runId: r.id!, from: .crashed, to: .queued, worker: nil, exitCode: nil, signal: nil, error: nil,
                detail: "retry \(r.attempts + 1) of \(r.maxAttempts), resuming from the last checkpoint", db)
            try db.execute(sql: "UPDATE run SET finishedAt = NULL WHERE id = ?", arguments: [r.id])
        }
        return true
    }

    /// Cancels runs: queued (and crashed awaiting retry) ones at once, running ones by setting
    /// cancelRequested for their worker to act on. Returns (cancelled now, cancel requested).
    public func cancel(runIds: [Int64]) throws -> (cancelled: Int, requested: Int) {
        try write { db in
            var cancelled = 0
            var requested = 0
            for id in runIds {
                guard let r = try db.fetch(RunRecord.self, id: id) else { continue }
                switch r.state {
                case .queued, .crashed:
                    if try Self.transition(
                        runId: id, from: r.state, to: .cancelled, worker: nil, exitCode: nil, signal: nil,
                        error: "cancelled before it ran", detail: nil, db)
                    {
                        cancelled += 1
                    }
                case .running:
                    try db.execute(sql: "UPDATE run SET cancelRequested = 1 WHERE id = ?", arguments: [id])
                    try Self.recordEvent(
                        runId: id, from: .running, to: .running, worker: r.worker, detail: "cancel requested", db)
                    requested += 1
                case .succeeded, .failed, .cancelled, .pruned:
                    break
                }
            }
            return (cancelled, requested)
        }
    }

    // MARK: - Workers

    /// Registers (or refreshes) a live worker.
    public func registerWorker(id: String, host: String, pid: Int32, now: Double = Date().timeIntervalSince1970) throws
    {
        try write { db in
            try db.execute(
                sql: """
                    INSERT INTO worker (id, host, pid, heartbeatAt) VALUES (?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET heartbeatAt = excluded.heartbeatAt, runId = NULL
                    """, arguments: [id, host, pid, now])
        }
    }

    public func workerHeartbeat(id: String, now: Double = Date().timeIntervalSince1970) throws {
        try write { db in
            try db.execute(sql: "UPDATE worker SET heartbeatAt = ? WHERE id = ?", arguments: [now, id])
        }
    }

    public func removeWorker(id: String) throws {
        try write { db in try db.execute(sql: "DELETE FROM worker WHERE id = ?", arguments: [id]) }
    }

    /// Workers that sent a heartbeat within `within` seconds, oldest first.
    public func liveWorkers(within: TimeInterval, now: Double = Date().timeIntervalSince1970) throws -> [WorkerRecord] {
        try read { db in
            try db.fetchAll(
                WorkerRecord.self, sql: "SELECT * FROM worker WHERE heartbeatAt >= ? ORDER BY startedAt, id",
                arguments: [now - within]
            )
        }
    }

    // MARK: - Queue views

    /// Runs per state, for one experiment or all.
    public func stateCounts(experimentId: Int64? = nil) throws -> StateCounts {
        try read { db in
            var out: StateCounts = [:]
            for row in try db.rows(
                sql: """
                    SELECT state, count(*) AS n FROM run WHERE (CAST(? AS BIGINT) IS NULL OR experimentId = ?)
                    GROUP BY state
                    """, arguments: [experimentId, experimentId])
            {
                if let s = RunState(sqlValue: row["state"]) { out[s] = try row.get("n") }
            }
            return out
        }
    }

    /// The most recently finished failed or crashed runs, newest first.
    public func recentFailures(limit: Int) throws -> [RunRecord] {
        try read { db in
            try db.fetchAll(
                RunRecord.self,
                sql: """
                    SELECT * FROM run WHERE state IN ('failed', 'crashed')
                    ORDER BY coalesce(finishedAt, enqueuedAt) DESC, id DESC LIMIT ?
                    """, arguments: [limit])
        }
    }

    /// The last value of `key` for each given run (from metricSummary), NaN restored.
    public func lastValues(key: String, runIds: [Int64]) throws -> [Int64: Double] {
        if runIds.isEmpty { return [:] }
        return try read { db in
            var out: [Int64: Double] = [:]
            let rows = try db.fetchAll(
                MetricSummaryRecord.self,
                sql: "SELECT * FROM metricSummary WHERE key = ? AND runId IN (\(sqlMarks(runIds.count)))",
                arguments: [key] + sqlArguments(runIds))
            for s in rows { out[s.runId] = s.lastValue }
            return out
        }
    }
}

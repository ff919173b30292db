// The store's side of the Slurm executor: which Slurm task holds each run (slurmTask), the
// ingest of the runs' spool files (what the tasks report; idempotent by sequence number and byte
// offset, in the same transaction as the events' effects), and how a run's attempt ends, from
// its own end event or, when it never wrote one (OOM killer, node failure, time limit), from
// Slurm's final state: a failure spends an attempt (`maxAttempts`), a time limit or a
// preemption spends a requeue (`maxRequeues`). A task that writes a PostgreSQL store itself
// records the same events through `recordSlurmTaskEvent`, with the same effects. The Slurm
// commands themselves are not here.
import Foundation

/// A run handed to Slurm (see migrations/0003_slurm.sql).
public struct SlurmTaskRecord: Codable, Sendable, Equatable, SQLRecord {
    public static let databaseTableName = "slurmTask"
    public var runId: Int64
    public var sweepDir: String
    public var taskIndex: Int64
    public var jobName: String
    public var arrayJobId: Int64?
    public var arrayTask: Int64?
    public var slurmState: String?
    public var reason: String?
    public var requeues: Int64 = 0
    public var maxRequeues: Int64 = 3
    public var submissions: Int64 = 0
    public var spoolOffset: Int64 = 0
    public var spoolSeq: Int64 = 0
    public var submittedAt: Double?
    public var missingSince: Double?

    public init(runId: Int64, sweepDir: String, taskIndex: Int64, jobName: String, maxRequeues: Int64) {
        self.runId = runId
        self.sweepDir = sweepDir
        self.taskIndex = taskIndex
        self.jobName = jobName
        self.maxRequeues = maxRequeues
    }

    /// `A_T` once submitted.
    public var jobText: String? { arrayJobId.map { "\($0)_\(arrayTask ?? 0)" } }
    /// The run's spool file.
    public var spoolPath: String { Self.spoolPath(sweepDir: sweepDir, runId: runId) }

    public static func spoolPath(sweepDir: String, runId: Int64) -> String { "\(sweepDir)/spool/\(runId).jsonl" }
}

/// How an attempt of a Slurm run ended, from its end event or from Slurm's final state.
public enum SlurmAttemptEnd: Sendable, Equatable {
    /// Training completed.
    case succeeded
    /// It failed: spends an attempt; retried (resubmitted) while attempts < maxAttempts.
    case failed(exitCode: Int64?, signal: Int64?, why: String)
    /// A time limit or preemption stopped it: spends a requeue (failed once past maxRequeues).
    /// `resubmit`: Slurm will not run it again by itself (else it requeued the job).
    case requeue(why: String, resubmit: Bool)
    /// Cancelled (by `tracker cancel`, or in Slurm).
    case cancelled(why: String)
    /// Stopped at an ASHA rung by the head's decision (the task checkpointed and exited 0).
    case pruned(why: String)
}

/// How far a set of runs has come in the store (`TrackerDB.progress(runIds:)`): two marks differ
/// when one of the runs changed state or logged metric points in between.
public struct StoreProgress: Sendable, Equatable {
    /// The newest state change (runEvent id) of the runs.
    public var lastEvent: Int64
    /// The sum over the runs' metric series of each series' point count and last step.
    public var points: Int64
}

/// What one spool ingest did.
public struct SpoolIngest: Sendable, Equatable {
    public var events = 0
    public var skippedLines = 0
    /// The rung records of the ingested `rung` events (recorded now, or earlier for a repeat).
    public var rungs: [RungRecord] = []
}

extension TrackerDB {
    /// Registers runs handed to Slurm (before sbatch: a head that dies in between finds them).
    public func registerSlurmTasks(_ tasks: [SlurmTaskRecord]) throws {
        try write { db in
            for t in tasks {
                try db.execute(sql: "DELETE FROM slurmTask WHERE runId = ?", arguments: [t.runId])
                try db.insert(t)
            }
        }
    }

    /// The Slurm task of each run that has one.
    public func slurmTasks(runIds: [Int64]? = nil) throws -> [SlurmTaskRecord] {
        try read { db in
            guard let runIds else {
                return try db.fetchAll(SlurmTaskRecord.self, sql: "SELECT * FROM slurmTask ORDER BY runId")
            }
            return try sqlChunks(Array(Set(runIds)).sorted()).flatMap { chunk in
                try db.fetchAll(
                    SlurmTaskRecord.self,
                    sql: "SELECT * FROM slurmTask WHERE runId IN (\(sqlMarks(chunk.count))) ORDER BY runId",
                    arguments: sqlArguments(Array(chunk)))
            }
        }
    }

    /// Slurm tasks whose run is not finished (queued, running, or crashed awaiting its retry).
    public func liveSlurmTasks(experimentId: Int64? = nil) throws -> [SlurmTaskRecord] {
        try read { db in
            try db.fetchAll(
                SlurmTaskRecord.self,
                sql: """
                    SELECT s.* FROM slurmTask s JOIN run r ON r.id = s.runId
                    WHERE r.state IN ('queued', 'running', 'crashed')
                      AND (CAST(? AS BIGINT) IS NULL OR r.experimentId = ?)
                    ORDER BY s.runId
                    """, arguments: [experimentId, experimentId])
        }
    }

    /// Slurm tasks whose run ended while the state recorded for the task is one of `states` (the
    /// states Slurm may still change: a task that started and ended between two squeue polls
    /// keeps the PENDING recorded at submission), and that Slurm was not yet found to have
    /// forgotten (`missingSince` is NULL).
    public func endedSlurmTasks(experimentId: Int64? = nil, states: [String]) throws -> [SlurmTaskRecord] {
        if states.isEmpty { return [] }
        return try read { db in
            try db.fetchAll(
                SlurmTaskRecord.self,
                sql: """
                    SELECT s.* FROM slurmTask s JOIN run r ON r.id = s.runId
                    WHERE r.state NOT IN ('queued', 'running', 'crashed') AND s.arrayJobId IS NOT NULL
                      AND s.missingSince IS NULL AND s.slurmState IN (\(sqlMarks(states.count)))
                      AND (CAST(? AS BIGINT) IS NULL OR r.experimentId = ?)
                    ORDER BY s.runId
                    """, arguments: sqlArguments(states) + [experimentId, experimentId])
        }
    }

    /// How far runs have come in the store: what a head compares between two looks to notice
    /// progress it did not make itself (on a PostgreSQL store the tasks write their state
    /// changes and metrics there, with no spool file to grow).
    public func progress(runIds: [Int64]) throws -> StoreProgress {
        if runIds.isEmpty { return StoreProgress(lastEvent: 0, points: 0) }
        let marks = sqlMarks(runIds.count)
        return try read { db in
            let row = try db.row(
                sql: """
                    SELECT (SELECT CAST(coalesce(max(id), 0) AS BIGINT) FROM runEvent WHERE runId IN (\(marks))) AS e,
                      (SELECT CAST(coalesce(sum(count + lastStep), 0) AS BIGINT) FROM metricSummary
                       WHERE runId IN (\(marks))) AS m
                    """, arguments: sqlArguments(runIds) + sqlArguments(runIds))
            return StoreProgress(lastEvent: try row?.get("e") ?? 0, points: try row?.get("m") ?? 0)
        }
    }

    /// Records that `runIds[i]` is task `tasks[i]` of job array `arrayJobId` (one sbatch).
    public func recordSlurmSubmission(
        arrayJobId: Int64, tasks: [(runId: Int64, arrayTask: Int64)], now: Double = Date().timeIntervalSince1970
    ) throws {
        try write { db in
            for t in tasks {
                try db.execute(
                    sql: """
                        UPDATE slurmTask SET arrayJobId = ?, arrayTask = ?, slurmState = 'PENDING', reason = 'submitted',
                          submissions = submissions + 1, submittedAt = ?, missingSince = NULL WHERE runId = ?
                        """, arguments: [arrayJobId, t.arrayTask, now, t.runId])
                try Self.recordEvent(
                    runId: t.runId, from: .queued, to: .queued, worker: nil,
                    detail: "submitted to Slurm as job \(arrayJobId)_\(t.arrayTask)", db)
            }
        }
    }

    /// Stores what Slurm last said about a run's task (`missingSince`: since when it is unlisted).
    public func recordSlurmState(runId: Int64, state: String?, reason: String?, missingSince: Double?) throws {
        try write { db in
            try db.execute(
                sql: "UPDATE slurmTask SET slurmState = ?, reason = ?, missingSince = ? WHERE runId = ?",
                arguments: [state, reason, missingSince, runId])
        }
    }

    /// Ingests the new events of run `runId`'s spool file: state changes, metrics, checkpoints,
    /// and ASHA rungs, each recorded and decided by `recordRung` with `prune` (the experiment's
    /// rule; without one a rung event is skipped). Idempotent: events at or before the last
    /// ingested sequence number are skipped, and the offset moves only past complete lines, in
    /// the same transaction as their effects.
    @discardableResult
    public func ingestSpool(runId: Int64, prune: (([Double], Double) -> Bool)? = nil) throws -> SpoolIngest {
        guard let task = try slurmTasks(runIds: [runId]).first else { return SpoolIngest() }
        let chunk = try Spool.read(path: task.spoolPath, from: task.spoolOffset)
        if chunk.end == task.spoolOffset { return SpoolIngest() }
        let home = self.home
        return try write { db in
            // a concurrent ingest (another head command) may have moved on meanwhile
            let lock = db.dialect == .postgres ? " FOR UPDATE" : ""
            guard
                let now = try db.fetchOne(
                    SlurmTaskRecord.self, sql: "SELECT * FROM slurmTask WHERE runId = ?\(lock)", arguments: [runId]),
                now.spoolOffset == task.spoolOffset
            else {
                return SpoolIngest()
            }
            var points: [MetricPoint] = []
            var applied = 0
            var rungs: [RungRecord] = []
            for e in chunk.events where e.seq > now.spoolSeq {
                applied += 1
                switch e.kind {
                case .rung:
                    try Self.logMetrics(points, in: db)
                    points = []
                    if let prune, let arrival = try Self.rungArrival(e, runId: runId, db) {
                        rungs.append(try Self.recordRung(arrival, prune: prune, db))
                    }
                case .metrics:
                    points += (e.metrics ?? [:]).map {
                        MetricPoint(runId: runId, key: $0.key, step: e.step!, value: $0.value, time: e.time)
                    }
                case .training:
                    break
                case .start, .checkpoint, .end:
                    try Self.logMetrics(points, in: db)
                    points = []
                    try Self.apply(e, runId: runId, home: home, db)
                }
            }
            try Self.logMetrics(points, in: db)
            let seq = max(now.spoolSeq, chunk.events.map(\.seq).max() ?? 0)
            try db.execute(
                sql: "UPDATE slurmTask SET spoolOffset = ?, spoolSeq = ? WHERE runId = ?",
                arguments: [chunk.end, seq, runId])
            return SpoolIngest(events: applied, skippedLines: chunk.skipped, rungs: rungs)
        }
    }

    /// Records one start, checkpoint or end event of run `runId` as its ingest would: what a Slurm
    /// task that writes the PostgreSQL store itself reports (no spool file; metrics go through
    /// `logMetrics`, rungs through `recordRung`, so such events change nothing here, nor does a
    /// `training` event).
    public func recordSlurmTaskEvent(runId: Int64, _ event: SpoolEvent) throws {
        guard [.start, .checkpoint, .end].contains(event.kind) else { return }
        let home = self.home
        try write { db in try Self.apply(event, runId: runId, home: home, db) }
    }

    /// A `rung` event as its run's arrival at that rung (nil for a run outside any experiment).
    private static func rungArrival(_ e: SpoolEvent, runId: Int64, _ db: any StoreConnection) throws -> RungArrival? {
        guard let run = try db.fetch(RunRecord.self, id: runId), let experimentId = run.experimentId else { return nil }
        return RungArrival(
            experimentId: experimentId, rung: e.rung!, runId: runId, step: e.step!, atStep: e.atStep!,
            metric: e.metric!, value: e.value!)
    }

    /// The effect of one start, checkpoint or end event.
    private static func apply(_ e: SpoolEvent, runId: Int64, home: String, _ db: any StoreConnection) throws {
        guard let run = try db.fetch(RunRecord.self, id: runId) else { return }
        let worker = "slurm:\(e.job ?? "?")@\(e.host ?? "?")"
        switch e.kind {
        case .start:
            if run.state == .running {
                // a start without the previous attempt's end (its node failed and Slurm requeued it)
                try recordEvent(runId: runId, from: .running, to: .running, worker: worker, detail: "restarted", db)
                try db.execute(sql: "UPDATE run SET worker = ? WHERE id = ?", arguments: [worker, runId])
            } else {
                try startSlurmRun(run, worker: worker, time: e.time, db)
            }
        case .checkpoint:
            let path = e.path!
            let relative = path.hasPrefix(home + "/") ? String(path.dropFirst(home.count + 1)) : path
            _ = try db.insert(
                ArtifactRecord(
                    runId: runId, kind: "checkpoint", step: e.step, path: relative, size: e.size!, sha256: e.sha256!))
        case .end:
            let end: SlurmAttemptEnd =
                switch e.outcome! {
                case .succeeded: .succeeded
                case .failed:
                    .failed(exitCode: e.exitCode, signal: e.signal, why: e.error ?? "failed on \(e.host ?? "its node")")
                case .requeued: .requeue(why: e.error ?? "checkpointed and requeued itself", resubmit: false)
                case .stopped:
                    run.cancelRequested
                        ? .cancelled(why: "cancelled while running")
                        : .requeue(why: e.error ?? "stopped by signal \(e.signal ?? 15)", resubmit: false)
                case .pruned: .pruned(why: e.error ?? "pruned at an ASHA rung")
                }
            try settle(runId: runId, end, worker: worker, db)
        case .metrics, .rung, .training:
            break
        }
    }

    /// queued -> running for a Slurm task (no lease: Slurm says whether it still runs).
    private static func startSlurmRun(_ run: RunRecord, worker: String, time: Double, _ db: any StoreConnection) throws
    {
        guard run.state == .queued else { return }
        try db.execute(
            sql: """
                UPDATE run SET state = 'running', worker = ?, attempts = attempts + 1, leaseExpiresAt = NULL,
                  heartbeatAt = ?, startedAt = coalesce(startedAt, ?), finishedAt = NULL, exitCode = NULL,
                  signal = NULL, error = NULL
                WHERE id = ? AND state = 'queued'
                """, arguments: [worker, time, isoNow(), run.id])
        try recordEvent(
            runId: run.id!, from: .queued, to: .running, worker: worker, detail: "attempt \(run.attempts + 1)", db)
    }

    /// Records how the run's current attempt ended (see `SlurmAttemptEnd`); a run already
    /// finished is left as it is. Returns true when the run must be submitted again.
    @discardableResult
    public func settleSlurmRun(runId: Int64, _ end: SlurmAttemptEnd) throws -> Bool {
        try write { db in try Self.settle(runId: runId, end, worker: nil, db) }
    }

    @discardableResult
    static func settle(runId: Int64, _ end: SlurmAttemptEnd, worker: String?, _ db: any StoreConnection) throws -> Bool
    {
        guard var run = try db.fetch(RunRecord.self, id: runId), !run.state.isTerminal,
            var task = try db.fetchOne(
                SlurmTaskRecord.self, sql: "SELECT * FROM slurmTask WHERE runId = ?", arguments: [runId])
        else { return false }
        if case .cancelled(let why) = end {
            _ = try finish(run, to: .cancelled, exitCode: nil, signal: nil, error: why, db)
            return false
        }
        if run.state != .running {
            // it ended without ever reporting a start (died before it could): count the attempt
            try startSlurmRun(run, worker: worker ?? "slurm", time: Date().timeIntervalSince1970, db)
            guard let now = try db.fetch(RunRecord.self, id: runId), now.state == .running else { return false }
            run = now
        }
        switch end {
        case .succeeded:
            _ = try finish(run, to: .succeeded, exitCode: 0, signal: nil, error: nil, db)
            return false
        case .failed(let exitCode, let signal, let why):
            if run.attempts < run.maxAttempts && !run.cancelRequested {
                _ = try crash(run, worker: nil, signal: signal, error: why, db)
                try markForSubmission(runId, db)
                return true
            }
            _ = try finish(run, to: .failed, exitCode: exitCode, signal: signal, error: why, db)
            return false
        case .requeue(let why, let resubmit):
            task.requeues += 1
            try db.execute(sql: "UPDATE slurmTask SET requeues = ? WHERE runId = ?", arguments: [task.requeues, runId])
            if task.requeues > task.maxRequeues || run.cancelRequested {
                let reason =
                    run.cancelRequested
                    ? "cancelled while it was being requeued"
                    : "\(why); requeued \(task.requeues - 1) time(s) already (max_requeues = \(task.maxRequeues))"
                let to: RunState = run.cancelRequested ? .cancelled : .failed
                _ = try finish(run, to: to, exitCode: nil, signal: nil, error: reason, db)
                return false
            }
            _ = try transition(
                runId: runId, from: .running, to: .queued, worker: nil, exitCode: nil, signal: nil, error: nil,
                detail: "\(why); requeue \(task.requeues) of \(task.maxRequeues)", db)
            if resubmit { try markForSubmission(runId, db) }
            return resubmit
        case .pruned(let why):
            _ = try transition(
                runId: runId, from: .running, to: .pruned, worker: nil, exitCode: 0, signal: nil, error: nil,
                detail: why, db)
            return false
        case .cancelled:
            return false
        }
    }

    private static func finish(
        _ run: RunRecord, to: RunState, exitCode: Int64?, signal: Int64?, error: String?, _ db: any StoreConnection
    ) throws -> Bool {
        try transition(
            runId: run.id!, from: run.state, to: to, worker: nil, exitCode: exitCode, signal: signal, error: error,
            detail: nil, db)
    }

    /// The run's task is gone from Slurm while the run is queued: the head submits it again.
    public func markSlurmTaskForSubmission(runId: Int64) throws {
        try write { db in try Self.markForSubmission(runId, db) }
    }

    /// The run's task is gone from Slurm: the next submission holds it again.
    private static func markForSubmission(_ runId: Int64, _ db: any StoreConnection) throws {
        try db.execute(
            sql: "UPDATE slurmTask SET arrayJobId = NULL, arrayTask = NULL, missingSince = NULL WHERE runId = ?",
            arguments: [runId])
    }
}

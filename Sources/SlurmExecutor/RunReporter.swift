// Where a Slurm task reports its run: the one seam between the task and the store. What it
// reports is the same in both modes, as the same records (SpoolEvent for a start, a checkpoint
// and an end; metric points; rung arrivals): with a SQLite head, every event is a line of the
// run's spool file, which the head ingests (SpoolReporter); with a PostgreSQL store, the task
// writes the store itself over one connection, through the calls a local worker's run uses
// (RunContext, StoreSink's batched MetricWriter, RungGate with recordRung) and the ingest's own
// effects for the events (StoreReporter). The training session only sees a MetricSink.
import Basics
import Foundation
import Scheduler
import Session
import Store
import Training

protocol RunReporter: AnyObject {
    /// The checkpoint to resume from: the last one an earlier attempt recorded whose file exists.
    var resumeCheckpoint: String? { get }
    /// How many earlier attempts were requeued or stopped.
    var requeuesSoFar: Int { get }
    /// The training session's sink for the run's metrics (written in batches).
    var sink: MetricSink { get }
    /// Records a start, training, checkpoint or end event; it is durable when this returns (an
    /// end also writes every metric logged before it).
    func report(_ event: SpoolEvent) throws
    /// The run's gate at the rungs of the sweep's ASHA scheduler `config`.
    func gate(_ config: AshaConfig, totalSteps: Int) throws -> RungGate
    /// Why waiting for a rung's decision gave up (the task then ends failed); nil while it did not.
    var rungFailure: String? { get }
}

/// A SQLite head's task: the run's spool file; the head answers the rungs (SlurmRungWait).
final class SpoolReporter: RunReporter {
    let spool: SpoolWriter
    let wait: SlurmRungWait
    private let metrics: SpoolSink

    init(sweepDir: String, runId: Int64, rungTimeout: Double, stop: SignalWatcher) throws {
        spool = try SpoolWriter(path: SlurmTaskRecord.spoolPath(sweepDir: sweepDir, runId: runId))
        wait = SlurmRungWait(spool: spool, runId: runId, timeout: rungTimeout, stop: stop)
        metrics = SpoolSink(spool)
    }

    var resumeCheckpoint: String? {
        spool.history.last { $0.kind == .checkpoint && FileManager.default.fileExists(atPath: $0.path!) }?.path
    }

    var requeuesSoFar: Int {
        spool.history.filter { $0.kind == .end && ($0.outcome == .requeued || $0.outcome == .stopped) }.count
    }

    var sink: MetricSink { metrics }

    func report(_ event: SpoolEvent) throws {
        // only its time matters: not worth an fsync
        if event.kind == .training { return metrics.record(event) }
        try spool.append(event, sync: true)
    }

    func gate(_ config: AshaConfig, totalSteps: Int) throws -> RungGate {
        try wait.gate(config, totalSteps: totalSteps)
    }

    var rungFailure: String? { wait.failure }
}

/// A task of a sweep on a PostgreSQL store: writes the store itself, over one connection.
final class StoreReporter: RunReporter {
    let db: TrackerDB
    let context: RunContext
    let requeuesSoFar: Int
    private let metrics: StoreSink

    /// Opens `store` (the password from its file) for run `runId` of workspace `home`; a store
    /// this node cannot reach is `storeUnreachable`.
    init(_ store: SlurmManifest.Store, home: String, runId: Int64) throws {
        let url = try PostgresURL(store.url)
        let password = try store.passwordFile.map { try StoreSettings.readPasswordFile($0) }
        do {
            db = try TrackerDB(postgres: url, password: password, home: home, maxConnections: 1)
        } catch StoreError.cannotOpen(_, let reason) {
            throw SlurmExecutorError.storeUnreachable(
                address: url.socketPath ?? "\(url.host):\(url.port)", node: ProcessInfo.processInfo.hostName,
                reason: reason)
        }
        context = try RunContext.load(db: db, runId: runId)
        requeuesSoFar = Int(try db.slurmTasks(runIds: [runId]).first?.requeues ?? 0)
        metrics = StoreSink(context: context)
    }

    /// The store's last checkpoint record of the run (the one a local worker resumes from too).
    var resumeCheckpoint: String? { context.resumeCheckpointPath }

    var sink: MetricSink { metrics }

    func report(_ event: SpoolEvent) throws {
        if event.kind == .end {
            // every metric before the outcome (training's end already closed the writer)
            metrics.finish(error: nil)
        }
        try db.recordSlurmTaskEvent(runId: context.runId, event)
    }

    /// Records and decides each rung in the store, as a local worker's run does: no head involved.
    func gate(_ config: AshaConfig, totalSteps: Int) throws -> RungGate {
        try RungGate(
            config: config, db: db, experimentId: context.run.experimentId ?? 0, runId: context.runId,
            totalSteps: totalSteps)
    }

    var rungFailure: String? { nil }
}

/// The training session's MetricSink for a spool: every log call is one spool line; a flush
/// (before a checkpoint is recorded) makes them durable.
final class SpoolSink: MetricSink {
    let spool: SpoolWriter
    private var failed = false

    init(_ spool: SpoolWriter) { self.spool = spool }

    func log(step: Int, metrics: [String: Double]) {
        record(SpoolEvent(kind: .metrics, step: Int64(step), metrics: metrics))
    }

    /// Appends `event`; a spool that cannot be written is one warning (training goes on).
    func record(_ event: SpoolEvent) {
        do {
            try spool.append(event)
        } catch {
            if !failed { writeStderr("warning: metrics are not being recorded: \(error)\n") }
            failed = true
        }
    }

    func flush() { spool.sync() }

    func finish(error: Error?) { spool.sync() }
}

// One Slurm task: `tracker worker --slurm DIR --index I`, which the batch script execs (so
// Slurm's signals reach it). It runs run I of the submission's manifest in this process and
// reports through a RunReporter: with a SQLite head it never opens the database, everything it
// reports (start, metrics, checkpoints, how it ended) goes to the run's spool file, which the
// head ingests, and it resumes from the last checkpoint in that file; with a PostgreSQL store
// (the manifest names it) it writes the store itself, over one connection, and resumes from the
// store's last checkpoint record. SIGUSR1 (`--signal=B:USR1@N`: a time limit or a preemption is
// near): checkpoint, record it, `scontrol requeue` itself, exit 0 - the requeued task resumes
// under the same run id. A repeated SIGUSR1 changes nothing (scancel may deliver it several
// times). SIGTERM or SIGINT (a cancel, or a preemption's grace period ended): checkpoint and
// stop. In an ASHA sweep, a run at a rung waits for the head's decision (SlurmRungWait), or on
// PostgreSQL records and decides it in the store; pruned, it checkpoints, ends `pruned` and
// exits 0.
import Basics
import Foundation
import Scheduler
import Session
import SlurmKit
import Store
import Training

#if canImport(Glibc)
    import Glibc
#endif

public struct SlurmTaskRunner {
    public var sweepDir: String
    public var index: Int
    /// The task's environment (SLURM_ARRAY_JOB_ID, SLURM_ARRAY_TASK_ID, SLURM_JOB_ID).
    public var environment: [String: String]
    public var slurm: SlurmCommands

    public init(sweepDir: String, index: Int, environment: [String: String], slurm: SlurmCommands) {
        self.sweepDir = sweepDir
        self.index = index
        self.environment = environment
        self.slurm = slurm
    }

    /// This task as Slurm addresses it: `A_T` for an array task (never the raw job id).
    public var jobID: SlurmJobID? {
        if let a = environment["SLURM_ARRAY_JOB_ID"].flatMap(Int.init),
            let t = environment["SLURM_ARRAY_TASK_ID"].flatMap(Int.init)
        {
            return SlurmJobID(job: a, task: t)
        }
        return environment["SLURM_JOB_ID"].flatMap(Int.init).map { SlurmJobID(job: $0) }
    }

    /// Runs the task; returns the process' exit status.
    public func run() -> Int32 {
        let stop = SignalWatcher([SIGINT, SIGTERM, SIGUSR1]) { signal, count in
            if signal == SIGUSR1 {
                writeStderr("\nsignal USR1: checkpointing after this step, then requeueing\n")
            } else if count == 1 {
                writeStderr("\nsignal \(signal): checkpointing after this step, then stopping\n")
            } else {
                exit(128 + signal)
            }
        }
        let manifest: SlurmManifest
        let entry: SlurmManifest.Entry
        let reporter: RunReporter
        do {
            manifest = try SlurmManifest.load(sweepDir: sweepDir)
            guard manifest.runs.indices.contains(index) else {
                throw SlurmExecutorError.noSuchTask(
                    index: index, count: manifest.runs.count, path: SlurmManifest.path(sweepDir: sweepDir))
            }
            entry = manifest.runs[index]
            reporter = try openReporter(manifest, entry, stop)
        } catch {
            writeStderr("error: \(error)\n")
            return 2
        }
        do {
            return try train(entry, manifest, reporter, stop)
        } catch {
            let message = "\(error)"
            writeStderr("error: \(message)\n")
            try? reporter.report(SpoolEvent(kind: .end, outcome: .failed, exitCode: 1, error: message))
            return 1
        }
    }

    /// Where the task reports: the PostgreSQL store the manifest names, else the run's spool file.
    private func openReporter(
        _ manifest: SlurmManifest, _ entry: SlurmManifest.Entry, _ stop: SignalWatcher
    ) throws -> RunReporter {
        if let store = manifest.store { return try StoreReporter(store, home: manifest.home, runId: entry.runId) }
        return try SpoolReporter(
            sweepDir: sweepDir, runId: entry.runId,
            rungTimeout: manifest.rungTimeoutSeconds ?? SlurmExecutorConfig().rungTimeoutSeconds, stop: stop)
    }

    private func train(
        _ entry: SlurmManifest.Entry, _ manifest: SlurmManifest, _ reporter: RunReporter, _ stop: SignalWatcher
    ) throws -> Int32 {
        let host = ProcessInfo.processInfo.hostName
        let requeues = reporter.requeuesSoFar
        let resume = reporter.resumeCheckpoint
        try reporter.report(SpoolEvent(kind: .start, job: jobID?.description, host: host))
        let config = try TrainConfigFile.decode(json: Data(entry.config.utf8))
        let corpus = try entry.corpus.map { name -> IngestedCorpus in
            guard let c = manifest.corpora[name] else {
                throw SlurmExecutorError.io(
                    path: SlurmManifest.path(sweepDir: sweepDir), reason: "names no corpus '\(name)': submit again")
            }
            return c.ingested
        }
        let dir = "\(manifest.home)/runs/\(entry.runId)"
        let gate = try manifest.asha.map { try reporter.gate($0, totalSteps: config.train.steps) }
        if let gate, let rung = gate.pruned {
            // an earlier attempt was pruned and stopped before it could say so
            return try pruned(rung, gate, reporter)
        }
        do {
            _ = try TrainSession(home: manifest.home).trainSlurmTask(
                config, runDirectory: dir, resumeFrom: resume, corpus: corpus, sink: reporter.sink,
                onCheckpoint: { path, step in
                    let (sha, size) = try FileHashing.sha256(path: path)
                    try reporter.report(
                        SpoolEvent(kind: .checkpoint, step: Int64(step), path: path, sha256: sha, size: size))
                }, stop: stop, gate: gate,
                shouldEnd: gate.map { gate in { gate.pruned != nil || reporter.rungFailure != nil } },
                onTrainingStart: { step in try? reporter.report(SpoolEvent(kind: .training, step: Int64(step))) })
        } catch TrainingError.interrupted(let step, _) {
            return try interrupted(
                at: step, by: stop.received ?? SIGTERM, requeuesSoFar: requeues, manifest, reporter)
        }
        if let why = reporter.rungFailure { throw SlurmExecutorError.rungWait(why) }
        if let gate, let rung = gate.pruned { return try pruned(rung, gate, reporter) }
        try reporter.report(SpoolEvent(kind: .end, outcome: .succeeded, exitCode: 0))
        return 0
    }

    /// The run was pruned at `rung` (its checkpoint is written): say so and free the slot.
    private func pruned(_ rung: RungRecord, _ gate: RungGate, _ reporter: RunReporter) throws -> Int32 {
        let why = RungGate.reason(rung, gate.config)
        try reporter.report(SpoolEvent(kind: .end, step: rung.atStep, outcome: .pruned, exitCode: 0, error: why))
        writeStderr(why + "\n")
        return 0
    }

    /// After the checkpoint a signal asked for: requeue (SIGUSR1, while requeues are left) or stop.
    private func interrupted(
        at step: Int, by signal: Int32, requeuesSoFar: Int, _ manifest: SlurmManifest, _ reporter: RunReporter
    ) throws -> Int32 {
        let end = Self.interruptedEnd(
            at: step, by: signal, requeuesSoFar: requeuesSoFar, maxRequeues: manifest.maxRequeues, jobID: jobID)
        try reporter.report(end.event)
        writeStderr((end.exitCode == 0 ? "" : "error: ") + (end.event.error ?? "") + "\n")
        if end.requeue, let id = jobID { try slurm.requeue(id) }
        return end.exitCode
    }

    /// How a task interrupted by `signal` after its checkpoint at `step` ends: its end event,
    /// whether it requeues itself, and its exit code. SIGUSR1 (`--signal=B:USR1@N`: a time limit
    /// or a preemption is near) requeues while requeues are left; past `maxRequeues` the run
    /// stops, and the head records it failed without spending an attempt (a time limit is not
    /// a failure to retry). Any other signal stops it (the head requeues or cancels it).
    static func interruptedEnd(
        at step: Int, by signal: Int32, requeuesSoFar: Int, maxRequeues: Int, jobID: SlurmJobID?
    ) -> (event: SpoolEvent, requeue: Bool, exitCode: Int32) {
        guard signal == SIGUSR1 else {
            let event = SpoolEvent(
                kind: .end, outcome: .stopped, signal: Int64(signal),
                error: "stopped by signal \(signal) at step \(step)")
            return (event, false, 128 + signal)
        }
        guard let id = jobID else {
            let why = "SIGUSR1 at step \(step) outside a Slurm job: not requeued"
            return (SpoolEvent(kind: .end, outcome: .failed, exitCode: 1, error: why), false, 1)
        }
        guard requeuesSoFar < maxRequeues else {
            let why =
                "time limit or preemption (SIGUSR1) at step \(step), checkpointed; no requeue left"
            let event = SpoolEvent(kind: .end, step: Int64(step), outcome: .stopped, signal: Int64(SIGUSR1), error: why)
            return (event, false, 128 + SIGUSR1)
        }
        let why = "checkpointed at step \(step) after SIGUSR1 and requeued as \(id)"
        return (SpoolEvent(kind: .end, step: Int64(step), outcome: .requeued, error: why), true, 0)
    }
}

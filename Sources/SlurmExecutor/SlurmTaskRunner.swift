// One Slurm task: `tracker worker --slurm DIR --index I`, which the batch script execs (so
// Slurm's signals reach it). It runs run I of the submission's manifest in this process, never
// opening the database: everything it reports (start, metrics, checkpoints, how it ended) goes
// to the run's spool file, which the head ingests. It resumes from the last checkpoint in that
// file. SIGUSR1 (`--signal=B:USR1@N`: a time limit or a preemption is near): checkpoint, record
// it, `scontrol requeue` itself, exit 0 - the requeued task resumes under the same run id. A
// repeated SIGUSR1 changes nothing (scancel may deliver it several times). SIGTERM or SIGINT
// (a cancel, or a preemption's grace period ended): checkpoint and stop. In an ASHA sweep, a
// run at a rung waits for the head's decision (SlurmRungWait); pruned, it checkpoints, ends
// `pruned` and exits 0.
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
        let manifest: SlurmManifest
        let entry: SlurmManifest.Entry
        let spool: SpoolWriter
        do {
            manifest = try SlurmManifest.load(sweepDir: sweepDir)
            guard manifest.runs.indices.contains(index) else {
                throw SlurmExecutorError.noSuchTask(
                    index: index, count: manifest.runs.count, path: SlurmManifest.path(sweepDir: sweepDir))
            }
            entry = manifest.runs[index]
            spool = try SpoolWriter(path: SlurmTaskRecord.spoolPath(sweepDir: sweepDir, runId: entry.runId))
        } catch {
            writeStderr("error: \(error)\n")
            return 2
        }
        let stop = SignalWatcher([SIGINT, SIGTERM, SIGUSR1]) { signal, count in
            if signal == SIGUSR1 {
                writeStderr("\nsignal USR1: checkpointing after this step, then requeueing\n")
            } else if count == 1 {
                writeStderr("\nsignal \(signal): checkpointing after this step, then stopping\n")
            } else {
                exit(128 + signal)
            }
        }
        do {
            return try train(entry, manifest, spool, stop)
        } catch {
            let message = "\(error)"
            writeStderr("error: \(message)\n")
            try? spool.append(SpoolEvent(kind: .end, outcome: .failed, exitCode: 1, error: message), sync: true)
            return 1
        }
    }

    private func train(
        _ entry: SlurmManifest.Entry, _ manifest: SlurmManifest, _ spool: SpoolWriter, _ stop: SignalWatcher
    ) throws -> Int32 {
        let host = ProcessInfo.processInfo.hostName
        let job = jobID?.description
        let requeues = spool.history.filter { $0.kind == .end && ($0.outcome == .requeued || $0.outcome == .stopped) }
        try spool.append(SpoolEvent(kind: .start, job: job, host: host), sync: true)
        let resume = spool.history.last { $0.kind == .checkpoint && FileManager.default.fileExists(atPath: $0.path!) }
        let config = try TrainConfigFile.decode(json: Data(entry.config.utf8))
        let corpus = try entry.corpus.map { name -> IngestedCorpus in
            guard let c = manifest.corpora[name] else {
                throw SlurmExecutorError.io(
                    path: SlurmManifest.path(sweepDir: sweepDir), reason: "names no corpus '\(name)': submit again")
            }
            return c.ingested
        }
        let dir = "\(manifest.home)/runs/\(entry.runId)"
        let sink = SpoolSink(spool)
        let wait = SlurmRungWait(
            spool: spool, runId: entry.runId,
            timeout: manifest.rungTimeoutSeconds ?? SlurmExecutorConfig().rungTimeoutSeconds, stop: stop)
        let gate = try manifest.asha.map { try wait.gate($0, totalSteps: config.train.steps) }
        if let gate, let rung = gate.pruned {
            // an earlier attempt was pruned and stopped before it could say so
            return try pruned(rung, gate, spool)
        }
        do {
            _ = try TrainSession(home: manifest.home).trainSlurmTask(
                config, runDirectory: dir, resumeFrom: resume?.path, corpus: corpus, sink: sink,
                onCheckpoint: { path, step in
                    let (sha, size) = try FileHashing.sha256(path: path)
                    try spool.append(
                        SpoolEvent(kind: .checkpoint, step: Int64(step), path: path, sha256: sha, size: size),
                        sync: true)
                }, stop: stop, gate: gate,
                shouldEnd: gate.map { gate in { gate.pruned != nil || wait.failure != nil } },
                onTrainingStart: { step in sink.record(SpoolEvent(kind: .training, step: Int64(step))) })
        } catch TrainingError.interrupted(let step, _) {
            return try interrupted(
                at: step, by: stop.received ?? SIGTERM, requeuesSoFar: requeues.count, manifest, spool)
        }
        if let why = wait.failure { throw SlurmExecutorError.rungWait(why) }
        if let gate, let rung = gate.pruned { return try pruned(rung, gate, spool) }
        try spool.append(SpoolEvent(kind: .end, outcome: .succeeded, exitCode: 0), sync: true)
        return 0
    }

    /// The head pruned the run at `rung` (its checkpoint is written): say so and free the slot.
    private func pruned(_ rung: RungRecord, _ gate: RungGate, _ spool: SpoolWriter) throws -> Int32 {
        let why = RungGate.reason(rung, gate.config)
        try spool.append(
            SpoolEvent(kind: .end, step: rung.atStep, outcome: .pruned, exitCode: 0, error: why), sync: true)
        writeStderr(why + "\n")
        return 0
    }

    /// After the checkpoint a signal asked for: requeue (SIGUSR1, while requeues are left) or stop.
    private func interrupted(
        at step: Int, by signal: Int32, requeuesSoFar: Int, _ manifest: SlurmManifest, _ spool: SpoolWriter
    ) throws -> Int32 {
        guard signal == SIGUSR1 else {
            try spool.append(
                SpoolEvent(
                    kind: .end, outcome: .stopped, signal: Int64(signal),
                    error: "stopped by signal \(signal) at step \(step)"),
                sync: true)
            return 128 + signal
        }
        guard requeuesSoFar < manifest.maxRequeues, let id = jobID else {
            let why =
                jobID == nil
                ? "SIGUSR1 at step \(step) outside a Slurm job: not requeued"
                : "time limit or preemption at step \(step) after \(requeuesSoFar) requeue(s) (max_requeues = \(manifest.maxRequeues))"
            try spool.append(SpoolEvent(kind: .end, outcome: .failed, exitCode: 1, error: why), sync: true)
            writeStderr("error: \(why)\n")
            return 1
        }
        let why = "checkpointed at step \(step) after SIGUSR1 and requeued as \(id)"
        try spool.append(SpoolEvent(kind: .end, step: Int64(step), outcome: .requeued, error: why), sync: true)
        writeStderr(why + "\n")
        try slurm.requeue(id)
        return 0
    }
}

/// The training session's MetricSink for a Slurm task: every log call is one spool line; a flush
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

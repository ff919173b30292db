// What `tracker train --run ID` needs from the tracker to execute one queued run: the resolved
// config JSON stored on the run row, the checkpoint to resume from (the run's checkpoint
// artifact with the highest step, if its file still exists), where to write new checkpoints,
// and how to record them and the metrics. A resumed run re-logs the steps after its checkpoint;
// the metric write path replaces those steps, so the history stays duplicate-free.
import Basics
import Foundation
import Store

#if canImport(Glibc)
    import Glibc
#endif

public struct RunContext: Sendable {
    public let db: TrackerDB
    public let home: String
    public let run: RunRecord
    public var runId: Int64 { run.id! }
    /// The resolved run config, canonical JSON (decode it as the `--config` TOML's sections).
    public var configJSON: String { run.config }
    /// Absolute path of the checkpoint to resume from, nil for a fresh start.
    public let resumeCheckpointPath: String?
    /// The step of that checkpoint.
    public let resumeStep: Int64?
    /// Folder for this run's checkpoints (created): <home>/runs/<id>/checkpoints.
    public let checkpointDir: String
    /// The worker process that started this run (from $TRACKER_WORKER_PID), if any.
    public let workerPid: Int32?

    /// Loads run `runId` from the workspace database at `home`.
    public static func load(home: String, runId: Int64) throws -> RunContext {
        try load(db: try TrackerDB(home: home), runId: runId)
    }

    /// Loads run `runId` from the open store `db` (its workspace is `db.home`): what a Slurm task
    /// that writes a PostgreSQL store itself uses.
    public static func load(db: TrackerDB, runId: Int64) throws -> RunContext {
        let home = db.home
        guard let run = try db.run(id: runId) else { throw SchedulerError.noSuchRun(runId) }
        var resume: String?
        var step: Int64?
        if let ck = try db.latestCheckpoint(runId: runId) {
            let path = ck.path.hasPrefix("/") ? ck.path : home + "/" + ck.path
            if FileManager.default.fileExists(atPath: path) {
                resume = path
                step = ck.step
            }
        }
        let dir = "\(home)/runs/\(runId)/checkpoints"
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw SchedulerError.io(
                path: dir, reason: "cannot create the checkpoint folder: \(error.localizedDescription)")
        }
        let worker = ProcessInfo.processInfo.environment["TRACKER_WORKER_PID"].flatMap { Int32($0) }
        if let worker { try dieWithWorker(worker, runId: runId) }
        return RunContext(
            db: db, home: home, run: run, resumeCheckpointPath: resume, resumeStep: step, checkpointDir: dir,
            workerPid: worker)
    }

    /// The file name for the checkpoint at `step` inside `checkpointDir`.
    public func checkpointPath(step: Int) -> String {
        checkpointDir + "/" + String(format: "step-%08d.ckpt", step)
    }

    /// Records a checkpoint file the run just wrote (size and sha256 read from the file); call it
    /// after the file is complete (renamed into place), so a resume never picks a partial file.
    @discardableResult
    public func recordCheckpoint(path: String, step: Int) throws -> ArtifactRecord {
        try recordArtifact(kind: "checkpoint", path: path, step: step)
    }

    /// Records any file the run produced, with the path stored relative to the workspace.
    @discardableResult
    public func recordArtifact(kind: String, path: String, step: Int?) throws -> ArtifactRecord {
        let (sha, size) = try FileHashing.sha256(path: path)
        let relative = path.hasPrefix(home + "/") ? String(path.dropFirst(home.count + 1)) : path
        return try db.addArtifact(
            ArtifactRecord(
                runId: runId, kind: kind, step: step.map(Int64.init), path: relative, size: size, sha256: sha))
    }

    /// The run's ASHA gate when its experiment's [sweep] has scheduler = "asha", else nil.
    public func rungGate(totalSteps: Int) throws -> RungGate? {
        guard let experimentId = run.experimentId, let asha = try AshaConfig.of(experimentId: experimentId, db: db)
        else { return nil }
        return try RungGate(config: asha, db: db, experimentId: experimentId, runId: runId, totalSteps: totalSteps)
    }

    /// Ends the run as pruned at `gate`'s rung, once its checkpoint and metrics are written (the
    /// process then exits 0; its worker, local or Slurm, finds the run already pruned). False when
    /// the run was no longer running under the worker that started this attempt.
    @discardableResult
    public func markPruned(_ gate: RungGate) throws -> Bool {
        guard let r = gate.pruned else { return false }
        return try db.transition(
            runId: runId, from: .running, to: .pruned, worker: run.worker, detail: RungGate.reason(r, gate.config))
    }

    /// A buffered metric writer for this run's database (close it when training ends).
    public func makeMetricWriter() -> MetricWriter { MetricWriter(db: db) }

    /// Makes the kernel SIGKILL this process when its parent, the worker, dies (PR_SET_PDEATHSIG),
    /// so a run whose worker was killed never writes on while the run is recovered and resumed
    /// elsewhere. Throws when the worker is already gone.
    static func dieWithWorker(_ workerPid: Int32, runId: Int64) throws {
        // prctl is variadic in C, so Swift does not import it: call it through its symbol.
        typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prctl") {
            let PR_SET_PDEATHSIG: Int32 = 1
            _ = unsafeBitCast(symbol, to: Prctl.self)(PR_SET_PDEATHSIG, UInt(SIGKILL), 0, 0, 0)
        }
        if getppid() != workerPid {
            throw SchedulerError.io(
                path: "run \(runId)",
                reason: "its worker (pid \(workerPid)) is gone; the run will be resumed by another")
        }
    }

    /// True when the worker that started this run has died (this process was re-parented): the
    /// run will be recovered and resumed elsewhere, so this process should stop.
    public var workerIsGone: Bool {
        guard let workerPid else { return false }
        return getppid() != workerPid
    }
}

// A worker drains the run queue: recover runs whose lease expired, claim the next run, start it
// through an Executor, renew the lease by heartbeat while it runs, act on cancel requests, a
// stop signal or a deadline, and record how it ended. One loop polls everything every
// `pollInterval`, so there is no second thread racing on the run's bookkeeping.
//
// Outcomes: exit 0 -> succeeded (or pruned, when the run's own process marked it so: an ASHA
// sweep stopped it at a rung); SIGKILL from outside (the OOM killer) -> crashed, and queued
// again while attempts < maxAttempts; other exit or a signal -> failed (exitCode/signal, error =
// the last line of the run's log); cancel requested -> cancelled; worker stopped (SIGINT/SIGTERM,
// deadline) -> released back to queued to resume later; lease lost -> the run is left to
// whoever recovered it.
import Basics
import Foundation
import Store

#if canImport(Glibc)
    import Glibc
#endif

public struct WorkerOptions: Sendable {
    public var home: String
    /// Exit when no queued run is left (else wait for work).
    public var untilEmpty = false
    /// Exit after this many runs.
    public var maxRuns: Int?
    /// Only claim runs of this experiment.
    public var experimentId: Int64?
    /// Unix time after which no run is started and the current one is stopped and released.
    public var deadline: Double?
    /// Lease length and heartbeat period, in seconds (a run is recovered when its lease expires).
    public var lease: TimeInterval = 15
    public var heartbeatInterval: TimeInterval = 2
    public var pollInterval: TimeInterval = 0.1
    public var idleInterval: TimeInterval = 1
    /// After forwarding a stop signal, how long the run may take to checkpoint before SIGKILL.
    public var stopGrace: TimeInterval = 60
    /// The command for a run: default `<this executable> train --run ID --home HOME`.
    public var command: (@Sendable (RunRecord) -> [String])?
    /// The worker id; default 'host:pid'.
    public var workerId: String?

    public init(home: String) { self.home = home }
}

public struct WorkerSummary: Sendable {
    public var finished: [(runId: Int64, state: RunState)] = []
    /// The signal that stopped the worker, if one did.
    public var stoppedBy: Int32?
    public var hitDeadline = false
}

public final class Worker: @unchecked Sendable {
    public let db: TrackerDB
    public let options: WorkerOptions
    public let executor: Executor
    public let id: String
    /// Returns the signal that asks the worker to stop, if one arrived (a SignalWatcher in the CLI).
    private let stopSignal: @Sendable () -> Int32?
    private let code = Provenance.codeVersion()
    private let machine = Provenance.machineJSON()

    public init(
        db: TrackerDB, options: WorkerOptions, executor: Executor = LocalProcessExecutor(),
        stopSignal: @escaping @Sendable () -> Int32? = { nil }
    ) {
        self.db = db
        self.options = options
        self.executor = executor
        self.stopSignal = stopSignal
        id = options.workerId ?? "\(ProcessInfo.processInfo.hostName):\(getpid())"
    }

    /// Runs until the queue is empty (with untilEmpty), maxRuns, a stop signal or the deadline.
    public func run() throws -> WorkerSummary {
        var summary = WorkerSummary()
        try db.registerWorker(id: id, host: ProcessInfo.processInfo.hostName, pid: getpid())
        defer { try? db.removeWorker(id: id) }
        var lastBeat = 0.0
        while true {
            if let s = stopSignal() {
                summary.stoppedBy = s
                break
            }
            if pastDeadline {
                summary.hitDeadline = true
                break
            }
            if let max = options.maxRuns, summary.finished.count >= max { break }
            _ = try db.recoverExpiredLeases()
            if let run = try db.claimNextRun(worker: id, lease: options.lease, experimentId: options.experimentId) {
                let end = try execute(run)
                if let state = end.state { summary.finished.append((run.id!, state)) }
                if end.stopped != nil {
                    summary.stoppedBy = end.stopped
                    break
                }
                if end.deadline {
                    summary.hitDeadline = true
                    break
                }
                continue
            }
            // A run whose worker was killed waits for its lease to run out, then comes back to
            // the queue: a draining worker waits for it instead of leaving it `running` (it exited
            // at once, and the run stayed so until something looked again after the lease).
            if try options.untilEmpty && !db.hasSilentRun(experimentId: options.experimentId) { break }
            if now - lastBeat >= options.heartbeatInterval {
                try db.workerHeartbeat(id: id)
                lastBeat = now
            }
            Thread.sleep(forTimeInterval: options.idleInterval)
        }
        return summary
    }

    private var now: Double { Date().timeIntervalSince1970 }
    private var pastDeadline: Bool { options.deadline.map { now >= $0 } ?? false }

    private struct End {
        var state: RunState?
        var stopped: Int32?
        var deadline = false
    }

    /// Runs one claimed run to its end and records the outcome.
    private func execute(_ run: RunRecord) throws -> End {
        let runId = run.id!
        try recordProvenance(run)
        let logPath = startLog(run)
        let handle: RunHandle
        do {
            handle = try executor.spawn(
                runId: runId, command: command(for: run), environment: environment(for: run), logPath: logPath)
        } catch {
            try db.transition(runId: runId, from: .running, to: .failed, worker: id, error: "\(error)")
            return End(state: .failed)
        }
        guard let watch = try supervise(handle, runId: runId) else { return End(state: nil) }
        return try record(watch, runId: runId, logPath: logPath)
    }

    /// Opens the run's log (<home>/logs/runs/ID.log) with a line for this attempt; returns its path.
    private func startLog(_ run: RunRecord) -> String {
        let logPath = TrackerDB.runLogPath(home: options.home, runId: run.id!)
        try? FileManager.default.createDirectory(
            atPath: (logPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        appendLine(logPath, "== \(isoNow()) attempt \(run.attempts) of \(run.maxAttempts) on worker \(id)")
        return logPath
    }

    /// The child's command: `options.command`, else `<this executable> train --run ID --home HOME`.
    private func command(for run: RunRecord) -> [String] {
        options.command?(run) ?? [currentExecutablePath(), "train", "--run", String(run.id!), "--home", options.home]
    }

    private func environment(for run: RunRecord) -> [String: String] {
        ["TRACKER_RUN_ID": String(run.id!), "TRACKER_HOME": options.home, "TRACKER_WORKER_PID": String(getpid())]
    }

    /// How a supervised child ended and what the worker asked of it on the way.
    private struct Watch {
        var outcome: RunOutcome
        var cancelSent = false
        var stopSent: Int32?
        var deadlineHit = false
    }

    /// Polls the child until it ends: heartbeats renew the lease, a cancel request or a stop
    /// signal / deadline is forwarded (SIGKILL after `stopGrace`). Nil when the lease was lost
    /// (the child is killed and the run left to whoever recovered it).
    private func supervise(_ handle: RunHandle, runId: Int64) throws -> Watch? {
        var watch = Watch(outcome: .exited(0))
        var lastBeat = now
        var killAt = Double.infinity
        while true {
            Thread.sleep(forTimeInterval: options.pollInterval)
            if let outcome = try executor.poll(handle) {
                watch.outcome = outcome
                return watch
            }
            if now - lastBeat >= options.heartbeatInterval {
                lastBeat = now
                switch beat(runId: runId) {
                case .some(let status) where !status.held:
                    // Pruned by its own process, which is exiting 0: let it finish.
                    if try isPrunedByItsProcess(runId) { break }
                    // Someone recovered the run (this worker stalled past its lease): stop and leave it.
                    executor.signal(handle, SIGKILL)
                    while try executor.poll(handle) == nil { Thread.sleep(forTimeInterval: options.pollInterval) }
                    return nil
                case .some(let status) where status.cancelRequested && !watch.cancelSent && watch.stopSent == nil:
                    watch.cancelSent = true
                    executor.signal(handle, SIGTERM)
                    killAt = now + options.stopGrace
                default: break
                }
            }
            if watch.stopSent == nil && !watch.cancelSent {
                if let s = stopSignal() {
                    watch.stopSent = s
                } else if pastDeadline {
                    watch.stopSent = SIGTERM
                    watch.deadlineHit = true
                }
                if let s = watch.stopSent {
                    executor.signal(handle, s)
                    killAt = now + options.stopGrace
                }
            }
            if now >= killAt {
                executor.signal(handle, SIGKILL)
                killAt = .infinity
            }
        }
    }

    /// Renews the run's lease; nil when the beat failed (not fatal: the lease outlasts several
    /// heartbeat periods).
    private func beat(runId: Int64) -> TrackerDB.LeaseStatus? {
        do {
            return try db.heartbeat(runId: runId, worker: id, lease: options.lease)
        } catch {
            FileHandle.standardError.write(Data("worker \(id): heartbeat for run \(runId) failed: \(error)\n".utf8))
            return nil
        }
    }

    /// Writes how the run ended: cancelled, released to the queue (stop signal or deadline),
    /// succeeded, or failed with the last line of its log.
    private func record(_ watch: Watch, runId: Int64, logPath: String) throws -> End {
        let (exitCode, signal): (Int64?, Int64?) =
            switch watch.outcome {
            case .exited(let c): (Int64(c), nil)
            case .signaled(let s): (nil, Int64(s))
            }
        if watch.cancelSent {
            try db.transition(
                runId: runId, from: .running, to: .cancelled, worker: id, exitCode: exitCode, signal: signal,
                error: "cancelled while running")
            return End(state: .cancelled)
        }
        if let s = watch.stopSent {
            let why = watch.deadlineHit ? "deadline reached" : "worker received signal \(s)"
            try db.transition(
                runId: runId, from: .running, to: .queued, worker: id, detail: "\(why); released to resume later")
            return End(state: nil, stopped: watch.deadlineHit ? nil : s, deadline: watch.deadlineHit)
        }
        if exitCode == 0 {
            if try db.transition(runId: runId, from: .running, to: .succeeded, worker: id, exitCode: 0) {
                return End(state: .succeeded)
            }
            return End(state: try isPrunedByItsProcess(runId) ? .pruned : nil)
        }
        if signal == Int64(SIGKILL) {
            // Killed from outside (the out-of-memory killer, an operator): not the run's fault, so
            // it is retried from its last checkpoint while it has attempts left.
            try db.crash(
                runId: runId, worker: id, signal: signal,
                error: "killed by signal 9 (SIGKILL, e.g. the out-of-memory killer)")
            return End(state: .crashed)
        }
        let why =
            LocalProcessExecutor.lastLine(of: logPath).flatMap { $0.hasPrefix("== ") ? nil : $0 }
            ?? (signal.map { "killed by signal \($0)" } ?? "exited with status \(exitCode ?? -1)")
        try db.transition(
            runId: runId, from: .running, to: .failed, worker: id, exitCode: exitCode, signal: signal, error: why)
        return End(state: .failed)
    }

    /// Whether the run's own process ended it as pruned (an ASHA sweep stopped it at a rung; see
    /// RunContext.markPruned): the one state a child sets, then exits 0.
    private func isPrunedByItsProcess(_ runId: Int64) throws -> Bool {
        try db.run(id: runId)?.state == .pruned
    }

    private func recordProvenance(_ run: RunRecord) throws {
        try Provenance.record(run, db: db, code: code, machine: machine)
    }

    private func appendLine(_ path: String, _ line: String) {
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let h = FileHandle(forWritingAtPath: path) else { return }
        h.seekToEndOfFile()
        h.write(Data((line + "\n").utf8))
        try? h.close()
    }
}

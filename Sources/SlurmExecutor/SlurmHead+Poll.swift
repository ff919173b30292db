// One poll of the head, and the loop of polls `tracker run --executor slurm` waits in. Order
// matters: squeue first, then the spool files, then the settling; a task Slurm calls finished
// has exited, so every event it wrote is in its spool file by the time the head reads it.
import Basics
import Foundation
import Scheduler
import SlurmKit
import Store

extension SlurmHead {
    /// What one poll saw and did.
    public struct PollResult: Sendable {
        /// Live runs (queued, running) with their task, after the poll.
        public var live: [SlurmTaskRecord]
        /// Spool events ingested.
        public var events = 0
        /// Runs whose attempt the poll settled from Slurm's state.
        public var settled = 0
        /// Runs submitted again.
        public var resubmitted = 0
        /// False when Slurm did not answer (the poll only ingested spool files).
        public var reachedSlurm = true

        public var changed: Bool { events > 0 || settled > 0 || resubmitted > 0 }
    }

    /// One poll for the runs of `experimentId` (nil: all): squeue, ingest, settle, resubmit.
    public func poll(experimentId: Int64? = nil) throws -> PollResult {
        var result = PollResult(live: [])
        let before = try db.liveSlurmTasks(experimentId: experimentId)
        let statuses: [SlurmJobID: SlurmJobStatus]?
        do {
            statuses = try slurmStatuses(before)
        } catch let e as SlurmError {
            warn("\(e); will try again")
            statuses = nil
            result.reachedSlurm = false
        }
        for t in before { result.events += ingest(t) }
        if let statuses {
            for t in try db.liveSlurmTasks(experimentId: experimentId) where t.arrayJobId != nil {
                if try reconcile(t, statuses) { result.settled += 1 }
            }
            do {
                result.resubmitted = try resubmit(try db.liveSlurmTasks(experimentId: experimentId))
            } catch let e as SlurmError {
                warn("\(e); will try again")
                result.reachedSlurm = false
            }
        }
        result.live = try db.liveSlurmTasks(experimentId: experimentId)
        return result
    }

    /// Ingests one run's spool file (see `ingest(_:db:asha:)`); a file that cannot be read is a
    /// warning (the next poll retries).
    func ingest(_ t: SlurmTaskRecord) -> Int {
        do {
            let scheduler = try db.run(id: t.runId)?.experimentId.flatMap { try self.asha(experimentId: $0) }
            let r = try Self.ingest(t, db: db, asha: scheduler)
            if r.skippedLines > 0 { warn("run \(t.runId): skipped \(r.skippedLines) unreadable spool line(s)") }
            return r.events
        } catch {
            warn("run \(t.runId): \(error)")
            return 0
        }
    }

    /// Ingests one run's spool file into `db`, deciding the ASHA rungs it reached with the rule
    /// of `asha` (its experiment's scheduler) and answering them (`RungDecisionFile`): what every
    /// command that ingests spool files (the head's poll, `tracker status`) does.
    public static func ingest(_ t: SlurmTaskRecord, db: TrackerDB, asha: AshaConfig?) throws -> SpoolIngest {
        let r = try db.ingestSpool(runId: t.runId, prune: asha.map { c in { c.prunes(earlier: $0, value: $1) } })
        // a task on a PostgreSQL store decides its rungs in the store and has no spool file
        if asha != nil, FileManager.default.fileExists(atPath: t.spoolPath) { try answerRungs(t, db: db) }
        return r
    }

    /// Writes the decision file of each rung the run has a record for and no answer yet (also
    /// those of a head that died between recording and answering).
    static func answerRungs(_ t: SlurmTaskRecord, db: TrackerDB) throws {
        for r in try db.rungs(runId: t.runId)
        where !FileManager.default.fileExists(atPath: RungDecisionFile.path(spoolPath: t.spoolPath, rung: r.rung)) {
            try RungDecisionFile.write(r, spoolPath: t.spoolPath)
        }
    }

    /// squeue for every array holding a live task, with sacct (where accounting is on) for the
    /// tasks squeue no longer lists.
    func slurmStatuses(_ tasks: [SlurmTaskRecord]) throws -> [SlurmJobID: SlurmJobStatus] {
        let arrays = Set(tasks.compactMap(\.arrayJobId)).sorted().map { Int($0) }
        if arrays.isEmpty { return [:] }
        var statuses = SlurmParse.latest(try slurm.squeue(jobs: arrays))
        let missing = tasks.filter { t in
            guard let a = t.arrayJobId else { return false }
            return SlurmParse.taskStatus(statuses, array: Int(a), task: Int(t.arrayTask ?? 0)) == nil
        }
        if !missing.isEmpty, (try? slurmConfig().hasAccounting) == true {
            let ids = Set(missing.compactMap(\.arrayJobId)).sorted().map { Int($0) }
            for (id, s) in SlurmParse.latest((try? slurm.sacct(jobs: ids)) ?? []) where statuses[id] == nil {
                statuses[id] = s
            }
        }
        return statuses
    }

    /// Records what Slurm says of the task and settles a run Slurm no longer runs whose store
    /// state is not final. Returns true when it settled something.
    func reconcile(_ t: SlurmTaskRecord, _ statuses: [SlurmJobID: SlurmJobStatus]) throws -> Bool {
        let array = Int(t.arrayJobId!)
        let task = Int(t.arrayTask ?? 0)
        guard let run = try db.run(id: t.runId) else { return false }
        guard let status = SlurmParse.taskStatus(statuses, array: array, task: task) else {
            let since = t.missingSince ?? clock()
            try db.recordSlurmState(
                runId: t.runId, state: t.slurmState, reason: "not listed by Slurm", missingSince: since)
            guard clock() - since >= config.lostAfterSeconds else { return false }
            let why = "Slurm no longer lists job \(t.jobText ?? "?") and the run recorded no end"
            try db.settleSlurmRun(runId: t.runId, .failed(exitCode: nil, signal: nil, why: why))
            return true
        }
        try db.recordSlurmState(runId: t.runId, state: status.stateText, reason: status.reason, missingSince: nil)
        guard status.outcome.isFinal else { return false }
        let id = SlurmJobID(job: array, task: task)
        let what = "Slurm job \(id): \(status.stateText)" + (status.reason.map { " (\($0))" } ?? "")
        switch (status.outcome, run.state) {
        case (.cancelled, _):
            try db.settleSlurmRun(runId: t.runId, .cancelled(why: run.cancelRequested ? "cancelled" : what))
        case (.completed, .queued), (.timeout, .queued), (.preempted, .queued):
            // the run left `running` through its own end event (counted then); Slurm will not run it again
            try db.markSlurmTaskForSubmission(runId: t.runId)
        case (.timeout, _), (.preempted, _):
            try db.settleSlurmRun(runId: t.runId, .requeue(why: what, resubmit: true))
        case (.completed, _):
            try db.settleSlurmRun(
                runId: t.runId, .failed(exitCode: 0, signal: nil, why: "\(what), but the run recorded no result"))
        default:
            let exit = exitCode(of: id) ?? status.exitCode
            try db.settleSlurmRun(
                runId: t.runId,
                .failed(
                    exitCode: exit.map { Int64($0.code) },
                    signal: exit.flatMap { $0.signal == 0 ? nil : Int64($0.signal) },
                    why: what + (exit.map { ", exit code \($0)" } ?? "")))
        }
        return true
    }

    /// The exit code of a finished task, from scontrol while slurmctld still knows it.
    private func exitCode(of id: SlurmJobID) -> SlurmExitCode? {
        (try? slurm.showJob(id).flatMap { try $0.statuses() })?.first { $0.id == id || $0.id.task == nil }?.exitCode
    }

    /// Polls until no run of `experimentId` is live, or `shouldStop` says so (checked every
    /// 0.1 s); `progress` sees every poll. Between polls backed off while nothing changes, the
    /// spool files are still looked at every poll_seconds, and a poll follows at once when one
    /// grew (a task waiting at an ASHA rung is answered within about two poll_seconds). Returns
    /// true when every run finished.
    public func track(
        experimentId: Int64?, shouldStop: () -> Bool, progress: (PollResult) -> Void
    ) throws -> Bool {
        var backoff = SlurmPollBackoff(
            first: .milliseconds(Int64(config.pollSeconds * 1000)),
            cap: .milliseconds(Int64(config.pollMaxSeconds * 1000)))
        while true {
            let result = try poll(experimentId: experimentId)
            progress(result)
            if result.live.isEmpty { return true }
            if result.changed { backoff.reset() }
            let until = clock() + backoff.next().seconds
            var look = clock() + config.pollSeconds
            while clock() < until {
                if shouldStop() { return false }
                Thread.sleep(forTimeInterval: 0.1)
                if clock() >= look {
                    if Self.spoolsGrew(result.live) { break }
                    look = clock() + config.pollSeconds
                }
            }
        }
    }

    /// Whether a spool file holds bytes past what the head ingested.
    static func spoolsGrew(_ tasks: [SlurmTaskRecord]) -> Bool {
        tasks.contains { t in
            let size = (try? FileManager.default.attributesOfItem(atPath: t.spoolPath)[.size] as? NSNumber)?.int64Value
            return (size ?? 0) > t.spoolOffset
        }
    }

    // MARK: - Cancel

    /// Cancels runs in the store first (queued ones at once, running ones by request), then
    /// scancels their Slurm tasks. Returns (cancelled now, cancel requested, tasks scancelled).
    public static func cancel(db: TrackerDB, runIds: [Int64], slurm: @autoclosure () -> SlurmCommands) throws
        -> (cancelled: Int, requested: Int, scancelled: Int)
    {
        let tasks = try db.slurmTasks(runIds: runIds)
        let (cancelled, requested) = try db.cancel(runIds: runIds)
        let ids = tasks.compactMap { t in t.arrayJobId.map { SlurmJobID(job: Int($0), task: Int(t.arrayTask ?? 0)) } }
        if !ids.isEmpty { try slurm().scancel(ids, pendingOnly: false) }
        return (cancelled, requested, ids.count)
    }
}

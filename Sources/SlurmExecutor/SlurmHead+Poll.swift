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
            try recordFinalStates(experimentId: experimentId, statuses)
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
        for (id, s) in finalStatuses(missing) where statuses[id] == nil { statuses[id] = s }
        return statuses
    }

    /// Where squeue did not say how `tasks` ended: sacct (one call) where accounting is on, then
    /// `scontrol show job` for each task sacct has no final state for (sacct lags slurmctld)
    /// while slurmctld still knows it. Tasks neither knows are not in the answer.
    func finalStatuses(_ tasks: [SlurmTaskRecord]) -> [SlurmJobID: SlurmJobStatus] {
        let ids = tasks.compactMap { t in t.arrayJobId.map { SlurmJobID(job: Int($0), task: Int(t.arrayTask ?? 0)) } }
        if ids.isEmpty { return [:] }
        var found: [SlurmJobID: SlurmJobStatus] = [:]
        if (try? slurmConfig().hasAccounting) == true {
            let arrays = Set(ids.map(\.job)).sorted()
            found = SlurmParse.latest((try? slurm.sacct(jobs: arrays)) ?? [])
        }
        for id in ids {
            let known = SlurmParse.taskStatus(found, array: id.job, task: id.task ?? 0)
            if known?.outcome.isFinal == true { continue }
            if let shown = shownStatus(of: id) { found[id] = shown }
        }
        return found
    }

    /// The states Slurm may still change (the task will run, runs, or is being cleaned up).
    static let unsettledStates = SlurmState.allCases.filter { !$0.outcome.isFinal }.map(\.rawValue)

    /// Records Slurm's final state for each task whose run ended while the state recorded for it
    /// is not final: a task that started and ended between two squeue polls (its end ingested
    /// from the spool, or written to a PostgreSQL store by the task) would otherwise keep the
    /// PENDING or RUNNING squeue showed last. `statuses` is this poll's squeue (and sacct); where
    /// it has no final state, sacct or scontrol is asked (`finalStatuses`). A task Slurm no longer
    /// knows keeps its state, marked "not listed by Slurm", and is not asked about again; one
    /// still finishing (COMPLETING) is asked again at the next poll.
    func recordFinalStates(experimentId: Int64?, _ statuses: [SlurmJobID: SlurmJobStatus]) throws {
        let ended = try db.endedSlurmTasks(experimentId: experimentId, states: Self.unsettledStates)
        if ended.isEmpty { return }
        func status(_ t: SlurmTaskRecord, in statuses: [SlurmJobID: SlurmJobStatus]) -> SlurmJobStatus? {
            SlurmParse.taskStatus(statuses, array: Int(t.arrayJobId!), task: Int(t.arrayTask ?? 0))
        }
        let asked = finalStatuses(ended.filter { status($0, in: statuses)?.outcome.isFinal != true })
        try cancelRequeuedTasksOfFailedRuns(ended, statuses: { status($0, in: statuses) })
        for t in ended {
            let polled = status(t, in: statuses)
            let final = polled?.outcome.isFinal == true ? polled : status(t, in: asked)
            if let s = final ?? polled {
                try db.recordSlurmState(runId: t.runId, state: s.stateText, reason: Self.reason(s), missingSince: nil)
            } else {
                try db.recordSlurmState(
                    runId: t.runId, state: t.slurmState, reason: "not listed by Slurm", missingSince: clock())
            }
        }
    }

    /// A run the store failed while Slurm holds its task for another start (the task requeued
    /// itself, or was requeued, just as its run ran out of `max_requeues`; on SQLite a task counts
    /// the requeues in its spool file, which misses those the head made for a task killed without
    /// an end) would otherwise train again for nothing: its waiting task is scancelled.
    func cancelRequeuedTasksOfFailedRuns(
        _ ended: [SlurmTaskRecord], statuses: (SlurmTaskRecord) -> SlurmJobStatus?
    ) throws {
        var ids: [SlurmJobID] = []
        for t in ended {
            guard let s = statuses(t), [.queued, .held, .requeued].contains(s.outcome),
                try db.run(id: t.runId)?.state == .failed
            else { continue }
            ids.append(SlurmJobID(job: Int(t.arrayJobId!), task: Int(t.arrayTask ?? 0)))
        }
        if ids.isEmpty { return }
        do {
            try slurm.scancel(ids, pendingOnly: true)
        } catch let e as SlurmError {
            warn("\(e); will try again")
        }
    }

    /// What the store keeps beside a state: why the task waits or how it ended, with a non-zero
    /// exit code (`NonZeroExitCode, exit code 3:0`).
    static func reason(_ s: SlurmJobStatus) -> String? {
        let exit = s.exitCode.flatMap { $0.code == 0 && $0.signal == 0 ? nil : "exit code \($0)" }
        let parts = [s.reason, exit].compactMap { $0 }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
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
        try db.recordSlurmState(runId: t.runId, state: status.stateText, reason: Self.reason(status), missingSince: nil)
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
    private func exitCode(of id: SlurmJobID) -> SlurmExitCode? { shownStatus(of: id)?.exitCode }

    /// What `scontrol show job A_T` says of the task (nil once slurmctld forgot it).
    private func shownStatus(of id: SlurmJobID) -> SlurmJobStatus? {
        guard
            let shown = (try? slurm.showJob(id).flatMap { try $0.statuses() })?.first(where: {
                $0.id == id || $0.id.task == nil
            })
        else { return nil }
        var status = shown
        status.id = id
        return status
    }

    /// Polls until no run of `experimentId` is live, or `shouldStop` says so (checked every
    /// 0.1 s); `progress` sees every poll. Between polls backed off while nothing changes, the
    /// head looks every poll_seconds for progress it did not make itself, and polls at once when
    /// it sees some: a spool file that grew (a task waiting at an ASHA rung is answered within
    /// about two poll_seconds), or, on a PostgreSQL store the tasks write themselves, a live run
    /// whose state changed or that logged metric points (`TrackerDB.progress`). Any change (the
    /// poll's own, or progress in the store since the last poll) starts the backoff over.
    /// Returns true when every run finished.
    public func track(
        experimentId: Int64?, shouldStop: () -> Bool, progress: (PollResult) -> Void
    ) throws -> Bool {
        var backoff = SlurmPollBackoff(
            first: .milliseconds(Int64(config.pollSeconds * 1000)),
            cap: .milliseconds(Int64(config.pollMaxSeconds * 1000)))
        var watched = try db.liveSlurmTasks(experimentId: experimentId).map(\.runId)
        var progressed = false
        while true {
            // taken before the poll, so that nothing a task writes meanwhile goes unseen; after
            // it when the poll changed the store itself (it polls again within poll_seconds then)
            var mark = try db.progress(runIds: watched)
            let result = try poll(experimentId: experimentId)
            progress(result)
            if result.live.isEmpty { return true }
            if result.changed { mark = try db.progress(runIds: watched) }
            if result.changed || progressed { backoff.reset() }
            progressed = false
            let until = clock() + backoff.next().seconds
            var look = clock() + config.pollSeconds
            while clock() < until {
                if shouldStop() { return false }
                sleep(0.1)
                if clock() >= look {
                    progressed =
                        Self.spoolsGrew(result.live) || (try? db.progress(runIds: watched)).map { $0 != mark } == true
                    if progressed { break }
                    look = clock() + config.pollSeconds
                }
            }
            watched = result.live.map(\.runId)
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

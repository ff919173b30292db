// The head against a fake Slurm: a sweep is one array, spool events drive the store, Slurm's
// final states fill the gaps a task could not report, failures spend attempts and time limits
// requeues, a restarted head reconciles from the store and squeue, cancel scancels.
import Foundation
import SlurmKit
import Store
import Testing

@testable import SlurmExecutor

struct HeadTests {
    @Test func aSweepIsOneArrayTrackedToCompletion() throws {
        let f = try Fixture(count: 3)
        var config = SlurmExecutorConfig()
        config.resources.partition = "debug"
        config.maxParallel = 2
        let head = f.head(config)
        let arrays = try head.submit(f.runs, experiment: "sweep")
        #expect(arrays == [101])
        #expect(f.slurm.scripts.count == 1)
        let script = try #require(f.slurm.scripts.first)
        #expect(script.contains("#SBATCH --array=0-2%2\n"))
        #expect(script.contains("#SBATCH --partition=debug\n"))
        #expect(script.contains("#SBATCH --signal=B:USR1@120\n"))
        #expect(script.contains("exec /opt/tracker worker --slurm "))
        #expect(try f.runs.map { try f.task($0).jobText } == ["101_0", "101_1", "101_2"])
        // submitting the same runs again submits nothing
        #expect(try head.submit(f.runs, experiment: "sweep") == [])

        for (i, run) in f.runs.enumerated() {
            f.slurm.set(101, i, "RUNNING")
            try attempt(try f.spool(run), job: "101_\(i)", steps: 1...3, end: nil)
        }
        var poll = try head.poll()
        #expect(try f.runs.map { try f.state($0).state } == [.running, .running, .running])
        #expect(poll.live.count == 3)
        for (i, run) in f.runs.enumerated() {
            try f.spool(run).append(SpoolEvent(kind: .end, outcome: .succeeded, exitCode: 0))
            f.slurm.set(101, i, "COMPLETED")
        }
        poll = try head.poll()
        #expect(poll.live.isEmpty)
        for run in f.runs {
            let r = try f.state(run)
            #expect(r.state == .succeeded && r.attempts == 1 && r.exitCode == 0)
            #expect(try f.db.metrics(runId: run.id!, key: "train/loss").map(\.step) == [1, 2, 3])
        }
    }

    @Test func largeSweepsAreSplitAtMaxArraySize() throws {
        let f = try Fixture(count: 5)
        f.slurm.maxArraySize = 2
        let arrays = try f.head().submit(f.runs, experiment: "sweep")
        #expect(arrays == [101, 102, 103])
        #expect(f.slurm.scripts.map { $0.contains("--array=0-1\n") } == [true, true, false])
        #expect(
            f.slurm.scripts[2].contains("--array=0-0\n")
                && f.slurm.scripts[2].contains(#"$((4 + SLURM_ARRAY_TASK_ID))"#))
        #expect(try f.runs.map { try f.task($0).jobText } == ["101_0", "101_1", "102_0", "102_1", "103_0"])
    }

    /// tracker's own timestamps per Slurm run: the head's sbatch calls (sbatch.jsonl) and the
    /// task's `training` event, which the ingest reads past without any effect.
    @Test func eachSbatchCallIsTimedAndATrainingEventChangesNothing() throws {
        let f = try Fixture(count: 3)
        f.slurm.maxArraySize = 2
        let head = f.head()
        var now = 1000.0
        head.clock = {
            now += 0.25
            return now
        }
        #expect(try head.submit(f.runs, experiment: "sweep") == [101, 102])
        let sweepDir = try f.task(f.runs[0]).sweepDir
        let lines = try String(contentsOfFile: SbatchRecord.path(sweepDir: sweepDir), encoding: .utf8)
            .split(separator: "\n")
        let records = try lines.map { try JSONDecoder().decode(SbatchRecord.self, from: Data($0.utf8)) }
        #expect(records.map(\.script) == ["array-0.sh", "array-2.sh"] && records.map(\.job) == [101, 102])
        #expect(records.allSatisfy { $0.answered == $0.called + 0.25 })
        #expect(try f.task(f.runs[2]).submittedAt == records[1].answered)

        f.slurm.set(101, 0, "RUNNING")
        let spool = try f.spool(f.runs[0])
        try spool.append(SpoolEvent(kind: .start, job: "101_0", host: "node1"))
        try spool.append(SpoolEvent(kind: .training, step: 0))
        try spool.append(SpoolEvent(kind: .metrics, step: 1, metrics: ["train/loss": 2]))
        try spool.append(SpoolEvent(kind: .end, outcome: .succeeded, exitCode: 0))
        #expect(try head.poll().events == 4)
        #expect(try f.state(f.runs[0]).state == .succeeded)
        #expect(try f.db.metrics(runId: f.runs[0].id!, key: "train/loss").map(\.step) == [1])
        #expect(try f.db.events(runId: f.runs[0].id!).map(\.toState).suffix(2) == [.running, .succeeded])
    }

    @Test func aFailureIsRetriedThenFailedWithItsExitCode() throws {
        let f = try Fixture(count: 1, maxAttempts: 2)
        let head = f.head()
        let run = f.runs[0]
        try head.submit(f.runs, experiment: "sweep")
        try attempt(try f.spool(run), job: "101_0", steps: 1...2, end: .failed, exitCode: 3)
        f.slurm.set(101, 0, "FAILED")
        _ = try head.poll()
        // one attempt left: back in the queue and submitted again as its own one-task array
        #expect(try f.state(run).state == .queued)
        #expect(f.slurm.scripts.count == 2)
        #expect(f.slurm.scripts[1].contains("--array=0-0\n"))
        #expect(try f.task(run).jobText == "102_0")
        try attempt(try f.spool(run), job: "102_0", steps: 1...2, end: .failed, exitCode: 3)
        f.slurm.set(102, 0, "FAILED")
        _ = try head.poll()
        let r = try f.state(run)
        #expect(r.state == .failed && r.exitCode == 3 && r.attempts == 2)
        #expect(f.slurm.scripts.count == 2)
    }

    @Test func outOfMemoryWithoutAnEndSpendsAnAttempt() throws {
        let f = try Fixture(count: 1, maxAttempts: 1)
        let head = f.head()
        try head.submit(f.runs, experiment: "sweep")
        try attempt(try f.spool(f.runs[0]), job: "101_0", steps: 1...2, end: nil)
        f.slurm.set(101, 0, "OUT_OF_MEMORY")
        _ = try head.poll()
        let r = try f.state(f.runs[0])
        #expect(r.state == .failed)
        #expect(r.error?.contains("OUT_OF_MEMORY") == true)
    }

    @Test func timeLimitsSpendRequeuesNotAttempts() throws {
        let f = try Fixture(count: 1, maxAttempts: 1)
        let head = try f.submittedHead(maxRequeues: 1)
        let run = f.runs[0]
        try attempt(try f.spool(run), job: "101_0", steps: 1...2, end: nil)
        f.slurm.set(101, 0, "TIMEOUT")
        _ = try head.poll()
        #expect(try f.state(run).state == .queued)
        #expect(try f.task(run).requeues == 1 && f.slurm.scripts.count == 2)
        try attempt(try f.spool(run), job: "102_0", steps: 3...4, end: nil)
        f.slurm.set(102, 0, "TIMEOUT")
        _ = try head.poll()
        let r = try f.state(run)
        #expect(r.state == .failed)
        #expect(r.error?.contains("max_requeues = 1") == true)
    }

    /// A SIGUSR1 past max_requeues (the task's own end, as SlurmTaskRunner writes it): the run
    /// is failed at once, with its attempt count unchanged and nothing submitted again, though
    /// attempts are left (a time limit is not a failure to retry).
    @Test func aSIGUSR1PastMaxRequeuesFailsWithoutSpendingAnAttempt() throws {
        let f = try Fixture(count: 1, maxAttempts: 3)
        let head = try f.submittedHead(maxRequeues: 1)
        let run = f.runs[0]
        let first = SlurmTaskRunner.interruptedEnd(
            at: 2, by: SIGUSR1, requeuesSoFar: 0, maxRequeues: 1, jobID: SlurmJobID(job: 101, task: 0))
        #expect(first.requeue && first.exitCode == 0 && first.event.outcome == .requeued)
        try attempt(try f.spool(run), job: "101_0", steps: 1...2, end: nil)
        try f.spool(run).append(first.event)
        f.slurm.set(101, 0, "PENDING")
        _ = try head.poll()
        #expect(try f.state(run).state == .queued && f.task(run).requeues == 1)

        let second = SlurmTaskRunner.interruptedEnd(
            at: 4, by: SIGUSR1, requeuesSoFar: 1, maxRequeues: 1, jobID: SlurmJobID(job: 101, task: 0))
        #expect(!second.requeue && second.exitCode == 128 + SIGUSR1 && second.event.outcome == .stopped)
        f.slurm.set(101, 0, "RUNNING")
        try attempt(try f.spool(run), job: "101_0", steps: 3...4, end: nil)
        try f.spool(run).append(second.event)
        f.slurm.set(101, 0, "FAILED")
        let poll = try head.poll()
        let r = try f.state(run)
        #expect(r.state == .failed && r.attempts == 1)
        #expect(r.error?.contains("no requeue left") == true && r.error?.contains("max_requeues = 1") == true)
        #expect(poll.resubmitted == 0 && f.slurm.scripts.count == 1)
        #expect(try f.db.metrics(runId: run.id!, key: "train/loss").map(\.step) == Array(1...4))
    }

    /// On SQLite a task counts only the requeues in its spool file: after a time limit that
    /// killed it without an end (a requeue the head made), it may requeue itself once more than
    /// max_requeues allows. The head fails the run, and scancels the task Slurm would start again.
    @Test func aRequeuedTaskOfARunFailedPastMaxRequeuesIsScancelled() throws {
        let f = try Fixture(count: 1, maxAttempts: 3)
        let head = try f.submittedHead(maxRequeues: 1)
        let run = f.runs[0]
        try attempt(try f.spool(run), job: "101_0", steps: 1...2, end: nil)
        f.slurm.set(101, 0, "TIMEOUT")
        _ = try head.poll()
        #expect(try f.task(run).requeues == 1 && f.slurm.scripts.count == 2)
        // the resubmitted task sees no requeue in its spool file and requeues itself
        let end = SlurmTaskRunner.interruptedEnd(
            at: 4, by: SIGUSR1, requeuesSoFar: 0, maxRequeues: 1, jobID: SlurmJobID(job: 102, task: 0))
        #expect(end.requeue)
        try attempt(try f.spool(run), job: "102_0", steps: 3...4, end: nil)
        try f.spool(run).append(end.event)
        f.slurm.set(102, 0, "PENDING")
        _ = try head.poll()
        let r = try f.state(run)
        #expect(r.state == .failed && r.attempts == 1 && r.error?.contains("max_requeues = 1") == true)
        #expect(f.slurm.cancelled == [SlurmJobID(job: 102, task: 0)])
        #expect(f.slurm.scripts.count == 2)
    }

    /// Another signal stops the task (the head requeues or cancels it); SIGUSR1 outside a Slurm
    /// job fails it.
    @Test func otherInterruptionsEndAsBefore() {
        let term = SlurmTaskRunner.interruptedEnd(
            at: 3, by: SIGTERM, requeuesSoFar: 0, maxRequeues: 3, jobID: SlurmJobID(job: 7, task: 1))
        #expect(!term.requeue && term.exitCode == 128 + SIGTERM && term.event.outcome == .stopped)
        #expect(term.event.signal == Int64(SIGTERM))
        let outside = SlurmTaskRunner.interruptedEnd(at: 3, by: SIGUSR1, requeuesSoFar: 0, maxRequeues: 3, jobID: nil)
        #expect(!outside.requeue && outside.exitCode == 1 && outside.event.outcome == .failed)
    }

    @Test func aSelfRequeuedTaskResumesUnderTheSameRunWithEveryStepOnce() throws {
        let f = try Fixture(count: 1)
        let head = f.head()
        let run = f.runs[0]
        try head.submit(f.runs, experiment: "sweep")
        try attempt(try f.spool(run), job: "101_0", steps: 1...5, checkpoint: f.home + "/c5", end: .requeued)
        f.slurm.set(101, 0, "PENDING")
        _ = try head.poll()
        #expect(try f.state(run).state == .queued)
        #expect(try f.task(run).requeues == 1)
        #expect(f.slurm.scripts.count == 1)  // Slurm requeued the same task: nothing to submit
        f.slurm.set(101, 0, "RUNNING")
        try attempt(try f.spool(run), job: "101_0", steps: 6...10, end: .succeeded)
        f.slurm.set(101, 0, "COMPLETED")
        _ = try head.poll()
        let r = try f.state(run)
        #expect(r.state == .succeeded && r.attempts == 1)
        #expect(try f.db.metrics(runId: run.id!, key: "train/loss").map(\.step) == Array(1...10))
        #expect(try f.db.latestCheckpoint(runId: run.id!)?.step == 5)
        #expect(try f.db.events(runId: run.id!).filter { $0.toState == .running && $0.fromState == .queued }.count == 2)
    }

    @Test func aRestartedHeadReconcilesFromTheStoreAndSqueue() throws {
        let f = try Fixture(count: 2)
        try f.head().submit(f.runs, experiment: "sweep")
        // the head dies; meanwhile one task finished and one was killed without an end
        try attempt(try f.spool(f.runs[0]), job: "101_0", steps: 1...3, end: .succeeded)
        try attempt(try f.spool(f.runs[1]), job: "101_1", steps: 1...3, end: nil)
        f.slurm.set(101, 0, "COMPLETED")
        f.slurm.set(101, 1, "FAILED")
        let db = try TrackerDB(home: f.home)
        let restarted = SlurmHead(
            db: db, home: f.home, slurm: f.slurm, config: SlurmExecutorConfig(), executable: "/opt/tracker")
        restarted.warn = { _ in }
        let poll = try restarted.poll()
        #expect(try f.state(f.runs[0]).state == .succeeded)
        #expect(try f.state(f.runs[1]).state == .queued)  // retried: attempts left
        #expect(poll.resubmitted == 1 && f.slurm.scripts.count == 2)
        // ingesting again (a second head command) changes nothing
        #expect(try db.ingestSpool(runId: f.runs[0].id!).events == 0)
        #expect(try f.db.metrics(runId: f.runs[0].id!, key: "train/loss").count == 3)
    }

    @Test func aHeadThatDiedRightAfterSbatchAdoptsTheArrayInsteadOfSubmittingAgain() throws {
        let f = try Fixture(count: 3)
        f.slurm.maxArraySize = 2
        f.slurm.failAfterSubmit = .timedOut(command: "sbatch", seconds: 30)
        #expect(throws: SlurmError.self) { try f.head().submit(f.runs, experiment: "sweep") }
        #expect(try f.runs.map { try f.task($0).jobText } == [nil, nil, nil])
        f.slurm.failAfterSubmit = nil
        let poll = try f.head().poll()
        // array 101 (runs 0 and 1) is adopted; the second array was never submitted: now it is
        #expect(poll.resubmitted == 1)
        #expect(try f.runs.map { try f.task($0).jobText } == ["101_0", "101_1", "102_0"])
        #expect(f.slurm.scripts.count == 2)
        #expect(f.slurm.scripts[1].contains(#"$((2 + SLURM_ARRAY_TASK_ID))"#))
    }

    @Test func aTaskSlurmForgotFailsOnlyAfterTheGracePeriod() throws {
        let f = try Fixture(count: 1, maxAttempts: 1)
        var config = SlurmExecutorConfig()
        config.lostAfterSeconds = 100
        try f.head(config, clock: 1000).submit(f.runs, experiment: "sweep")
        try attempt(try f.spool(f.runs[0]), job: "101_0", steps: 1...1, end: nil)
        _ = try f.head(config, clock: 1000).poll()
        #expect(try f.state(f.runs[0]).state == .running)
        #expect(try f.task(f.runs[0]).missingSince == 1000)
        _ = try f.head(config, clock: 1050).poll()
        #expect(try f.state(f.runs[0]).state == .running)
        _ = try f.head(config, clock: 1101).poll()
        #expect(try f.state(f.runs[0]).state == .failed)
    }

    @Test func sacctAnswersForTasksSqueueForgotWhereAccountingIsOn() throws {
        let f = try Fixture(count: 1, maxAttempts: 1)
        f.slurm.accounting = []
        let head = f.head()
        try head.submit(f.runs, experiment: "sweep")
        try attempt(try f.spool(f.runs[0]), job: "101_0", steps: 1...1, end: nil)
        f.slurm.accounting = [
            SlurmJobStatus(
                id: SlurmJobID(job: 101, task: 0), stateText: "NODE_FAIL", exitCode: SlurmExitCode(code: 0, signal: 9))
        ]
        _ = try head.poll()
        let r = try f.state(f.runs[0])
        #expect(r.state == .failed && r.signal == 9)
        #expect(r.error?.contains("NODE_FAIL") == true)
    }

    @Test func anUnreachableControllerOnlyDelaysThePoll() throws {
        let f = try Fixture(count: 1)
        let head = f.head()
        try head.submit(f.runs, experiment: "sweep")
        try attempt(try f.spool(f.runs[0]), job: "101_0", steps: 1...2, end: nil)
        f.slurm.failure = .controllerUnreachable(command: "squeue", message: "Connection refused")
        let poll = try head.poll()
        #expect(!poll.reachedSlurm && poll.events == 3)
        #expect(try f.state(f.runs[0]).state == .running)
    }

    @Test func cancelAsksTheStoreFirstThenScancelsEachTask() throws {
        let f = try Fixture(count: 2)
        let head = f.head()
        try head.submit(f.runs, experiment: "sweep")
        try attempt(try f.spool(f.runs[1]), job: "101_1", steps: 1...1, end: nil)
        _ = try head.poll()
        let (cancelled, requested, scancelled) = try SlurmHead.cancel(
            db: f.db, runIds: f.runs.map { $0.id! }, slurm: f.slurm)
        #expect(cancelled == 1 && requested == 1 && scancelled == 2)
        #expect(f.slurm.cancelled.map(\.description) == ["101_0", "101_1"])
        #expect(try f.state(f.runs[0]).state == .cancelled)
        // the running task stops on SIGTERM and says so
        try f.spool(f.runs[1]).append(SpoolEvent(kind: .end, outcome: .stopped, signal: 15))
        f.slurm.set(101, 1, "CANCELLED")
        _ = try head.poll()
        #expect(try f.state(f.runs[1]).state == .cancelled)
    }

    @Test func localWorkersNeverClaimARunHandedToSlurm() throws {
        let f = try Fixture(count: 2)
        try f.head().submit([f.runs[0]], experiment: "sweep")
        let claimed = try f.db.claimNextRun(worker: "w", lease: 10)
        #expect(claimed?.id == f.runs[1].id)
        #expect(try f.db.claimNextRun(worker: "w", lease: 10) == nil)
    }
}

/// Every Slurm state maps to a store state: a task Slurm still runs (or will run again) leaves
/// its running run alone; a final state settles it.
struct StateMapTests {
    @Test(arguments: SlurmState.allCases) func everySlurmStateMapsToOurs(_ state: SlurmState) throws {
        let f = try Fixture(count: 1, maxAttempts: 1)
        var config = SlurmExecutorConfig()
        config.maxRequeues = 0
        let head = f.head(config)
        try head.submit(f.runs, experiment: "sweep")
        try attempt(try f.spool(f.runs[0]), job: "101_0", steps: 1...1, end: nil)
        f.slurm.set(101, 0, state.rawValue)
        _ = try head.poll()
        let r = try f.state(f.runs[0])
        let expected: RunState =
            switch state.outcome {
            case .queued, .held, .running, .suspended, .requeued, .unknown: .running
            case .cancelled: .cancelled
            case .completed, .failed, .outOfMemory, .nodeFailure, .timeout, .preempted: .failed
            }
        #expect(r.state == expected, "\(state.rawValue): \(r.error ?? "")")
        #expect(try f.task(f.runs[0]).slurmState == state.rawValue || r.state != .running)
    }
}

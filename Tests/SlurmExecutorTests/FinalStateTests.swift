// Slurm's final state of a task whose run ended between two squeue polls is recorded (from
// sacct where accounting is on, else scontrol, in the formats recorded from Slurm), and the
// head's backoff starts over on progress in the store that it did not make itself (what tasks
// writing a PostgreSQL store do; simulated here by writing the store as such a task does).
import Foundation
import SlurmExecutor
import SlurmKit
import Store
import Testing

struct FinalStateTests {
    /// The task started and ended between two polls: squeue's answer, taken before the spool was
    /// ingested, still says PENDING; scontrol says how it ended.
    @Test func aTaskThatStartsAndEndsBetweenTwoPollsGetsItsFinalStateFromScontrol() throws {
        let f = try Fixture(count: 2)
        let head = f.head()
        try head.submit(f.runs, experiment: "sweep")
        f.slurm.set(101, 0, "PENDING")
        f.slurm.set(101, 1, "PENDING")
        try attempt(try f.spool(f.runs[0]), job: "101_0", steps: 1...3, end: .succeeded)
        f.slurm.shown[SlurmJobID(job: 101, task: 0)] = scontrolRecord(array: 101, task: 0, state: "COMPLETED")
        _ = try head.poll()
        #expect(try f.state(f.runs[0]).state == .succeeded)
        #expect(try f.task(f.runs[0]).slurmState == "COMPLETED")
        #expect(try f.task(f.runs[1]).slurmState == "PENDING")
        #expect(f.slurm.showJobCalls == [SlurmJobID(job: 101, task: 0)])
        // a final state is not asked about again
        _ = try head.poll()
        #expect(f.slurm.showJobCalls == [SlurmJobID(job: 101, task: 0)])
    }

    /// With accounting, sacct answers (one call); a task sacct does not list yet (it lags
    /// slurmctld) gets its state from scontrol. A failure keeps its exit code with the state.
    @Test func sacctAnswersWhereAccountingIsOnAndScontrolWhereItLags() throws {
        let f = try Fixture(count: 2, maxAttempts: 1)
        f.slurm.accounting = []
        let head = f.head()
        try head.submit(f.runs, experiment: "sweep")
        for (i, run) in f.runs.enumerated() {
            f.slurm.set(101, i, "RUNNING")
            try attempt(try f.spool(run), job: "101_\(i)", steps: 1...2, end: .failed, exitCode: 3)
        }
        f.slurm.accounting = try SlurmParse.sacct("101_0|FAILED|3:0\n")
        f.slurm.shown[SlurmJobID(job: 101, task: 1)] = scontrolRecord(
            array: 101, task: 1, state: "FAILED", reason: "NonZeroExitCode", exit: "3:0")
        _ = try head.poll()
        for run in f.runs {
            let r = try f.state(run)
            #expect(r.state == .failed && r.exitCode == 3, "\(r.state) \(r.error ?? "")")
            let task = try f.task(run)
            #expect(task.slurmState == "FAILED", "\(task.slurmState ?? "none")")
        }
        #expect(try f.task(f.runs[0]).reason == "exit code 3:0")
        #expect(try f.task(f.runs[1]).reason == "NonZeroExitCode, exit code 3:0")
        #expect(f.slurm.showJobCalls == [SlurmJobID(job: 101, task: 1)])
    }

    /// Slurm no longer knows the task: it keeps the state recorded last, says so, and is not
    /// asked about again.
    @Test func aTaskSlurmForgotKeepsItsLastStateAndIsNotAskedAgain() throws {
        let f = try Fixture(count: 1)
        let head = f.head(clock: 1000)
        try head.submit(f.runs, experiment: "sweep")
        try attempt(try f.spool(f.runs[0]), job: "101_0", steps: 1...1, end: .succeeded)
        _ = try head.poll()
        let task = try f.task(f.runs[0])
        #expect(try f.state(f.runs[0]).state == .succeeded)
        #expect(task.slurmState == "PENDING" && task.reason == "not listed by Slurm" && task.missingSince == 1000)
        let asked = f.slurm.showJobCalls.count
        #expect(asked > 0)
        _ = try head.poll()
        #expect(f.slurm.showJobCalls.count == asked)
    }

    /// A live run whose task squeue no longer lists but scontrol knows as failed is settled at
    /// once, with the exit code, not after lost_after_seconds.
    @Test func aVanishedTaskScontrolKnowsIsSettledAtOnce() throws {
        let f = try Fixture(count: 1, maxAttempts: 1)
        var config = SlurmExecutorConfig()
        config.lostAfterSeconds = 600
        let head = f.head(config, clock: 1000)
        try head.submit(f.runs, experiment: "sweep")
        try attempt(try f.spool(f.runs[0]), job: "101_0", steps: 1...1, end: nil)
        f.slurm.shown[SlurmJobID(job: 101, task: 0)] = scontrolRecord(
            array: 101, task: 0, state: "FAILED", reason: "NonZeroExitCode", exit: "2:0")
        _ = try head.poll()
        let r = try f.state(f.runs[0])
        #expect(r.state == .failed && r.exitCode == 2, "\(r.state) \(r.error ?? "")")
        #expect(r.error?.contains("exit code 2:0") == true, "\(r.error ?? "")")
        #expect(try f.task(f.runs[0]).slurmState == "FAILED")
    }
}

struct TrackBackoffTests {
    /// A task that writes the store itself (no spool file): its metric steps start the backoff
    /// over, and its end is noticed at the next look (within poll_seconds), not when the
    /// backed-off poll comes. Virtual time: `sleep` moves the clock and plays the task's writes.
    @Test func progressInTheStoreStartsTheBackoffOverAndAnEndIsNoticedAtTheNextLook() throws {
        let f = try Fixture(count: 1)
        var config = SlurmExecutorConfig()
        config.pollSeconds = 1
        config.pollMaxSeconds = 64
        let head = f.head(config)
        var now = 1000.0
        head.clock = { now }
        try head.submit(f.runs, experiment: "sweep")
        let runId = f.runs[0].id!
        f.slurm.set(101, 0, "RUNNING")
        try f.db.recordSlurmTaskEvent(runId: runId, SpoolEvent(kind: .start, job: "101_0", host: "node1"))
        var script: [(at: Double, write: () throws -> Void)] = [
            (
                1040,
                {
                    try f.db.logMetrics(
                        (1...5).map { MetricPoint(runId: runId, key: "train/loss", step: $0, value: 1, time: now) })
                }
            ),
            (
                1100,
                {
                    try f.db.recordSlurmTaskEvent(
                        runId: runId, SpoolEvent(kind: .end, outcome: .succeeded, exitCode: 0))
                    f.slurm.set(101, 0, "COMPLETED")
                }
            ),
        ]
        head.sleep = { seconds in
            now += seconds
            while let next = script.first, next.at <= now {
                script.removeFirst()
                do { try next.write() } catch { Issue.record(error) }
            }
        }
        var polls: [Double] = []
        let finished = try head.track(experimentId: nil, shouldStop: { false }, progress: { _ in polls.append(now) })
        #expect(finished)
        #expect(script.isEmpty)
        #expect(try f.state(f.runs[0]).state == .succeeded)
        // backed off while nothing happens: the gap before the steps grew past 8 s
        let before = polls.filter { $0 < 1040 }
        #expect(before.count >= 2 && before[before.count - 1] - before[before.count - 2] >= 8, "\(polls)")
        // the steps are seen at the next look, and the poll after that comes poll_seconds later
        let seen = try #require(polls.firstIndex { $0 >= 1040 })
        #expect(polls[seen] <= 1041.5 && seen + 1 < polls.count, "\(polls)")
        #expect(polls[seen + 1] - polls[seen] <= 1.5, "\(polls)")
        // the end: the last poll (no live run) follows within a look
        let last = try #require(polls.last)
        #expect(last >= 1100 && last <= 1101.5, "\(polls)")
    }
}

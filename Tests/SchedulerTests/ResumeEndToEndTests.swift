// End to end with the real trainer: kill -9 the worker in the middle of a run; the run's lease
// expires, it is re-queued under the same id, a second worker resumes it from its last
// checkpoint, and it completes with a complete, duplicate-free metric history.
import Foundation
import Store
import TestSupport
import Testing

@testable import Scheduler

#if canImport(Glibc)
    import Glibc
#endif

struct ResumeEndToEndTests {
    @Test(
        .tags(.slow), .requires("the tracker binary built next to the tests (swift build)", trackerBuilt),
        .timeLimit(.minutes(10)))
    func killedWorkersRunResumesAndCompletes() throws {
        let home = tempHome("e2e-resume")
        let ingest = try tracker([
            "ingest", repoPath + "/corpora/bundled.tar.xz", "--home", home, "--name", "bundled", "--vocab-size", "512",
        ])
        #expect(ingest.status == 0, "\(ingest.err)")
        // The trainer is built like the tests: debug trains ~10 steps/s here, release ~400.
        #if DEBUG
            let (steps, checkpointEvery, killAfter) = (120, 20, 40)
        #else
            let (steps, checkpointEvery, killAfter) = (3000, 250, 1000)
        #endif
        let file = "\(home)/resume.toml"
        try """
        [data]
        corpus = "bundled"
        [model]
        layers = 1
        heads = 2
        channels = 32
        context = 32
        [model.attention]
        variant = "softmax_rope"
        [train]
        steps = \(steps)
        batch = 4
        warmup = 5
        eval_every = \(steps / 2)
        checkpoint_every = \(checkpointEvery)
        log_every = 1
        threads = 1
        """.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try tracker(["run", file, "--home", home, "--no-wait"]).status == 0)
        let db = try TrackerDB(home: home)
        let run = try #require(try db.runs().first)
        let worker = ["worker", "--home", home, "--until-empty", "--lease", "3", "--heartbeat", "0.5"]

        let first = try startTracker(worker, log: "\(home)/worker1.log")
        let midway = try waitFor(240) {
            let logged = try db.metricSummaries(runId: run.id!).first { $0.key == "train/loss" }?.lastStep ?? 0
            let checkpoints = try db.artifacts(runId: run.id!, kind: "checkpoint")
            return logged >= killAfter && !checkpoints.isEmpty
        }
        #expect(midway, "the run did not get past step \(killAfter) with a checkpoint")
        kill(first, SIGKILL)
        _ = waitExit(first)

        // The lease runs out; recovery puts the run back in the queue under the same id.
        let requeued = try waitFor(30) {
            _ = try db.recoverExpiredLeases()
            return try db.run(id: run.id!)?.state == .queued
        }
        #expect(requeued)
        let second = try startTracker(worker, log: "\(home)/worker2.log")
        #expect(waitExit(second, timeout: 400) == 0)

        let r = try #require(try db.run(id: run.id!))
        #expect(r.state == .succeeded, "\(r.error ?? "")")
        #expect(r.attempts == 2 && r.error == nil)
        #expect(try db.events(runId: run.id!).contains { $0.toState == .crashed })
        let history = try db.metrics(runId: run.id!, key: "train/loss")
        #expect(history.map(\.step) == (1...Int64(steps)).map { $0 })
        let summary = try #require(try db.metricSummaries(runId: run.id!).first { $0.key == "train/loss" })
        let recomputed = try db.recomputedSummary(runId: run.id!, key: "train/loss")
        #expect(summary == recomputed)
        #expect(summary.count == Int64(steps))
        let log = try String(contentsOfFile: "\(home)/logs/runs/\(run.id!).log", encoding: .utf8)
        #expect(log.contains("resumed from"), "the second attempt did not resume from a checkpoint")
    }
}

// Nightly pieces: the config reader, the exclusive lock, and checkpoint retention (last K plus
// the best by a metric, files with their companions and artifact rows).
import Basics
import Foundation
import Store
import Testing

@testable import Scheduler

struct NightlyTests {
    @Test func configReadsEveryKeyAndRefusesUnknownOnes() throws {
        let c = try NightlyConfig(
            tree: .table([
                "experiments": .array([.string("nightly-smoke")]), "time_budget_minutes": .int(30), "workers": .int(2),
                "report_dir": .string("r"), "retention": .table(["keep_last": .int(3), "keep_best": .bool(false)]),
            ]))
        #expect(c.experiments == ["nightly-smoke"] && c.timeBudgetMinutes == 30 && c.workers == 2 && c.reportDir == "r")
        #expect(c.retention.keepLast == 3 && !c.retention.keepBest && c.retention.bestMetric == "val/loss")
        #expect(throws: SchedulerError.self) {
            try NightlyConfig(tree: .table(["experiments": .array([.string("x")]), "budget": .int(1)]))
        }
        #expect(throws: SchedulerError.self) { try NightlyConfig(tree: .table(["experiments": .array([])])) }
        #expect(throws: SchedulerError.self) {
            try NightlyConfig(
                tree: .table(["experiments": .array([.string("x")]), "retention": .table(["keep_last": .int(0)])]))
        }
    }

    @Test func lockIsExclusiveUntilReleased() throws {
        let path = tempHome("lock") + "/nightly.lock"
        let first = try takeNightlyLock(path: path)
        let error = #expect(throws: SchedulerError.self) { try takeNightlyLock(path: path) }
        #expect(error?.description.contains("pid \(getpid())") == true)
        first.release()
        _ = try takeNightlyLock(path: path)
    }

    @Test func retentionKeepsTheLastKAndTheBest() throws {
        let home = tempHome("retention")
        let db = try TrackerDB(home: home)
        let run = try enqueueSeeds(db, 1)[0]
        _ = try db.claimNextRun(worker: "w", lease: 15)
        try db.transition(runId: run.id!, from: .running, to: .succeeded, worker: "w", exitCode: 0)
        let dir = "\(home)/runs/\(run.id!)/checkpoints"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let context = try RunContext.load(home: home, runId: run.id!)
        for step in 1...5 {
            let path = context.checkpointPath(step: step)
            try Data([UInt8(step)]).write(to: URL(fileURLWithPath: path))
            try Data([0]).write(to: URL(fileURLWithPath: path.replacingOccurrences(of: ".ckpt", with: ".state.ckpt")))
            try context.recordCheckpoint(path: path, step: step)
        }
        // val/loss is lowest at step 2.
        try db.logMetrics(
            [3.0, 1.0, 2.0, 2.5, 2.2].enumerated().map {
                MetricPoint(runId: run.id!, key: "val/loss", step: Int64($0.offset + 1), value: $0.element, time: 0)
            })
        var rule = NightlyConfig.Retention()
        rule.keepLast = 2
        let deleted = try CheckpointRetention.prune(db: db, home: home, rule: rule)
        #expect(deleted.count == 2)
        #expect(try db.artifacts(runId: run.id!, kind: "checkpoint").map(\.step) == [2, 4, 5])
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(
            files == [
                "step-00000002.ckpt", "step-00000002.state.ckpt", "step-00000004.ckpt", "step-00000004.state.ckpt",
                "step-00000005.ckpt", "step-00000005.state.ckpt",
            ])
        #expect(try context.db.latestCheckpoint(runId: run.id!)?.step == 5)
    }
}

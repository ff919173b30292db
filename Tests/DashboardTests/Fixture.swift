// What the dashboard tests serve: a workspace whose runs the tracker itself made (an experiment
// of four tiny runs on a synthetic task, trained a few steps each through the queue: two
// learning rates times two seeds), one run still queued, one running, and an imported run whose
// name and tags are HTML; a server on a free loopback port over it; and a small HTTP client.
import Basics
import Foundation
import Scheduler
import Session
import Store
import Testing

@testable import Dashboard

#if canImport(Glibc)
    import Glibc
#endif

enum Fixture {
    static let hostile = "<script>alert(\"x\")</script>&'"

    static let experiment = """
        [data]
        task = "t1"
        eval_lengths = [16]
        eval_episodes = 8
        [model]
        channels = 16
        layers = 1
        heads = 2
        context = 16
        [model.attention]
        variant = "softmax_rope"
        [train]
        steps = 4
        batch = 2
        eval_every = 2
        log_every = 1
        threads = 1
        checkpoint_every = 4
        [sweep]
        "train.lr" = [1e-3, 3e-3]
        "train.seed" = [1, 2]
        """

    struct Workspace: Sendable {
        var home: String
        /// The running run, whose metrics the live tests log.
        var runningId: Int64
        /// One trained run.
        var trainedId: Int64
    }

    /// The workspace, made once per test process (a few seconds).
    static let shared: Workspace = {
        do { return try make() } catch { fatalError("cannot make the dashboard test workspace: \(error)") }
    }()

    static var home: String { shared.home }

    struct Failed: Error, CustomStringConvertible { var description: String }

    static func make() throws -> Workspace {
        let home = NSTemporaryDirectory() + "dashboard-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let path = home + "/tiny-lr.toml"
        try experiment.write(toFile: path, atomically: true, encoding: .utf8)
        let (spec, plans) = try ExperimentFile.load(path: path)
        let db = try TrackerDB(home: home)
        _ = try ExperimentFile.enqueue(spec, plans, source: path, db: db, force: false)
        var extra = spec
        extra.name = "tiny-lr-more"
        _ = try ExperimentFile.enqueue(extra, Array(plans.prefix(2)), source: path, db: db, force: false)
        let session = TrainSession(home: home, peakFlops: 1e9)
        var trained: [Int64] = []
        for _ in 0..<4 {
            guard let run = try db.claimNextRun(worker: "test:1", lease: 600) else {
                throw Failed(description: "no run to claim")
            }
            trained.append(run.id!)
            try Provenance.record(run, db: db)
            let log = TrackerDB.runLogPath(home: home, runId: run.id!)
            try FileManager.default.createDirectory(
                atPath: (log as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try "== attempt 1 on worker test:1\nstep 4 \(hostile)\n".write(
                toFile: log, atomically: true, encoding: .utf8)
            _ = try session.trainQueued(id: run.id!)
            try db.transition(runId: run.id!, from: .running, to: .succeeded, worker: "test:1", exitCode: 0)
        }
        // One of the second experiment's runs runs (tests log its metrics), the other waits.
        guard let running = try db.claimNextRun(worker: "test:2", lease: 3600) else {
            throw Failed(description: "no run to claim")
        }
        _ = try Importer.importLines(
            """
            {"run": \(JSON.string(hostile).compact()), "params": {"train": {"lr": 0.01}}, "tags": {"note": \(JSON.string(hostile).compact())}}
            {"run": \(JSON.string(hostile).compact()), "step": 1, "metrics": {"train/loss": 3.5, "val/loss": 3.6}}
            """, file: "hostile.jsonl", into: db)
        return Workspace(home: home, runningId: running.id!, trainedId: trained[0])
    }
}

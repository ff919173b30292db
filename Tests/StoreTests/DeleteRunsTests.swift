// `deleteRuns`: a finished run goes with every row recorded about it, on both engines; other runs
// keep theirs; an unfinished run is refused and nothing is deleted.
import Foundation
import Testing

@testable import Store

struct DeleteRunsTests {
    /// Row counts of the tables that hang off `run`, for run `id`.
    func rows(_ db: TrackerDB, _ id: Int64) throws -> [String: Int] {
        try db.read { d in
            var out: [String: Int] = [:]
            for table in [
                "runParam", "runTag", "metric", "metricSummary", "artifact", "runEvent", "runSummaryPack", "rung",
            ] {
                out[table] = try d.scalar(
                    Int.self, sql: "SELECT count(*) FROM \(table) WHERE runId = ?", arguments: [id])
            }
            return out
        }
    }

    func finishedRun(_ db: TrackerDB, _ name: String) throws -> Int64 {
        let e = try db.upsertExperiment(name: "sweep", source: nil, spec: "{}")
        let id = try db.createRun(
            RunRecord(experimentId: e.id, name: name, config: "{}", configHash: "h-\(name)", state: .succeeded),
            params: ["lr": .real(1e-3)], tags: ["who": "test"]
        ).id!
        try db.logMetrics(
            (1...5).map { MetricPoint(runId: id, key: "train/loss", step: $0, value: 1 / Double($0), time: 0) })
        _ = try db.addArtifact(
            ArtifactRecord(
                runId: id, kind: "checkpoint", step: 5, path: "runs/\(id)/checkpoints/x", size: 1, sha256: "s"))
        try db.write { d in
            try TrackerDB.recordEvent(runId: id, from: nil, to: .succeeded, worker: nil, detail: nil, d)
        }
        _ = try db.recordRung(
            RungArrival(experimentId: e.id!, rung: 0, runId: id, step: 5, atStep: 5, metric: "train/loss", value: 0.2),
            prune: { _, _ in false })
        return id
    }

    @Test(arguments: Backend.allCases) func deletesAFinishedRunWithEverythingAboutIt(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let gone = try finishedRun(db, "gone")
        let kept = try finishedRun(db, "kept")
        let before = try rows(db, kept)
        #expect(before.values.allSatisfy { $0 > 0 }, "the fixture fills every table: \(before)")
        let deleted = try db.deleteRuns(ids: [gone, gone])
        #expect(deleted.map(\.id) == [gone])
        #expect(try db.run(id: gone) == nil)
        let after = try rows(db, gone)
        #expect(after.values.allSatisfy { $0 == 0 }, "\(after)")
        #expect(try rows(db, kept) == before)
        #expect(try db.metrics(runId: kept, key: "train/loss").count == 5)
    }

    @Test(arguments: Backend.allCases) func refusesAnUnfinishedRunAndDeletesNothing(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let done = try finishedRun(db, "done")
        for state in [RunState.queued, .running, .crashed] {
            let busy = try db.createRun(
                RunRecord(name: "busy-\(state)", config: "{}", configHash: "b-\(state)", state: state)
            ).id!
            let error = #expect(throws: StoreError.self) { try db.deleteRuns(ids: [done, busy]) }
            #expect(error == .runNotFinished(id: busy, name: "busy-\(state)", state: state.rawValue, others: 0))
            #expect(error?.description.contains("tracker cancel \(busy)") == true)
            #expect(try db.run(id: done) != nil && db.run(id: busy) != nil)
        }
        let missing = #expect(throws: StoreError.self) { try db.deleteRuns(ids: [done, 999_999]) }
        #expect(missing == .runNotFound("999999"))
        #expect(try db.run(id: done) != nil)
    }

    /// Deleting the newest run does not give its id to the next one (SQLite: AUTOINCREMENT since
    /// migration 0009; PostgreSQL: a sequence).
    @Test(arguments: Backend.allCases) func idsAreNeverReused(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let ids = try ["a", "b", "c"].map { try finishedRun(db, $0) }
        try db.deleteRuns(ids: [ids[2]])
        #expect(try finishedRun(db, "d") > ids[2])
    }

    /// A store written before migration 0009 keeps its runs and their rows through the run
    /// table's rebuild, and from then on does not reuse the ids of deleted runs.
    @Test func aStoreFromBefore0009KeepsItsRunsAndStopsReusingIds() throws {
        let old = try #require(try makeDB(.sqlite, migrations: 8))
        let ids = try ["a", "b", "c"].map { try finishedRun(old, $0) }
        let before = try ids.map { try rows(old, $0) }
        let db = try TrackerDB(path: old.path, access: .readWrite)
        #expect(try db.appliedMigrations() == TrackerDB.migrations.map(\.name))
        #expect(try ids.map { try rows(db, $0) } == before)
        #expect(try db.runs().map(\.id) == ids)
        try db.deleteRuns(ids: [ids[2]])
        #expect(try finishedRun(db, "d") == ids[2] + 1)
    }

    /// A run's files: its folder and log in the workspace, and a Slurm run's spool file and rung
    /// decisions in its sweep folder, not another run's whose id starts the same.
    @Test func aRunsFilesAreItsOwn() throws {
        let home = tempHome("run-files")
        let sweep = home + "/slurm/sweep-1"
        let fm = FileManager.default
        for dir in [home + "/runs/5/checkpoints", home + "/logs/runs", sweep + "/spool"] {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        let files = [
            "logs/runs/5.log", "logs/runs/55.log", "slurm/sweep-1/spool/5.jsonl", "slurm/sweep-1/spool/5.rung-0",
            "slurm/sweep-1/spool/5.rung-12", "slurm/sweep-1/spool/55.rung-0", "slurm/sweep-1/spool/5.rung-x",
        ]
        for f in files { try Data("x".utf8).write(to: URL(fileURLWithPath: home + "/" + f)) }
        #expect(TrackerDB.runFiles(home: home, runId: 5) == [home + "/runs/5", home + "/logs/runs/5.log"])
        #expect(
            TrackerDB.runFiles(home: home, runId: 5, sweepDir: sweep) == [
                home + "/runs/5", home + "/logs/runs/5.log", sweep + "/spool/5.jsonl", sweep + "/spool/5.rung-0",
                sweep + "/spool/5.rung-12",
            ])
        #expect(TrackerDB.runFiles(home: home, runId: 6, sweepDir: sweep).isEmpty)
    }
}

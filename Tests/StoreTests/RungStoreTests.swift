// ASHA in the store (migrations/0004_asha.sql): a workspace written before it upgrades without
// losing a row (the run table is rebuilt to accept 'pruned'), rung results are recorded once per
// run and rung with their arrival order, and summaries count results and pruned runs per rung.
import Basics
import Foundation
import GRDB
import Testing

@testable import Store

/// A database as the tracker left it before migration 0004 (ASHA), with one finished run and its rows,
/// including a Slurm task row that references the run table being rebuilt.
private func databaseBeforeAsha(_ path: String) throws {
    let q = try DatabaseQueue(path: path)
    try q.write { db in
        try db.execute(
            sql: "CREATE TABLE schemaMigration (name TEXT PRIMARY KEY, sha256 TEXT NOT NULL, appliedAt TEXT)")
        for m in TrackerDB.migrations.prefix(3) {
            try db.execute(sql: m.sql)
            try db.execute(
                sql: "INSERT INTO schemaMigration (name, sha256) VALUES (?, ?)",
                arguments: [m.name, SHA256.hex(Array(m.sql.utf8))])
        }
        try db.execute(sql: "INSERT INTO experiment (id, name, spec) VALUES (1, 'old', '{}')")
        try db.execute(
            sql: """
                INSERT INTO run (id, experimentId, name, config, configHash, state) VALUES (7, 1, 'r', '{}', 'h', 'succeeded');
                INSERT INTO runParam (runId, key, type, num) VALUES (7, 'train.lr', 'real', 0.001);
                INSERT INTO metric (runId, key, step, value, time) VALUES (7, 'val/loss', 10, 4.5, 0);
                INSERT INTO metricSummary (runId, key, lastStep, last, min, max, count) VALUES (7, 'val/loss', 10, 4.5, 4.5, 4.5, 1);
                INSERT INTO artifact (runId, kind, step, path, size, sha256) VALUES (7, 'checkpoint', 10, 'c', 1, 'x');
                INSERT INTO runEvent (runId, toState) VALUES (7, 'succeeded');
                INSERT INTO slurmTask (runId, sweepDir, taskIndex, jobName) VALUES (7, '/s', 0, 'j');
                """)
    }
}

struct RungStoreTests {
    @Test func aWorkspaceFromBeforeAshaUpgradesWithEveryRow() throws {
        let home = tempHome()
        try databaseBeforeAsha(home + "/tracker.sqlite")
        let db = try TrackerDB(home: home)
        #expect(try db.appliedMigrations() == TrackerDB.migrations.map(\.name))
        let counts = try db.read { db in
            try ["run", "runParam", "metric", "metricSummary", "artifact", "runEvent", "slurmTask"].map {
                try db.scalar(Int.self, sql: "SELECT count(*) FROM \($0)")!
            }
        }
        #expect(counts == [1, 1, 1, 1, 1, 1, 1])
        #expect(try db.run(id: 7)?.state == .succeeded)
        #expect(try db.read { try $0.scalar(Int.self, sql: "PRAGMA foreign_keys") } == 1)
        let indexes = try db.read {
            try $0.column(String.self, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'run'")
        }
        #expect(Set(indexes).isSuperset(of: ["runQueue", "runByExperiment", "runByConfig"]))
        // The rebuilt table still cascades to the run's rows, and accepts the new state.
        try db.write { try $0.execute(sql: "UPDATE run SET state = 'pruned' WHERE id = 7") }
        try db.write { try $0.execute(sql: "DELETE FROM run WHERE id = 7") }
        #expect(try db.read { try $0.scalar(Int.self, sql: "SELECT count(*) FROM metric") } == 0)
        #expect(try db.read { try $0.scalar(Int.self, sql: "SELECT count(*) FROM slurmTask") } == 0)
    }

    @Test(arguments: Backend.allCases)
    func rungResultsAreRecordedOncePerRunWithTheirArrivalAndCounted(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let e = try db.upsertExperiment(name: "sweep", source: nil, spec: "{}")
        let runs = try (1...3).map { i in
            try db.createRun(RunRecord(experimentId: e.id, name: "r\(i)", config: "{}", configHash: "h\(i)"))
        }
        func arrive(_ run: RunRecord, _ value: Double, rung: Int64 = 0) -> RungArrival {
            RungArrival(
                experimentId: e.id!, rung: rung, runId: run.id!, step: 10, atStep: 10, metric: "val/loss", value: value)
        }
        var seen: [[Double]] = []
        let worse = { (earlier: [Double], v: Double) -> Bool in
            seen.append(earlier)
            return earlier.contains { $0 < v }
        }
        #expect(try db.recordRung(arrive(runs[0], 2), prune: worse).pruned == false)
        #expect(try db.recordRung(arrive(runs[1], .nan), prune: worse).arrival == 2)
        #expect(try db.recordRung(arrive(runs[2], 3), prune: worse).pruned == true)
        // Again for the same run and rung: the first result stands, no decision is taken.
        let again = try db.recordRung(arrive(runs[0], 9), prune: worse)
        #expect(again.metricValue == 2 && again.arrival == 1)
        #expect(seen.count == 3 && seen[2].count == 2 && seen[2][0] == 2 && seen[2][1].isNaN)
        #expect(try db.rungs(runId: runs[1].id!).first?.value == nil)
        _ = try db.recordRung(arrive(runs[0], 1, rung: 1), prune: worse)
        let summary = try db.rungSummaries()
        #expect(summary.map(\.rung) == [0, 1] && summary.map(\.results) == [3, 1] && summary.map(\.pruned) == [1, 0])
        #expect(summary.allSatisfy { $0.experiment == "sweep" })
        #expect(try db.rungs(runIds: [runs[2].id!]).map(\.runId) == [runs[2].id!])
    }

    /// A deleted run takes its rung rows with it; the next run to reach the rung arrives after the
    /// last arrival left, not at the count (which a gap would make collide).
    @Test(arguments: Backend.allCases)
    func aRunArrivingAfterADeleteTakesTheNextArrival(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let e = try db.upsertExperiment(name: "sweep", source: nil, spec: "{}")
        let runs = try (1...4).map { i in
            try db.createRun(
                RunRecord(experimentId: e.id, name: "r\(i)", config: "{}", configHash: "h\(i)", state: .succeeded))
        }
        func arrive(_ run: RunRecord) throws -> RungRecord {
            try db.recordRung(
                RungArrival(
                    experimentId: e.id!, rung: 0, runId: run.id!, step: 10, atStep: 10, metric: "val/loss", value: 1),
                prune: { _, _ in false })
        }
        #expect(try runs[0...2].map { try arrive($0).arrival } == [1, 2, 3])
        try db.deleteRuns(ids: [runs[1].id!])
        #expect(try db.rungs(experimentId: e.id!).map(\.arrival) == [1, 3])
        #expect(try arrive(runs[3]).arrival == 4)
    }
}

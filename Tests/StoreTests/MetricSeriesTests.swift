// SQLite keeps metric points in metricPoint under an integer series id (metricSeries), with
// `metric` a view of the old columns (migrations/0008_metric_series.sql): a store written before
// the change keeps every point through the migration, writes through the view behave as the
// table's did, and deleting a run deletes its series and points.
import Foundation
import Testing

@testable import Store

struct MetricSeriesTests {
    /// The rows of `metric`, in key order.
    static func rows(_ db: TrackerDB) throws -> [String] {
        try db.read { c in
            try c.rows(
                "SELECT runId, key, step, value, isNaN, time FROM metric ORDER BY runId, key, step", []
            ).map { r in r.values.map { "\($0)" }.joined(separator: " ") }
        }
    }

    @Test func aStoreFromBeforeTheChangeKeepsEveryPoint() throws {
        let before = try #require(try makeDB(.sqlite, migrations: 7))
        let runs = [try makeRun(before, name: "a"), try makeRun(before, name: "b")]
        try before.write { c in
            for run in runs {
                for step in 0..<50 {
                    for key in ["train/loss", "val/loss", "task/acc/1x/[0,L)"] {
                        let nan = run == runs[1] && step == 7 && key == "val/loss"
                        _ = try c.execute(
                            "INSERT INTO metric (runId, key, step, value, isNaN, time) VALUES (?, ?, ?, ?, ?, ?)",
                            [
                                .integer(run), .text(key), .integer(Int64(step)), nan ? .null : .real(Double(step) / 8),
                                .integer(nan ? 1 : 0), .real(1000 + Double(step)),
                            ])
                    }
                }
            }
        }
        let old = try Self.rows(before)
        #expect(old.count == 300)
        let after = try TrackerDB(path: before.path)  // applies 0008
        #expect(try Self.rows(after) == old)
        #expect(try after.read { try $0.scalar(Int.self, sql: "SELECT count(*) FROM metricSeries") } == 6)
        #expect(try after.metrics(runId: runs[1], key: "val/loss")[7].value.isNaN)
        // and the write path goes on where the old rows end
        try after.logMetrics([MetricPoint(runId: runs[0], key: "train/loss", step: 50, value: 2, time: 2000)])
        #expect(try after.metrics(runId: runs[0], key: "train/loss").map(\.step) == Array(0...50))
        #expect(try after.read { try $0.scalar(String.self, sql: "PRAGMA integrity_check") } == "ok")
    }

    @Test func writesThroughTheViewActAsTheTablesDid() throws {
        let db = try #require(try makeDB(.sqlite))
        let run = try makeRun(db)
        try db.logMetrics((0..<4).map { MetricPoint(runId: run, key: "k", step: $0, value: 1, time: 0) })
        try db.write { c in
            // a new series through the view, isNaN defaulted
            _ = try c.execute(
                "INSERT INTO metric (runId, key, step, value, time) VALUES (?, 'j', 1, 5, 0)", [.integer(run)])
            // a step replaced in place, another deleted
            _ = try c.execute(
                "INSERT OR REPLACE INTO metric (runId, key, step, value, time) VALUES (?, 'k', 2, 9, 0)",
                [.integer(run)])
            _ = try c.execute(
                "UPDATE metric SET value = 7, time = 3 WHERE runId = ? AND key = 'k' AND step = 1", [.integer(run)])
            _ = try c.execute("DELETE FROM metric WHERE runId = ? AND key = 'k' AND step = 3", [.integer(run)])
        }
        #expect(try db.metrics(runId: run, key: "k").map(\.value) == [1, 7, 9])
        #expect(try db.metrics(runId: run, key: "j").map(\.value) == [5])
        // a plain INSERT of a step already there fails, as the table's primary key did
        #expect(throws: (any Error).self) {
            try db.write {
                _ = try $0.execute(
                    "INSERT INTO metric (runId, key, step, value, time) VALUES (?, 'k', 0, 1, 0)", [.integer(run)])
            }
        }
        // moving a point to another run or key is refused
        #expect(throws: (any Error).self) {
            try db.write {
                _ = try $0.execute("UPDATE metric SET key = 'x' WHERE runId = ? AND key = 'k'", [.integer(run)])
            }
        }
        // a point of a run that does not exist is refused by the series' foreign key
        #expect(throws: (any Error).self) {
            try db.write {
                _ = try $0.execute(
                    "INSERT INTO metric (runId, key, step, value, time) VALUES (424242, 'k', 0, 1, 0)", [])
            }
        }
    }

    @Test func deletingARunDeletesItsSeriesAndPoints() throws {
        let db = try #require(try makeDB(.sqlite))
        let (a, b) = (try makeRun(db, name: "a"), try makeRun(db, name: "b"))
        for run in [a, b] {
            try db.logMetrics(
                (0..<100).map { MetricPoint(runId: run, key: "k\($0 % 2)", step: Int64($0 / 2), value: 1, time: 0) })
        }
        try db.write { _ = try $0.execute("DELETE FROM run WHERE id = ?", [.integer(a)]) }
        #expect(try db.read { try $0.scalar(Int.self, sql: "SELECT count(*) FROM metricSeries") } == 2)
        #expect(try db.read { try $0.scalar(Int.self, sql: "SELECT count(*) FROM metricPoint") } == 100)
        #expect(try db.metrics(runId: b, key: "k1").count == 50)
        // a new run given the deleted run's id gets series of its own, not the old ones' ids
        let c = try makeRun(db, name: "c")
        try db.logMetrics([MetricPoint(runId: c, key: "k0", step: 0, value: 2, time: 0)])
        #expect(try db.metrics(runId: c, key: "k0").map(\.value) == [2])
    }
}

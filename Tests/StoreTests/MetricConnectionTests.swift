// SQLite's metric batches go through a connection of their own, with foreign keys off (the batch
// checks its runs): its prepared statements survive from batch to batch, the pool's connection
// keeps enforcing foreign keys, and the two write side by side in one process without errors.
import Foundation
import GRDB
import GRDBSQLite
import Testing

@testable import Store

struct MetricConnectionTests {
    @Test func batchesReuseTheirPreparedStatementsAndThePoolKeepsForeignKeys() throws {
        let db = try TrackerDB(home: tempHome("store-metric-conn"))
        let run = try makeRun(db)
        for b in 0..<5 {
            // 1000 points: statements of 64, 32 and 8 rows.
            try db.logMetrics(
                (0..<1000).map {
                    MetricPoint(runId: run, key: "k\($0 % 4)", step: Int64(b * 250 + $0 / 4), value: 1, time: 0)
                })
        }
        let backend = try #require(db.backend as? SQLiteBackend)
        for rows in [64, 32, 8] {
            // Appends only: the OR FAIL statements, run five times each.
            let (reprepared, runs) = try backend.metricWriter().read { conn in
                let stmt = try conn.cachedStatement(sql: TrackerDB.insertSQL(rows: rows, replacing: false))
                return (
                    sqlite3_stmt_status(stmt.sqliteStatement, SQLITE_STMTSTATUS_REPREPARE, 0),
                    sqlite3_stmt_status(stmt.sqliteStatement, SQLITE_STMTSTATUS_RUN, 0)
                )
            }
            #expect(runs >= 5, "the \(rows)-row INSERT ran \(runs) times")
            #expect(reprepared == 0, "the \(rows)-row INSERT was prepared again \(reprepared) times")
        }
        #expect(try db.metrics(runId: run, key: "k3").count == 1250)
        #expect(throws: (any Error).self, "the pool's connection must still check foreign keys") {
            try db.write {
                try $0.execute(sql: "INSERT INTO metric (runId, key, step, value, time) VALUES (999999, 'k', 1, 1, 0)")
            }
        }
    }

    /// A batch that only appends goes in with OR FAIL; a step already in the table that its
    /// summary does not know of (a row written around logMetrics) is replaced all the same, and
    /// the summaries are recomputed.
    @Test func anAppendMeetingAnUnknownStepReplacesItAndRecomputes() throws {
        let db = try TrackerDB(home: tempHome("store-metric-conn"))
        let run = try makeRun(db)
        try db.logMetrics((0..<10).map { MetricPoint(runId: run, key: "k", step: $0, value: 1, time: 0) })
        try db.write {
            try $0.execute(
                sql: "INSERT INTO metric (runId, key, step, value, time) VALUES (?, 'k', 100, 7, 0)", arguments: [run])
        }
        try db.logMetrics(
            (10..<200).map { MetricPoint(runId: run, key: $0 % 2 == 0 ? "k" : "j", step: $0, value: -1, time: 1) })
        let back = try db.metrics(runId: run, key: "k")
        #expect(back.count == 105 && back.filter { $0.step == 100 }.map(\.value) == [-1])
        for s in try db.metricSummaries(runId: run) {
            #expect(s == (try db.recomputedSummary(runId: run, key: s.key)), "\(s.key)")
        }
    }

    @Test func metricBatchesAndPoolWritesInterleaveInOneProcess() throws {
        let db = try TrackerDB(home: tempHome("store-metric-conn"))
        let runs = try (0..<2).map { try makeRun(db, name: "w\($0)") }
        let writer = MetricWriter(db: db, flushInterval: 0.001, batchSize: 256)
        let logged = DispatchSemaphore(value: 0)
        Thread {
            for step in 0..<5_000 {
                writer.log(runId: runs[step % 2], step: Int64(step), metrics: ["loss": Double(step), "lr": 0.5])
            }
            logged.signal()
        }.start()
        // Meanwhile the pool's connection writes runs, taking the write lock in turn.
        for i in 0..<40 { _ = try makeRun(db, name: "other\(i)") }
        logged.wait()
        try writer.close()
        for run in runs {
            #expect(try db.metrics(runId: run, key: "loss").count == 2_500)
            for s in try db.metricSummaries(runId: run) {
                #expect(s == (try db.recomputedSummary(runId: run, key: s.key)), "\(s.key)")
            }
        }
        #expect(try db.runs().count == 42)
    }
}

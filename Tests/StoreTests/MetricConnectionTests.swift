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
            let reprepared = try backend.metricWriter().read { conn in
                sqlite3_stmt_status(
                    try conn.cachedStatement(sql: TrackerDB.insertSQL(rows: rows)).sqliteStatement,
                    SQLITE_STMTSTATUS_REPREPARE, 0)
            }
            #expect(reprepared == 0, "the \(rows)-row INSERT was prepared again \(reprepared) times")
        }
        #expect(try db.metrics(runId: run, key: "k3").count == 1250)
        #expect(throws: (any Error).self, "the pool's connection must still check foreign keys") {
            try db.write {
                try $0.execute(sql: "INSERT INTO metric (runId, key, step, value, time) VALUES (999999, 'k', 1, 1, 0)")
            }
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

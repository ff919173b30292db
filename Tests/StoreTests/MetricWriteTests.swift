// The metric write path: NaN and infinities round-trip exactly, re-logging a step replaces it,
// metricSummary always equals a recomputation, and MetricWriter's log call stays cheap; on both engines.
import Basics
import Foundation
import Testing

@testable import Store

func makeRun(_ db: TrackerDB, name: String = "r") throws -> Int64 {
    try db.createRun(RunRecord(name: name, config: "{}", configHash: "h-\(name)")).id!
}

struct MetricWriteTests {
    @Test(arguments: Backend.allCases) func nanAndInfinitiesRoundTripExactly(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let run = try makeRun(db)
        let values: [Double] = [.nan, .infinity, -.infinity, 0, -0.0, 1e-300, .greatestFiniteMagnitude, 3.25]
        let points = values.enumerated().map {
            MetricPoint(
                runId: run, key: "train/loss", step: Int64($0.offset), value: $0.element, time: 100 + Double($0.offset))
        }
        try db.logMetrics(points)
        let back = try db.metrics(runId: run, key: "train/loss")
        #expect(back.count == points.count)
        for (a, b) in zip(points, back) {
            // Exact up to the sign of zero: SQLite stores a whole REAL as an integer, so -0.0 reads back as 0.0.
            #expect(a.sameBits(b), "\(a) != \(b)")
        }
        let isNaN = try db.read { try $0.scalar(Int.self, sql: "SELECT isNaN FROM metric WHERE step = 0") }
        #expect(isNaN == 1)
        let s = try #require(try db.metricSummaries(runId: run).first)
        #expect(s.min == -.infinity && s.max == .infinity && s.count == 8 && s.lastStep == 7 && s.last == 3.25)
    }

    @Test(arguments: Backend.allCases) func nanAsLastValueIsFlagged(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let run = try makeRun(db)
        try db.logMetrics([MetricPoint(runId: run, key: "k", step: 1, value: .nan, time: 0)])
        let s = try #require(try db.metricSummaries(runId: run).first)
        #expect(s.lastIsNaN && s.last == nil && s.min == nil && s.max == nil && s.count == 1 && s.lastValue.isNaN)
    }

    @Test(arguments: Backend.allCases) func relogReplacesWithoutDuplicates(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let run = try makeRun(db)
        try db.logMetrics(
            (0..<10).map { MetricPoint(runId: run, key: "train/loss", step: $0, value: Double($0), time: 0) })
        // A resumed run re-logs steps 5...12 with new values.
        try db.logMetrics(
            (5..<13).map { MetricPoint(runId: run, key: "train/loss", step: $0, value: -Double($0), time: 1) })
        let back = try db.metrics(runId: run, key: "train/loss")
        #expect(back.map(\.step) == Array(0..<13))
        #expect(back[7].value == -7)
        let rows = try db.read { try $0.scalar(Int.self, sql: "SELECT count(*) FROM metric")! }
        #expect(rows == 13)
        #expect(try db.metricSummaries(runId: run).first == db.recomputedSummary(runId: run, key: "train/loss"))
    }

    @Test(arguments: Backend.allCases) func lastPointForAStepWinsWithinABatch(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let run = try makeRun(db)
        try db.logMetrics([
            MetricPoint(runId: run, key: "k", step: 1, value: 1, time: 0),
            MetricPoint(runId: run, key: "k", step: 1, value: 2, time: 0),
        ])
        #expect(try db.metrics(runId: run, key: "k").map(\.value) == [2])
        let s = try #require(try db.metricSummaries(runId: run).first)
        #expect(s.count == 1 && s.min == 2 && s.max == 2)
    }

    @Test(arguments: Backend.allCases, [1, 2, 3, 4])
    func summaryEqualsRecomputationAfterRandomBatches(backend: Backend, seed: UInt64) throws {
        guard let db = try makeDB(backend) else { return }
        let runs = [try makeRun(db, name: "a"), try makeRun(db, name: "b")]
        var rng = SplitMix64(seed: seed)
        let keys = ["train/loss", "val/loss", "train/lr"]
        for _ in 0..<30 {
            let n = Int.random(in: 1...40, using: &rng)
            let points = (0..<n).map { _ -> MetricPoint in
                let special = Int.random(in: 0..<20, using: &rng)
                let value: Double =
                    special == 0
                    ? .nan
                    : special == 1 ? .infinity : special == 2 ? -.infinity : Double.random(in: -5...5, using: &rng)
                return MetricPoint(
                    runId: runs.randomElement(using: &rng)!, key: keys.randomElement(using: &rng)!,
                    step: Int64.random(in: 0..<60, using: &rng), value: value, time: 0)
            }
            try db.logMetrics(points)
        }
        for run in runs {
            for s in try db.metricSummaries(runId: run) {
                #expect(s == (try db.recomputedSummary(runId: run, key: s.key)), "\(s.key)")
            }
        }
    }

    /// Large batches over many series (past the 16 looked up without hashing), interleaved and
    /// with repeated steps, in chunks of every statement size: the table holds the last value
    /// logged for each step, and every summary equals a recomputation.
    @Test(arguments: Backend.allCases, [5, 6])
    func manySeriesInLargeBatchesKeepTheLastValuePerStep(backend: Backend, seed: UInt64) throws {
        guard let db = try makeDB(backend) else { return }
        let runs = try (0..<4).map { try makeRun(db, name: "r\($0)") }
        let keys = (0..<9).map { "train/k\($0)" }
        var rng = SplitMix64(seed: seed)
        var expected: [String: Double] = [:]
        for round in 0..<6 {
            let n = [1, 63, 64, 65, 127, 1000][round]
            let points = (0..<n).map { i -> MetricPoint in
                MetricPoint(
                    runId: runs.randomElement(using: &rng)!, key: keys.randomElement(using: &rng)!,
                    step: Int64.random(in: 0..<(round < 3 ? 300 : 30), using: &rng),
                    value: i % 50 == 7 ? .nan : Double.random(in: -9...9, using: &rng), time: Double(round))
            }
            for p in points { expected["\(p.runId) \(p.key) \(p.step)"] = p.value }
            try db.logMetrics(points)
        }
        var rows = 0
        for run in runs {
            for key in keys {
                for p in try db.metrics(runId: run, key: key) {
                    rows += 1
                    let want = try #require(expected["\(run) \(key) \(p.step)"])
                    #expect(want.isNaN ? p.value.isNaN : want == p.value, "\(run) \(key) \(p.step)")
                }
            }
            for s in try db.metricSummaries(runId: run) {
                #expect(s == (try db.recomputedSummary(runId: run, key: s.key)), "\(s.key)")
            }
        }
        #expect(rows == expected.count)
    }

    /// One batch over several runs where some series log new steps (PostgreSQL's plain INSERT when
    /// alone), one rewrites a stored step and one repeats a step inside the batch (the upsert),
    /// with NaN first, last and in between: the last value per step wins and every summary equals
    /// a recomputation; afterwards a batch of new steps only goes the plain way again.
    @Test(arguments: Backend.allCases) func aBatchMixingNewAndRewrittenSeriesOfSeveralRuns(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let (a, b) = (try makeRun(db, name: "a"), try makeRun(db, name: "b"))
        try db.logMetrics((0..<4).map { MetricPoint(runId: b, key: "loss", step: $0, value: Double($0), time: 0) })
        try db.logMetrics([
            MetricPoint(runId: a, key: "loss", step: 0, value: .nan, time: 1),
            MetricPoint(runId: a, key: "lr", step: 0, value: 0.5, time: 1),
            MetricPoint(runId: b, key: "loss", step: 2, value: -2, time: 1),  // rewrites a stored step
            MetricPoint(runId: a, key: "loss", step: 1, value: 3, time: 1),
            MetricPoint(runId: b, key: "lr", step: 7, value: 1, time: 1),
            MetricPoint(runId: b, key: "lr", step: 7, value: .nan, time: 1),  // the same step again: NaN wins
        ])
        try db.logMetrics([
            MetricPoint(runId: a, key: "loss", step: 2, value: .nan, time: 2),
            MetricPoint(runId: b, key: "loss", step: 4, value: 9, time: 2),
        ])
        #expect(
            try db.metrics(runId: a, key: "loss").map { $0.value.isNaN ? "nan" : "\($0.value)" } == [
                "nan", "3.0", "nan",
            ])
        #expect(try db.metrics(runId: b, key: "loss").map(\.value) == [0, 1, -2, 3, 9])
        #expect(try db.metrics(runId: b, key: "lr").map { $0.value.isNaN } == [true])
        for run in [a, b] {
            for s in try db.metricSummaries(runId: run) {
                #expect(s == (try db.recomputedSummary(runId: run, key: s.key)), "\(run) \(s.key)")
            }
        }
        let loss = try #require(try db.metricSummaries(runId: a).first { $0.key == "loss" })
        #expect(loss.lastIsNaN && loss.count == 3 && loss.min == 3 && loss.max == 3)
    }

    /// PostgreSQL sends some statements without waiting for their answer (BEGIN, a batch's
    /// write): a failing one still fails its transaction, with its own error, and the
    /// connection goes on working.
    @Test func aStatementSentWithoutWaitingFailsItsTransaction() throws {
        guard let db = try makeDB(.postgres) else { return }
        let run = try makeRun(db, name: "kept")
        #expect(throws: StoreError.self) {
            try db.write { conn in
                try conn.execute(sql: "UPDATE run SET name = 'changed' WHERE id = ?", arguments: [run])
                try #require(conn as? PostgresStoreConnection).send("SELECT 1 / 0")
            }
        }
        #expect(try db.run(id: run)?.name == "kept")
        let error = #expect(throws: StoreError.self) {
            try db.write { conn in
                try #require(conn as? PostgresStoreConnection).send("SELECT 1 / 0")
                _ = try conn.rows(sql: "SELECT 1")
            }
        }
        #expect(String(describing: error).contains("division by zero"))
        try db.logMetrics([MetricPoint(runId: run, key: "k", step: 1, value: 1, time: 0)])
        #expect(try db.metrics(runId: run, key: "k").count == 1)
    }

    @Test(arguments: Backend.allCases) func writerFlushesEverythingAndLogStaysCheap(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let run = try makeRun(db)
        let writer = MetricWriter(db: db, flushInterval: 0.02, batchSize: 512)
        var durations: [Double] = []
        durations.reserveCapacity(20_000)
        for step in 0..<5_000 {
            for key in ["train/loss", "train/lr", "train/gradNorm", "train/tokensPerSecond"] {
                let t0 = DispatchTime.now().uptimeNanoseconds
                writer.log(runId: run, key: key, step: Int64(step), value: Double(step), time: 0)
                durations.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
        }
        try writer.flush()
        #expect(writer.pending == 0)
        #expect(try db.metrics(runId: run, key: "train/lr").count == 5_000)
        try writer.close()
        durations.sort()
        let p99 = durations[durations.count * 99 / 100]
        // A loose bound for debug builds on a busy machine; the measured number is in bench/.
        #expect(p99 < 20, "log p99 \(p99) ms")
    }

    @Test(arguments: Backend.allCases) func aPointOfAMissingRunFailsTheWholeBatch(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let run = try makeRun(db)
        #expect(throws: StoreError.runNotFound("999999")) {
            try db.logMetrics([
                MetricPoint(runId: run, key: "k", step: 1, value: 1, time: 0),
                MetricPoint(runId: 999_999, key: "k", step: 1, value: 1, time: 0),
            ])
        }
        #expect(try db.metrics(runId: run, key: "k").isEmpty && db.metricSummaries(runId: run).isEmpty)
        // The connection has its foreign keys back: deleting the run still cascades to its points.
        try db.logMetrics([MetricPoint(runId: run, key: "k", step: 1, value: 1, time: 0)])
        try db.write { try $0.execute(sql: "DELETE FROM run WHERE id = ?", arguments: [run]) }
        #expect(try db.read { try $0.scalar(Int.self, sql: "SELECT count(*) FROM metric") } == 0)
    }

    @Test(arguments: Backend.allCases) func writerReportsWriteErrorsOnFlush(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let writer = MetricWriter(db: db, flushInterval: 0.01)
        writer.log(runId: 999_999, key: "k", step: 1, value: 1)  // no such run: foreign key error
        #expect(throws: (any Error).self) { try writer.flush() }
        try writer.close()
    }
}

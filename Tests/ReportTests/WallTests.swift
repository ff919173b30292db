// The reports' "wall" is the time a run ran (`RunReader.runningTimes`), not its calendar span:
// the fixture's softmax_rope-seed1 ran 00:00-00:12, but its first worker died silently after a
// metric at 00:00:30, which was noticed at 00:10 (lease expired); resumed at 00:11, it ran 90 s.
import Basics
import Session
import Store
import Testing

@testable import Report

struct WallTests {
    /// The fixture with softmax_rope-seed1 (run 1) interrupted as above.
    static func database() throws -> TrackerDB {
        let db = try Fixture.database()
        try db.write { c in
            try c.execute(sql: "DELETE FROM runEvent WHERE runId = 1 AND fromState IS NOT NULL")
            let events: [(String, String, String, String?)] = [
                ("00:00:00.000", "queued", "running", "attempt 1"),
                ("00:10:00.000", "running", "crashed", "lease expired: worker box:42 missed its heartbeat"),
                ("00:10:00.001", "crashed", "queued", "retry 2 of 3, resuming from the last checkpoint"),
                ("00:11:00.000", "queued", "running", "attempt 2"),
                ("00:12:00.000", "running", "succeeded", nil),
            ]
            for (time, from, to, detail) in events {
                try c.execute(
                    sql: "INSERT INTO runEvent (runId, time, fromState, toState, detail) VALUES (1, ?, ?, ?, ?)",
                    arguments: ["2025-01-01T\(time)Z", from, to, detail])
            }
            // 2025-01-01T00:00:30Z: the last metric the first attempt logged.
            try c.execute(sql: "UPDATE metric SET time = 1735689630 WHERE runId = 1 AND key = 'val/loss' AND step = 50")
        }
        return db
    }

    @Test func compareAndResultsShowTheRunningTime() throws {
        let reader = RunReader(db: try Self.database())
        let compare = try Reports.compare(reader, CompareQuery(selection: RunSelection(experiment: "sweep")))
        let runs = try #require(Self.table(compare, "Runs"))
        let wall = try #require(runs.columns.firstIndex(of: "wall"))
        #expect(runs.rows.map { $0[wall].display } == ["1m30s", "13m00s", "15m00s", "16m00s", "3m00s"])

        let claims = try Self.sweepClaims()
        let results = try #require(Self.table(try Reports.results(reader, claims), "sweep: runs"))
        #expect(results.rows.map { $0.last?.display } == ["1m30s", "13m00s", "15m00s", "16m00s", "3m00s"])
        // The group of softmax_rope's two seeds: mean of 90 s and 780 s.
        let groups = try #require(
            Self.table(compare, "Groups: mean ± std over runs (grouped by model.attention.variant, train.lr)"))
        #expect(groups.rows[0].last?.display.hasPrefix("7m15s ± ") == true)
        // The single run's report keeps the calendar span.
        #expect(try reader.summaries(RunSelection(runs: ["softmax_rope-seed1"]))[0].duration == 720)
    }

    /// The results' cost table sums the running times (not the calendar spans) and divides the
    /// tokens by them.
    @Test func theCostIsTheRunningTimeSummed() throws {
        let db = try Self.database()
        try Self.setBatchAndContext(db) { _ in 4 }  // 100 steps of 4 x 8 tokens: 3,200 tokens a run
        let claims = try Self.sweepClaims()
        let results = try Reports.results(RunReader(db: db), claims)
        let cost = try #require(Self.table(results, "Cost"))
        // 90 + 780 + 900 + 960 + 180 = 2,910 s = 0.81 h, 9m42s a run; 16,000 tokens / 2,910 s.
        #expect(
            cost.rows.map { $0.map(\.display) } == [
                ["sweep", "5 (4 succeeded)", "100", "3200", "0.81", "9m42s", "13.5k", "5.50"],
                ["total", "5 (4 succeeded)", "-", "-", "0.81", "-", "-", "5.50"],
            ])
        let notes = results.sections.compactMap { section -> String? in
            if case .note(let text) = section { return text }
            return nil
        }
        #expect(
            notes.contains {
                $0.hasPrefix("In all: 0.81 worker-hours, so about 0.4 hours of wall-clock time with two workers")
            })
        // with three workers, a third of it
        let three = try Reports.results(RunReader(db: db), claims, workers: 3).sections.compactMap {
            section -> String? in
            if case .note(let text) = section { return text }
            return nil
        }
        let third = "In all: 0.81 worker-hours, so about 0.3 hours of wall-clock time with three workers"
        #expect(three.contains { $0.hasPrefix(third) })
        #expect(three.contains { $0.contains("with three workers the suite takes about 1/3 of them") })
        #expect(notes.contains { $0.contains("with two workers the suite takes about half of them") })
    }

    /// A parameter TOML allows but no count is (inf) leaves that run's tokens out of the cost,
    /// with no trap.
    @Test func aNonFiniteBatchLeavesTheRunsTokensOut() throws {
        let db = try Self.database()
        try Self.setBatchAndContext(db) { $0 == 5 ? .infinity : 4 }
        let claims = try Self.sweepClaims()
        let cost = try #require(Self.table(try Reports.results(RunReader(db: db), claims), "Cost"))
        // runs 1-4: 12,800 tokens in 90 + 780 + 900 + 960 = 2,730 s
        #expect(cost.rows[0].map(\.display)[3] == "3200")
        #expect(cost.rows[0].map(\.display)[7] == "4.69")
    }

    /// A claims file over the fixture's experiment (its one claim does not matter here).
    static func sweepClaims() throws -> ClaimSet {
        try ClaimSet(
            tree: try TOMLReader.parse(
                """
                experiments = ["sweep"]
                [[claim]]
                id = "c"
                source = "s"
                claim = "x"
                experiment = "sweep"
                checks = [{ a = 'model.attention.variant = "forgetting"', metric = "val/loss", op = ">=", value = 0 }]
                """, file: "claims.toml"))
    }

    /// Gives the fixture's five runs a context of 8 and `batch(run)` as their batch, in plain SQL.
    static func setBatchAndContext(_ db: TrackerDB, batch: (Int) -> Double) throws {
        try db.write { c in
            for run in 1...5 {
                for (key, value) in [("model.context", 8.0), ("train.batch", batch(run))] {
                    try c.execute(
                        sql: "INSERT INTO runParam (runId, key, type, num) VALUES (?, ?, 'real', ?)",
                        arguments: [run, key, value])
                }
            }
            try TrackerDB.rebuildSummaryPacks(in: c)  // rows written around the store's API
        }
    }

    static func table(_ doc: ReportDocument, _ title: String) -> ReportTable? {
        for case .table(let t) in doc.sections where t.title == title { return t }
        return nil
    }
}

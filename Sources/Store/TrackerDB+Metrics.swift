// The one write path for metrics (MLflow's log_batch idea): a batch of points goes in one short
// BEGIN IMMEDIATE transaction through one cached INSERT OR REPLACE statement, NaN is stored as
// value NULL + isNaN 1 (SQLite turns NaN into NULL), and metricSummary is upserted once per
// (run, key) of the batch. Appends update the summary incrementally; a batch that rewrites steps
// at or before the summary's last step (a resumed run re-logging after its checkpoint, an
// import) recomputes that key's summary from the metric table, so it always equals a
// recomputation. On PostgreSQL the points go in as one multi-row upsert per batch
// (TrackerDB+MetricsPostgres.swift); the summary maintenance is the same code for both.
import GRDB
import GRDBSQLite

extension TrackerDB {
    /// Writes `points` in one transaction. A (runId, key, step) logged again replaces the earlier
    /// value; within one batch the last point for a step wins.
    public func logMetrics(_ points: [MetricPoint]) throws {
        if points.isEmpty { return }
        try write { db in try Self.logMetrics(points, in: db) }
    }

    /// The same write path inside a caller's transaction (import writes runs and metrics together).
    public static func logMetrics(_ points: [MetricPoint], in conn: any StoreConnection) throws {
        if points.isEmpty { return }
        var groups: [SeriesKey: BatchSummary] = [:]
        if let db = (conn as? SQLiteConnection)?.db {
            let insert = try db.cachedStatement(
                sql: "INSERT OR REPLACE INTO metric (runId, key, step, value, isNaN, time) VALUES (?, ?, ?, ?, ?, ?)")
            for p in points {
                try insertPoint(p, insert.sqliteStatement, db)
                groups[SeriesKey(runId: p.runId, key: p.key), default: BatchSummary()].add(p)
            }
        } else {
            try insertPortable(points, conn)
            for p in points { groups[SeriesKey(runId: p.runId, key: p.key), default: BatchSummary()].add(p) }
        }
        let db = conn
        for (series, batch) in groups {
            try updateSummary(series, batch, db)
        }
    }

    /// A metric's history for one run, by step, NaN restored.
    public func metrics(runId: Int64, key: String) throws -> [MetricPoint] {
        try read { db in
            try db.rows(
                sql: "SELECT step, value, isNaN, time FROM metric WHERE runId = ? AND key = ? ORDER BY step",
                arguments: [runId, key]
            ).map { row in
                let isNaN: Bool = try row.get("isNaN")
                return MetricPoint(
                    runId: runId, key: key, step: try row.get("step"),
                    value: isNaN ? .nan : Double(sqlValue: row["value"]) ?? .nan, time: try row.get("time"))
            }
        }
    }

    /// The metric keys a run has logged, sorted.
    public func metricKeys(runId: Int64) throws -> [String] {
        try read { db in
            try db.column(
                String.self, sql: "SELECT key FROM metricSummary WHERE runId = ? ORDER BY key", arguments: [runId])
        }
    }

    /// The summaries of one run's metrics, by key.
    public func metricSummaries(runId: Int64) throws -> [MetricSummaryRecord] {
        try read { db in
            try db.fetchAll(
                MetricSummaryRecord.self, sql: "SELECT * FROM metricSummary WHERE runId = ? ORDER BY key",
                arguments: [runId])
        }
    }

    /// The summary recomputed from the metric table (what metricSummary must equal).
    public func recomputedSummary(runId: Int64, key: String) throws -> MetricSummaryRecord? {
        try read { db in try Self.recompute(SeriesKey(runId: runId, key: key), db) }
    }

    /// Binds and steps one row with the C API. Why not `Statement.execute(arguments:)`: boxing six
    /// values into StatementArguments per row cost about half the time of a batch (perf), and
    /// this loop is the tracker's hottest; the statement is GRDB's cached one, inside GRDB's
    /// transaction, so GRDB still owns its life cycle.
    private static func insertPoint(_ p: MetricPoint, _ stmt: OpaquePointer, _ db: Database) throws {
        let nan = p.value.isNaN
        sqlite3_bind_int64(stmt, 1, p.runId)
        sqlite3_bind_int64(stmt, 3, p.step)
        if nan { sqlite3_bind_null(stmt, 4) } else { sqlite3_bind_double(stmt, 4, p.value) }
        sqlite3_bind_int(stmt, 5, nan ? 1 : 0)
        sqlite3_bind_double(stmt, 6, p.time)
        let rc = p.key.withCString { key -> Int32 in
            sqlite3_bind_text(stmt, 2, key, -1, nil)  // SQLITE_STATIC: valid until the null below
            defer {
                sqlite3_reset(stmt)
                sqlite3_bind_null(stmt, 2)
            }
            return sqlite3_step(stmt)
        }
        if rc != SQLITE_DONE {
            throw DatabaseError(
                resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
    }

    // MARK: - Summary maintenance

    struct SeriesKey: Hashable {
        var runId: Int64
        var key: String
    }

    /// What one batch contributes to one series, in logging order. Steps usually arrive strictly
    /// increasing, and then they are already distinct; otherwise the last point per step wins.
    struct BatchSummary {
        var points: [(step: Int64, value: Double)] = []
        var increasing = true

        mutating func add(_ p: MetricPoint) {
            if let last = points.last, p.step <= last.step { increasing = false }
            points.append((p.step, p.value))
        }

        var minStep: Int64 { increasing ? points[0].step : points.map(\.step).min()! }

        /// One (step, value) per distinct step, the last logged value for each.
        var distinct: [(step: Int64, value: Double)] {
            if increasing { return points }
            var byStep: [Int64: Double] = [:]
            for p in points { byStep[p.step] = p.value }
            return byStep.map { ($0.key, $0.value) }
        }
    }

    private static func updateSummary(_ s: SeriesKey, _ batch: BatchSummary, _ db: any StoreConnection) throws {
        let old = try db.fetchOne(
            MetricSummaryRecord.self, sql: "SELECT * FROM metricSummary WHERE runId = ? AND key = ?",
            arguments: [s.runId, s.key])
        let summary: MetricSummaryRecord?
        if let old, batch.minStep <= old.lastStep {
            summary = try recompute(s, db)
        } else {
            let points = batch.distinct
            let (lastStep, last) = points.max { $0.step < $1.step }!
            var lo = old?.min
            var hi = old?.max
            for (_, v) in points where !v.isNaN {
                lo = Swift.min(lo ?? v, v)
                hi = Swift.max(hi ?? v, v)
            }
            summary = MetricSummaryRecord(
                runId: s.runId, key: s.key, lastStep: lastStep, last: last.isNaN ? nil : last, lastIsNaN: last.isNaN,
                min: lo, max: hi, count: (old?.count ?? 0) + Int64(points.count))
        }
        if let summary {
            try db.execute(
                sql: """
                    INSERT INTO metricSummary (runId, key, lastStep, last, lastIsNaN, min, max, count)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (runId, key) DO UPDATE SET lastStep = excluded.lastStep, last = excluded.last,
                      lastIsNaN = excluded.lastIsNaN, min = excluded.min, max = excluded.max, count = excluded.count
                    """,
                arguments: [
                    summary.runId, summary.key, summary.lastStep, summary.last, summary.lastIsNaN, summary.min,
                    summary.max,
                    summary.count,
                ])
        }
    }

    static func recompute(_ s: SeriesKey, _ db: any StoreConnection) throws -> MetricSummaryRecord? {
        guard
            let agg = try db.row(
                sql: "SELECT min(value) AS lo, max(value) AS hi, count(*) AS n FROM metric WHERE runId = ? AND key = ?",
                arguments: [s.runId, s.key]),
            let last = try db.row(
                sql: "SELECT step, value, isNaN FROM metric WHERE runId = ? AND key = ? ORDER BY step DESC LIMIT 1",
                arguments: [s.runId, s.key])
        else { return nil }
        return MetricSummaryRecord(
            runId: s.runId, key: s.key, lastStep: try last.get("step"), last: Double(sqlValue: last["value"]),
            lastIsNaN: try last.get("isNaN"), min: Double(sqlValue: agg["lo"]), max: Double(sqlValue: agg["hi"]),
            count: try agg.get("n"))
    }
}

// The one write path for metrics (MLflow's log_batch idea): a batch of points goes in one short
// write transaction, NaN is stored as value NULL + isNaN 1 (SQLite turns NaN into NULL),
// metricSummary is upserted once per (run, key) of the batch and each run's metric pack
// (runSummaryPack.metrics, SummaryPack.swift) once per run, in the same transaction. On SQLite,
// a batch's series are looked up (or made) in metricSeries first, once each, and the points go
// into metricPoint as (seriesId, step, value, isNaN, time) rows (`metric` is a view of the two:
// migrations/0008_metric_series.sql), series by series (stable, so within a batch the last point for a step still
// wins), up to 64 rows per INSERT statement: in one statement SQLite keeps its cursor on the series' last leaf page, and a
// statement's set-up (its statement journal) is paid once per 64 rows; the runs are checked once
// per batch, not once per row. Together about 2x the points per CPU second. On PostgreSQL a
// batch is two statements: its runs and summaries read (and locked) in one, its points inserted
// and summaries upserted in the other (TrackerDB+MetricsPostgres.swift).
// The summary arithmetic is one piece of code for both engines (BatchSummary.updated): appends
// update the summary incrementally; a batch that rewrites steps at or before the summary's last
// step (a resumed run re-logging after its checkpoint, an import), or that is not in step order,
// recomputes that key's summary from the metric table, so it always equals a recomputation. Only
// reading the old summary row and writing the new one differ by engine.
import Foundation
import GRDB
import GRDBSQLite

extension TrackerDB {
    /// Writes `points` in one transaction. A (runId, key, step) logged again replaces the earlier
    /// value; within one batch the last point for a step wins. A point of a run that does not
    /// exist fails the whole batch with `StoreError.runNotFound`.
    public func logMetrics(_ points: [MetricPoint]) throws {
        if points.isEmpty { return }
        guard let sqlite = backend as? SQLiteBackend else {
            try write { conn in try Self.writePostgres(points, SeriesBatch(points), conn) }
            return
        }
        try sqlite.metricWriter().writeWithoutTransaction { db in
            try db.inTransaction(.immediate) {
                try Self.writeSQLite(points, db, checkingRuns: true)
                return .commit
            }
        }
    }

    /// The same write path inside a caller's transaction (import and Slurm write runs and metrics
    /// together), on either engine.
    public static func logMetrics(_ points: [MetricPoint], in conn: any StoreConnection) throws {
        if let db = (conn as? SQLiteConnection)?.db {
            try writeSQLite(points, db, checkingRuns: false)
        } else {
            try writePostgres(points, SeriesBatch(points), conn)
        }
    }

    /// The stored summaries come from the runs' metric packs (one read per run, not one per
    /// series), which hold exactly what metricSummary holds: both are written here, together.
    /// `checkingRuns`: fail with `runNotFound` when a run of the batch does not exist (once per
    /// run, not per row: the metric connection has foreign keys off).
    private static func writeSQLite(_ points: [MetricPoint], _ db: Database, checkingRuns: Bool) throws {
        if points.isEmpty { return }
        let batch = SeriesBatch(points)
        let conn = SQLiteConnection(db: db)
        // Every run has a pack row (made with it, deleted with it), so reading the packs checks
        // the batch's runs too; the run table is asked only about a run without one.
        var packs = try MetricPacks(batch.series) { runId in
            guard let pack = try readPack(runId, db) else {
                let exists = try conn.scalar(Int.self, sql: "SELECT 1 FROM run WHERE id = ?", arguments: [runId])
                if checkingRuns && exists == nil { throw StoreError.runNotFound(String(runId)) }
                return nil
            }
            return pack
        }
        try batch.withKeyPointers { keys in
            let stored = batch.series.map { packs.stored($0) }
            let appending = zip(batch.summaries, stored).allSatisfy { $0.appends(to: $1) }
            let ids = try seriesIds(batch.series, keys, db)
            let conflicted = try insert(points, batch, ids, replacing: !appending, db)
            for (i, series) in batch.series.enumerated() {
                let summary =
                    try (conflicted ? nil : batch.summaries[i].updated(stored[i], series)) ?? recompute(series, conn)
                if let summary {
                    try writeSummary(summary, keys[i], db)
                    packs.set(summary)
                }
            }
        }
        for (runId, bytes) in packs.encoded { try writePack(runId, bytes, db) }
    }

    /// A run's metric pack, read with the C API on a cached statement (nil: the run has no row).
    /// Through SQLRow and GRDB's Row it cost 2-3% of a batch of 1000 points (perf).
    private static func readPack(_ runId: Int64, _ db: Database) throws -> [UInt8]? {
        let read = try db.cachedStatement(sql: "SELECT metrics FROM runSummaryPack WHERE runId = ?").sqliteStatement
        sqlite3_bind_int64(read, 1, runId)
        defer { sqlite3_reset(read) }
        switch sqlite3_step(read) {
        case SQLITE_ROW:
            guard let p = sqlite3_column_blob(read, 0) else { return [] }
            return Array(UnsafeRawBufferPointer(start: p, count: Int(sqlite3_column_bytes(read, 0))))
        case SQLITE_DONE: return nil
        case let rc: throw RunReader.stepError(rc, db)
        }
    }

    /// Sets a run's metric pack with the C API on a cached statement; a run without a row (never:
    /// a trigger makes it with the run) gets one through the portable upsert.
    private static func writePack(_ runId: Int64, _ bytes: [UInt8], _ db: Database) throws {
        let write = try db.cachedStatement(sql: "UPDATE runSummaryPack SET metrics = ? WHERE runId = ?").sqliteStatement
        defer { sqlite3_clear_bindings(write) }
        let rc = bytes.withUnsafeBytes { b in
            sqlite3_bind_blob(write, 1, b.baseAddress, Int32(b.count), nil)  // SQLITE_STATIC: unbound above
            sqlite3_bind_int64(write, 2, runId)
            defer { sqlite3_reset(write) }
            return sqlite3_step(write)
        }
        if rc != SQLITE_DONE { throw RunReader.stepError(rc, db) }
        if sqlite3_changes(db.sqliteConnection) == 0 {
            try SummaryPack.write(.metrics, runId, bytes, SQLiteConnection(db: db))
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

    // MARK: - Inserting

    /// Rows per INSERT statement: the batch goes through statements of 64 rows, the rest through
    /// 32, 16, ..., 1 (seven cached statements per conflict clause).
    static let maxRowsPerInsert = 64

    /// The ids of a batch's series in metricSeries (migrations/0008_metric_series.sql), made for
    /// series new to the store; looked up each batch, not cached: a deleted run's series go with
    /// it, and its id may be given to a new run.
    private static func seriesIds(_ series: [SeriesKey], _ keys: [UnsafePointer<CChar>], _ db: Database) throws
        -> [Int64]
    {
        let find = try db.cachedStatement(sql: "SELECT id FROM metricSeries WHERE runId = ? AND key = ?")
            .sqliteStatement
        let make = try db.cachedStatement(sql: "INSERT INTO metricSeries (runId, key) VALUES (?, ?)").sqliteStatement
        defer { [find, make].forEach { sqlite3_clear_bindings($0) } }
        return try zip(series, keys).map { s, key in
            for stmt in [find, make] {
                sqlite3_bind_int64(stmt, 1, s.runId)
                sqlite3_bind_text(stmt, 2, key, -1, nil)  // SQLITE_STATIC: unbound above
            }
            let found = sqlite3_step(find)
            defer { sqlite3_reset(find) }
            switch found {
            case SQLITE_ROW: return sqlite3_column_int64(find, 0)
            case SQLITE_DONE: break
            default: throw RunReader.stepError(found, db)
            }
            let made = sqlite3_step(make)
            sqlite3_reset(make)
            if made != SQLITE_DONE { throw RunReader.stepError(made, db) }
            return sqlite3_last_insert_rowid(db.sqliteConnection)
        }
    }

    /// `INSERT OR REPLACE INTO metricPoint ... VALUES (?, ...), ...` with `rows` rows; `OR FAIL` when
    /// not `replacing`. Why OR FAIL for a batch that only appends: a statement that may abort
    /// halfway (OR REPLACE, whose CHECK constraints abort) keeps a statement journal, a copy of
    /// every page it touches, which OR FAIL does not need (a few percent of a batch).
    static func insertSQL(rows: Int, replacing: Bool = true) -> String {
        "INSERT OR \(replacing ? "REPLACE" : "FAIL") INTO metricPoint (seriesId, step, value, isNaN, time) VALUES "
            + repeatElement("(?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
    }

    /// The statements' SQL, by `statementIndex`.
    private static let insertSQLs: [String] = [false, true].flatMap { replacing in
        (0...maxRowsPerInsert.trailingZeroBitCount).map { insertSQL(rows: 1 << $0, replacing: replacing) }
    }

    private static func statementIndex(rows: Int, replacing: Bool) -> Int {
        rows.trailingZeroBitCount + (replacing ? maxRowsPerInsert.trailingZeroBitCount + 1 : 0)
    }

    /// Binds and steps the rows with the C API, series by series. Why not
    /// `Statement.execute(arguments:)`: boxing the values into StatementArguments per row cost
    /// about half the time of a batch (perf), and this loop is the tracker's hottest. The
    /// statements are GRDB's cached ones, inside GRDB's transaction, so GRDB still owns their
    /// life cycle; each is looked up once per batch (the cache hashes its 2 KB of SQL). A row is
    /// its series id (`seriesIds`), step, value, NaN flag and time.
    /// Returns whether a batch that should only have appended met a step already in the table
    /// (rows written around this path, which its summary does not know of): then the rest of
    /// the batch was written replacing, and its summaries must be recomputed.
    private static func insert(
        _ points: [MetricPoint], _ batch: SeriesBatch, _ seriesIds: [Int64], replacing: Bool, _ db: Database
    ) throws -> Bool {
        var statements = [OpaquePointer?](repeating: nil, count: insertSQLs.count)
        defer { statements.forEach { if let stmt = $0 { sqlite3_clear_bindings(stmt) } } }
        var (replacing, conflicted) = (replacing, false)
        var done = 0
        while done < batch.order.count {
            var rows = maxRowsPerInsert
            while rows > batch.order.count - done { rows /= 2 }
            let n = statementIndex(rows: rows, replacing: replacing)
            let stmt = try statements[n] ?? db.cachedStatement(sql: insertSQLs[n]).sqliteStatement
            statements[n] = stmt
            for r in 0..<rows {
                let i = Int(batch.order[done + r])
                let p = points[i]
                let s = Int(batch.seriesOf[i])
                let base = Int32(5 * r)
                let nan = p.value.isNaN
                sqlite3_bind_int64(stmt, base + 1, seriesIds[s])
                sqlite3_bind_int64(stmt, base + 2, p.step)
                if nan { sqlite3_bind_null(stmt, base + 3) } else { sqlite3_bind_double(stmt, base + 3, p.value) }
                sqlite3_bind_int(stmt, base + 4, nan ? 1 : 0)
                sqlite3_bind_double(stmt, base + 5, p.time)
            }
            let rc = sqlite3_step(stmt)
            sqlite3_reset(stmt)
            if rc & 0xff == SQLITE_CONSTRAINT && !replacing {
                (replacing, conflicted) = (true, true)  // these rows again, replacing what OR FAIL kept
                continue
            }
            if rc != SQLITE_DONE { throw RunReader.stepError(rc, db) }
            done += rows
        }
        return conflicted
    }

    // MARK: - Summary maintenance

    struct SeriesKey: Hashable {
        var runId: Int64
        var key: String
    }

    /// A batch's points by series: the distinct (run, key) pairs in order of first appearance,
    /// each point's series, the point indices sorted by series (stably), and what the batch
    /// contributes to each summary. Batches mostly hold a few series, interleaved step by step,
    /// so the series of a point is first looked for next to the previous point's, then among
    /// the others, and only past 16 series by hashing.
    struct SeriesBatch {
        var series: [SeriesKey] = []
        var summaries: [BatchSummary] = []
        var seriesOf: [Int32] = []
        var order: [Int32] = []

        init(_ points: [MetricPoint]) {
            seriesOf.reserveCapacity(points.count)
            var index: [SeriesKey: Int32] = [:]
            var previous = 0
            for p in points {
                let s = find(p, after: previous, &index)
                summaries[s].add(p)
                seriesOf.append(Int32(s))
                previous = s
            }
            // Counting sort by series: stable, so the last point for a step is still inserted last.
            var start = [Int](repeating: 0, count: series.count + 1)
            for s in seriesOf { start[Int(s) + 1] += 1 }
            for s in 0..<series.count { start[s + 1] += start[s] }
            order = [Int32](repeating: 0, count: points.count)
            for (i, s) in seriesOf.enumerated() {
                order[start[Int(s)]] = Int32(i)
                start[Int(s)] += 1
            }
        }

        private mutating func find(_ p: MetricPoint, after previous: Int, _ index: inout [SeriesKey: Int32]) -> Int {
            let n = series.count
            if n <= 16 {
                for j in 0..<n {
                    let s = (previous + 1 + j) % n
                    if series[s].runId == p.runId && series[s].key == p.key { return s }
                }
            } else if let s = index[SeriesKey(runId: p.runId, key: p.key)] {
                return Int(s)
            }
            let key = SeriesKey(runId: p.runId, key: p.key)
            series.append(key)
            summaries.append(BatchSummary())
            if n == 16 {
                for (j, k) in series.enumerated() { index[k] = Int32(j) }
            } else if n > 16 {
                index[key] = Int32(n)
            }
            return n
        }

        /// Calls `body` with each series' key as a C string, valid during the call.
        func withKeyPointers<T>(_ body: ([UnsafePointer<CChar>]) throws -> T) throws -> T {
            let copies = series.map { strdup($0.key)! }
            defer { copies.forEach { free($0) } }
            return try body(copies.map { UnsafePointer($0) })
        }
    }

    /// What one batch contributes to one series: the extremes over non-NaN values, the last
    /// step and value, and whether the steps arrived strictly increasing (then they are distinct
    /// and the summary can be updated without reading the table).
    struct BatchSummary {
        var count: Int64 = 0
        var minStep = Int64.max
        var lastStep = Int64.min
        var last = 0.0
        var lo: Double?
        var hi: Double?
        var increasing = true

        mutating func add(_ p: MetricPoint) {
            if p.step <= lastStep { increasing = false }
            count += 1
            minStep = Swift.min(minStep, p.step)
            lastStep = p.step
            last = p.value
            if !p.value.isNaN {
                lo = Swift.min(lo ?? p.value, p.value)
                hi = Swift.max(hi ?? p.value, p.value)
            }
        }

        /// Whether this batch only adds steps after the stored ones (strictly increasing, past the
        /// stored last step): then no point replaces another, and the summary updates incrementally.
        func appends(to old: StoredSummary?) -> Bool {
            increasing && (old.map { minStep > $0.lastStep } ?? true)
        }

        /// The series' summary after this batch, from the stored one (nil: none yet); nil when it
        /// cannot be updated incrementally (steps not strictly increasing, or back at or before
        /// the stored last step) and must be recomputed from the metric table.
        func updated(_ old: StoredSummary?, _ s: SeriesKey) -> MetricSummaryRecord? {
            if !appends(to: old) { return nil }
            return MetricSummaryRecord(
                runId: s.runId, key: s.key, lastStep: lastStep, last: last.isNaN ? nil : last, lastIsNaN: last.isNaN,
                min: [old?.min, lo].compactMap { $0 }.min(), max: [old?.max, hi].compactMap { $0 }.max(),
                count: (old?.count ?? 0) + count)
        }
    }

    /// The summary row as stored before a batch: what the incremental update needs of it.
    struct StoredSummary {
        var lastStep: Int64
        var count: Int64
        var min: Double?
        var max: Double?
    }

    /// The metric packs (runSummaryPack.metrics) of a batch's runs while it is written: read once
    /// per run, given every summary the batch writes, written back once per run.
    struct MetricPacks {
        private var runs: [Int64: [String: MetricStat]] = [:]
        private var changed: Set<Int64> = []

        /// `read` returns a run's stored pack (nil: the run has no row yet).
        init(_ series: [SeriesKey], read: (Int64) throws -> [UInt8]?) throws {
            for s in series where runs[s.runId] == nil {
                var entries: [String: MetricStat] = [:]
                if let bytes = try read(s.runId) {
                    for (key, stat) in try SummaryPack.metrics(bytes, runId: s.runId) { entries[key] = stat }
                }
                runs[s.runId] = entries
            }
        }

        func stored(_ s: SeriesKey) -> StoredSummary? {
            runs[s.runId]?[s.key].map {
                StoredSummary(lastStep: $0.lastStep, count: $0.count, min: $0.min, max: $0.max)
            }
        }

        mutating func set(_ r: MetricSummaryRecord) {
            runs[r.runId, default: [:]][r.key] = MetricStat(
                lastStep: r.lastStep, last: r.lastIsNaN ? .nan : (r.last ?? .nan), min: r.min, max: r.max,
                count: r.count)
            changed.insert(r.runId)
        }

        /// The changed runs' packs, by run id.
        var encoded: [(runId: Int64, bytes: [UInt8])] {
            changed.sorted().map {
                ($0, SummaryPack.encode(metrics: runs[$0, default: [:]].map { ($0.key, $0.value) }))
            }
        }

    }

    /// Upserts one series' summary, with the C API on a cached statement.
    private static func writeSummary(_ summary: MetricSummaryRecord, _ key: UnsafePointer<CChar>, _ db: Database)
        throws
    {
        let write = try db.cachedStatement(
            sql: """
                INSERT OR REPLACE INTO metricSummary (runId, key, lastStep, last, lastIsNaN, min, max, count)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).sqliteStatement
        defer { sqlite3_clear_bindings(write) }
        sqlite3_bind_int64(write, 1, summary.runId)
        sqlite3_bind_text(write, 2, key, -1, nil)
        sqlite3_bind_int64(write, 3, summary.lastStep)
        for (i, v) in [(4, summary.last), (6, summary.min), (7, summary.max)] {
            if let v { sqlite3_bind_double(write, Int32(i), v) } else { sqlite3_bind_null(write, Int32(i)) }
        }
        sqlite3_bind_int(write, 5, summary.lastIsNaN ? 1 : 0)
        sqlite3_bind_int64(write, 8, summary.count)
        let rc = sqlite3_step(write)
        sqlite3_reset(write)
        if rc != SQLITE_DONE { throw RunReader.stepError(rc, db) }
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

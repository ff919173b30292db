// How long runs actually ran, from their state history (runEvent), for the reports' "wall": a
// run that was interrupted and resumed does not count the time it sat dead or queued, as its
// calendar span (finishedAt - startedAt, `RunSummary.duration`) does. Read from runEvent, so it
// holds for every store written since runEvent exists, retroactively.
import GRDB
import GRDBSQLite

extension TrackerDB {
    /// How the detail of a 'running -> crashed' event starts when the run's lease expired (its
    /// worker died without a word): `recoverExpiredLeases` writes it, `runningTimes` reads it.
    static let leaseExpiredDetail = "lease expired"
}

extension RunReader {
    /// Seconds each selected run actually ran, to the millisecond, by run id; runs that never
    /// started are absent. A run's running time is the sum of its running intervals: each
    /// 'queued -> running' event (a claim) up to the next event that leaves running (succeeded,
    /// failed, cancelled, pruned, crashed, or back to queued on SIGINT/SIGTERM); an interval
    /// still open (the run is running) ends now. An interval ended by a lease-expiry crash (its
    /// worker died silently; the crash is only noticed when someone finds the lease expired, up
    /// to minutes later) ends at the run's last sign of life inside it instead of at that
    /// detection: the latest time a metric of the run was logged within the interval, or the
    /// interval's start when none was. (A step logged again by the next attempt carries that
    /// attempt's time, so such a step no longer counts for the dead one.)
    ///
    /// One read of the selected runs' events (in run, id order, by runEvent's index) paired here,
    /// plus one query for the last metric times when some interval ended in a lease expiry: a
    /// window over runEvent in SQL cost SQLite several times as much (measured, 10,000 runs).
    public func runningTimes(_ selection: RunSelection) throws -> [Int64: Double] {
        try portableRead { db in
            let condition = try Self.condition(db, selection)
            let runs = "SELECT r.id FROM run r LEFT JOIN experiment e ON e.id = r.experimentId WHERE \(condition.sql)"
            var intervals = RunningIntervals()
            try Self.readEdges(db, Self.edgeSQL(db.dialect, runs: runs), condition.arguments) {
                intervals.add(runId: $0, time: $1, kind: $2)
            }
            if intervals.open > 0 {
                intervals.now = try db.scalar(Double.self, sql: "SELECT \(Self.epochNow(db.dialect)) AS now") ?? 0
            }
            try Self.endSilentDeaths(db, &intervals)
            return intervals.seconds()
        }
    }

    /// The events that enter or leave running (not running -> running, as a cancel request) of
    /// the runs `runs` selects: run id, unix time, and kind (`RunningIntervals.Kind`).
    static func edgeSQL(_ dialect: SQLDialect, runs: String) -> String {
        """
        SELECT v.runId, \(epoch(dialect, "v.time")) AS at,
          CASE WHEN v.toState = 'running' THEN 1
            WHEN v.toState = 'crashed' AND v.detail LIKE '\(TrackerDB.leaseExpiredDetail)%' THEN 2 ELSE 0 END AS kind
        FROM runEvent v
        WHERE v.runId IN (\(runs)) AND (v.toState = 'running') <> (coalesce(v.fromState, '') = 'running')
        ORDER BY v.runId, v.id
        """
    }

    /// Unix seconds of an ISO 8601 time column, as a double.
    static func epoch(_ dialect: SQLDialect, _ column: String) -> String {
        switch dialect {
        case .sqlite: "(julianday(\(column)) - 2440587.5) * 86400.0"
        case .postgres: "CAST(EXTRACT(EPOCH FROM CAST(\(column) AS TIMESTAMPTZ)) AS DOUBLE PRECISION)"
        }
    }

    /// The store's clock now, in unix seconds (the events carry the store's clock).
    static func epochNow(_ dialect: SQLDialect) -> String {
        switch dialect {
        case .sqlite: "(julianday('now') - 2440587.5) * 86400.0"
        case .postgres: "CAST(EXTRACT(EPOCH FROM now()) AS DOUBLE PRECISION)"
        }
    }

    /// Calls `edge` with each (run id, time, kind) row of `sql`: on SQLite through the C API (a
    /// 10,000-run sweep has some 30,000 events; GRDB's Row boxing of each showed), else as rows.
    static func readEdges(
        _ db: any StoreConnection, _ sql: String, _ arguments: [SQLValue], _ edge: (Int64, Double, Int64) -> Void
    ) throws {
        if let sqlite = (db as? SQLiteConnection)?.db {
            try step(sqlite, sql, SQLiteConnection.arguments(arguments)) { s in
                edge(sqlite3_column_int64(s, 0), sqlite3_column_double(s, 1), sqlite3_column_int64(s, 2))
            }
            return
        }
        for row in try db.rows(sql, arguments) {
            edge(try row.get("runId"), try row.get("at"), try row.get("kind"))
        }
    }

    /// Ends each interval that a lease expiry ended at the run's last metric time in it (or its
    /// start): one query per 500 such intervals.
    static func endSilentDeaths(_ db: any StoreConnection, _ intervals: inout RunningIntervals) throws {
        let silent = intervals.silent
        for chunk in stride(from: 0, to: silent.count, by: 500) {
            let part = silent[chunk..<min(chunk + 500, silent.count)]
            let values = part.map { _ in
                "(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION))"
            }
            var arguments: [SQLValue] = []
            for i in part {
                let span = intervals.spans[i]
                arguments += [
                    .integer(Int64(i)), .integer(span.runId), .real(span.start), .real(span.end ?? span.start),
                ]
            }
            for row in try db.rows(
                """
                WITH span (n, runId, a, b) AS (VALUES \(values.joined(separator: ", ")))
                SELECT span.n AS n, (SELECT max(m.time) FROM metric m
                  WHERE m.runId = span.runId AND m.time >= span.a AND m.time <= span.b) AS last
                FROM span
                """, arguments)
            {
                let i = Int(try row.get("n") as Int64)
                intervals.endSilent(i, at: Double(sqlValue: row["last"]))
            }
        }
    }
}

/// The running intervals of runs, built from their events in (run, id) order: a start opens one,
/// the next event that leaves running closes it.
struct RunningIntervals {
    /// What an event does: leaves running, starts running, or leaves it by a lease expiry.
    enum Kind: Int64 {
        case leave = 0
        case start = 1
        case leaseExpired = 2
    }

    /// One interval; `end` is nil while it is open.
    struct Span {
        var runId: Int64
        var start: Double
        var end: Double?
    }

    private(set) var spans: [Span] = []
    /// The indices of intervals a lease expiry ended.
    private(set) var silent: [Int] = []
    /// How many intervals are still open (they end at `now`).
    private(set) var open = 0
    var now = 0.0

    mutating func add(runId: Int64, time: Double, kind: Int64) {
        let last = spans.indices.last
        if kind == Kind.start.rawValue {
            if let last, spans[last].runId == runId, spans[last].end == nil {  // a start without an end
                spans[last].end = time
                open -= 1
            }
            spans.append(Span(runId: runId, start: time, end: nil))
            open += 1
            return
        }
        guard let last, spans[last].runId == runId, spans[last].end == nil else { return }
        spans[last].end = time
        open -= 1
        if kind == Kind.leaseExpired.rawValue { silent.append(last) }
    }

    /// Ends silent interval `i` at `time`, at its start when nil (no sign of life in it).
    mutating func endSilent(_ i: Int, at time: Double?) { spans[i].end = time ?? spans[i].start }

    /// Seconds by run id, rounded to the millisecond.
    func seconds() -> [Int64: Double] {
        var out: [Int64: Double] = [:]
        out.reserveCapacity(spans.count)
        for s in spans { out[s.runId, default: 0] += (s.end ?? now) - s.start }
        return out.mapValues { ($0 * 1000).rounded() / 1000 }
    }
}

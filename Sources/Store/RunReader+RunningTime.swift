// How long runs actually ran, from their state history (runEvent), for the reports' "wall": a
// run that was interrupted and resumed does not count the time it sat dead or queued, as its
// calendar span (finishedAt - startedAt, `RunSummary.duration`) does. Read from runEvent, so it
// holds for every store written since runEvent exists, retroactively. Most runs ran one interval
// (from their first claim to their end): theirs is their duration (`setRunningTimes`).
import GRDB
import GRDBSQLite

extension TrackerDB {
    /// How the detail of a 'running -> crashed' event starts when the run's lease expired (its
    /// worker died without a word): `recoverExpiredLeases` writes it, `runningTimes` reads it.
    static let leaseExpiredDetail = "lease expired"
}

extension RunReader {
    /// Sets each run's `runningTime`. Most runs ran one interval, from their first claim
    /// (startedAt) to their end (finishedAt) or now, still in it: their running time is their
    /// `duration`, read with the run row. That holds exactly for a run that never left running
    /// other than to a finished state (succeeded, failed, cancelled, pruned), which cannot run
    /// again; the others (a crash, a lease expiry, a release to the queue on SIGINT/SIGTERM or a
    /// Slurm requeue) get `runningTimes`. The run row cannot tell them apart (a release gives its
    /// attempt back, so attempts = 1 after a release and a resume; a crashed run back in the
    /// queue may be cancelled), so one query finds them by their events that leave running for
    /// queued or crashed (usually none), through an index of those events only.
    public func setRunningTimes(_ runs: [RunSummary]) throws {
        if runs.isEmpty { return }
        let interrupted = try interruptedRuns(runs.map(\.id))
        var others: [RunSummary] = []
        for r in runs {
            if interrupted.contains(r.id) { others.append(r) } else { r.runningTime = r.duration }
        }
        for (r, seconds) in zip(others, try runningTimes(runIds: others.map(\.id))) { r.runningTime = seconds }
    }

    /// The runs among `runIds` with an event that leaves running for queued or crashed: read
    /// through the partial index runEventInterruptions (migration 0007), which holds only those
    /// events, so its cost follows the store's interruptions, not its runs. Without it the same
    /// query read runEvent whole, as much as `runningTimes` on 10,000 runs (measured).
    func interruptedRuns(_ runIds: [Int64]) throws -> Set<Int64> {
        let found = try portableRead { db in
            try db.rows(
                """
                SELECT DISTINCT runId FROM runEvent
                WHERE fromState = 'running' AND toState IN ('queued', 'crashed')
                """, []
            ).map { try $0.get("runId") as Int64 }
        }
        if found.isEmpty { return [] }
        return Set(found).intersection(runIds)
    }

    /// Seconds each of the runs `runIds` actually ran, to the millisecond, in their order; nil
    /// for a run that never started. A run's running time is the sum of its running intervals:
    /// each 'queued -> running' event (a claim) up to the next event that leaves running
    /// (succeeded, failed, cancelled, pruned, crashed, or back to queued on SIGINT/SIGTERM); an
    /// interval still open (the run is running) ends now. An interval ended by a lease-expiry
    /// crash (its worker died silently; the crash is only noticed when someone finds the lease
    /// expired, up to minutes later) ends at the run's last sign of life inside it instead of at
    /// that detection: the latest time a metric of the run was logged within the interval, or
    /// the interval's start when none was. (A step logged again by the next attempt carries that
    /// attempt's time, so such a step no longer counts for the dead one.)
    ///
    /// The events are read once and paired here. For most of the store's runs (a comparison of
    /// a sweep) runEvent is read whole in its own (id) order: through its (runId, id) index it
    /// cost SQLite 2-3x as much at 10,000 runs, a window function pairing them in SQL about 10x
    /// (measured). Intervals ended by a lease expiry then take one more query (per 500): the
    /// metric table has no index on time, so it reads those runs' metric rows.
    public func runningTimes(runIds: [Int64]) throws -> [Double?] {
        if runIds.isEmpty { return [] }
        return try portableRead { db in
            var intervals = RunningIntervals(runIds)
            let total = try db.scalar(Int64.self, sql: "SELECT count(*) FROM run") ?? 0
            if runIds.count * 2 >= total {
                try Self.readEdges(db, Self.edgeSQL(db.dialect, only: nil), []) { intervals.add($0, $1, $2) }
            } else {
                for ids in sqlChunks(runIds, size: 5000) {
                    try Self.readEdges(db, Self.edgeSQL(db.dialect, only: ids.count), ids.map { .integer($0) }) {
                        intervals.add($0, $1, $2)
                    }
                }
            }
            let now = try db.scalar(Double.self, sql: "SELECT \(Self.epochNow(db.dialect)) AS now") ?? 0
            try Self.endSilentDeaths(db, &intervals)
            return intervals.seconds(now: now)
        }
    }

    /// The events that enter or leave running (not running -> running, as a cancel request):
    /// run id, unix time, and kind (`RunningIntervals.Kind`); of `only` runs (ids bound as
    /// arguments), or of every run in id order when nil.
    static func edgeSQL(_ dialect: SQLDialect, only: Int?) -> String {
        """
        SELECT v.runId, \(epoch(dialect, "v.time")) AS at,
          CASE WHEN v.toState = 'running' THEN 1
            WHEN v.toState = 'crashed' AND v.detail LIKE '\(TrackerDB.leaseExpiredDetail)%' THEN 2 ELSE 0 END AS kind
        FROM runEvent v
        WHERE \(only.map { "v.runId IN (\(sqlMarks($0))) AND " } ?? "")
          (v.toState = 'running') <> (coalesce(v.fromState, '') = 'running')
        ORDER BY \(only == nil ? "v.id" : "v.runId, v.id")
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
        for part in sqlChunks(Array(silent.indices)) {
            let values = part.map { _ in
                "(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION))"
            }
            var arguments: [SQLValue] = []
            for i in part {
                let span = silent[i]
                arguments += [.integer(Int64(i)), .integer(span.runId), .real(span.start), .real(span.end)]
            }
            for row in try db.rows(
                """
                WITH span (n, runId, a, b) AS (VALUES \(values.joined(separator: ", ")))
                SELECT span.n AS n, (SELECT max(m.time) FROM metric m
                  WHERE m.runId = span.runId AND m.time >= span.a AND m.time <= span.b) AS last
                FROM span
                """, arguments)
            {
                intervals.endSilent(Int(try row.get("n") as Int64), at: Double(sqlValue: row["last"]))
            }
        }
    }
}

/// The running intervals of runs, built from each run's events in id order (runs may
/// interleave): a start opens one, the run's next event that leaves running closes it. Kept by
/// row (the index of a run among the ids asked for), in flat arrays: a comparison of 10,000
/// runs adds some 20,000 events.
struct RunningIntervals {
    /// What an event does: leaves running, starts running, or leaves it by a lease expiry.
    enum Kind: Int64 {
        case leave = 0
        case start = 1
        case leaseExpired = 2
    }

    /// An interval a lease expiry ended, waiting for its run's last metric time in it.
    struct Silent {
        var row: Int
        var runId: Int64
        var start: Double
        var end: Double
    }

    private let rows: RowIndex
    /// Seconds of each row's closed intervals, nil before its first start.
    private var closed: [Double?]
    /// The start of each row's open interval (nil: none).
    private var openStart: [Double?]
    private(set) var silent: [Silent] = []

    init(_ runIds: [Int64]) {
        rows = RowIndex(runIds)
        closed = Array(repeating: nil, count: runIds.count)
        openStart = Array(repeating: nil, count: runIds.count)
    }

    /// Adds event (run id, unix time, `Kind` raw value); events of runs not asked for are left out.
    mutating func add(_ runId: Int64, _ time: Double, _ kind: Int64) {
        guard let row = rows.row(runId) else { return }
        let start = openStart[row]
        if kind == Kind.start.rawValue {
            if let start { closed[row]! += time - start }  // a start without an end: ends there
            closed[row] = closed[row] ?? 0
            openStart[row] = time
            return
        }
        guard let start else { return }
        openStart[row] = nil
        if kind == Kind.leaseExpired.rawValue {
            silent.append(Silent(row: row, runId: runId, start: start, end: time))
        } else {
            closed[row]! += time - start
        }
    }

    /// Ends silent interval `i` at `time`, at its start when nil (no sign of life in it).
    mutating func endSilent(_ i: Int, at time: Double?) {
        let s = silent[i]
        closed[s.row]! += (time ?? s.start) - s.start
    }

    /// Seconds of each row, rounded to the millisecond; open intervals end at `now`.
    func seconds(now: Double) -> [Double?] {
        closed.indices.map { row in
            guard let t = closed[row] else { return nil }
            return ((t + (openStart[row].map { now - $0 } ?? 0)) * 1000).rounded() / 1000
        }
    }
}

/// The row (index among `ids`) of a run id: a table over the ids' range when it is compact (a
/// sweep's runs), else a dictionary.
struct RowIndex {
    private let low: Int64
    private let table: [Int32]
    private let map: [Int64: Int]

    init(_ ids: [Int64]) {
        let low = ids.min() ?? 0
        let span = (ids.max() ?? -1) - low + 1
        self.low = low
        if span <= 4 * Int64(ids.count) + 1024 {
            var table = [Int32](repeating: -1, count: Int(span))
            for (i, id) in ids.enumerated().reversed() { table[Int(id - low)] = Int32(i) }
            self.table = table
            map = [:]
        } else {
            table = []
            map = Dictionary(ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        }
    }

    func row(_ id: Int64) -> Int? {
        if table.isEmpty { return map[id] }
        let k = id - low
        guard k >= 0 && k < table.count, table[Int(k)] >= 0 else { return nil }
        return Int(table[Int(k)])
    }
}

// How long runs actually ran, from their state history (runEvent), for the reports' "wall": a
// run that was interrupted and resumed does not count the time it sat dead or queued, as its
// calendar span (finishedAt - startedAt, `RunSummary.duration`) does. Computed on any backend by
// one query per report (a window over runEvent, which its (runId, id) index orders), so it holds
// for every store written since runEvent exists, retroactively.

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
    public func runningTimes(_ selection: RunSelection) throws -> [Int64: Double] {
        try portableRead { db in
            let condition = try Self.condition(db, selection)
            let runs = "SELECT r.id FROM run r LEFT JOIN experiment e ON e.id = r.experimentId WHERE \(condition.sql)"
            var out: [Int64: Double] = [:]
            for row in try db.rows(Self.runningTimeSQL(db.dialect, runs: runs), condition.arguments) {
                out[try row.get("runId")] = Double(sqlValue: row["seconds"])
            }
            return out
        }
    }

    /// The query behind `runningTimes`: (runId, seconds) of the runs `runs` (a SELECT of ids)
    /// selects. `edge` keeps the events that enter or leave running (not running -> running, as
    /// a cancel request), each with the next such event of its run; a start's next is its end.
    static func runningTimeSQL(_ dialect: SQLDialect, runs: String) -> String {
        let epoch: (String) -> String
        let now: String
        switch dialect {
        case .sqlite:
            epoch = { "(julianday(\($0)) - 2440587.5) * 86400.0" }
            now = epoch("'now'")
        case .postgres:
            epoch = { "CAST(EXTRACT(EPOCH FROM CAST(\($0) AS TIMESTAMPTZ)) AS DOUBLE PRECISION)" }
            now = "CAST(EXTRACT(EPOCH FROM now()) AS DOUBLE PRECISION)"
        }
        let seconds = """
            sum(CASE
                WHEN endAt IS NULL THEN \(now)
                WHEN endState = 'crashed' AND endDetail LIKE '\(TrackerDB.leaseExpiredDetail)%' THEN coalesce(
                  (SELECT max(m.time) FROM metric m WHERE m.runId = edge.runId AND m.time >= startAt AND m.time <= endAt),
                  startAt)
                ELSE endAt END - startAt)
            """
        let rounded =
            dialect == .sqlite
            ? "round(\(seconds), 3)" : "CAST(round(CAST(\(seconds) AS NUMERIC), 3) AS DOUBLE PRECISION)"
        return """
            WITH edge AS (
              SELECT v.runId, v.toState, \(epoch("v.time")) AS startAt,
                lead(\(epoch("v.time"))) OVER w AS endAt, lead(v.toState) OVER w AS endState,
                lead(v.detail) OVER w AS endDetail
              FROM runEvent v
              WHERE v.runId IN (\(runs)) AND (v.toState = 'running') <> (coalesce(v.fromState, '') = 'running')
              WINDOW w AS (PARTITION BY v.runId ORDER BY v.id))
            SELECT runId, \(rounded) AS seconds FROM edge WHERE toState = 'running' GROUP BY runId ORDER BY runId
            """
    }
}

// The report reads on any backend, through StoreConnection rows: what a PostgreSQL store
// reads. SQLite keeps its own fast paths in RunReader.swift (the C API over GRDB's statements);
// the selection, its condition, the tables read and the pack decoder are the same, so both
// return the same summaries.
extension RunReader {
    /// `summaries` on any backend, in one read transaction, from the same packs into the same columns.
    func portableSummaries(_ selection: RunSelection) throws -> [RunSummary] {
        try portableRead { db in
            let condition = try Self.condition(db, selection)
            var runs: [RunSummary] = []
            var packs = PackColumns(expectedRows: 0)
            for row in try db.rows(
                """
                SELECT r.id, r.name, e.name AS experiment, r.state, r.origin, \(Self.durationSQL(db.dialect)) AS duration,
                  p.params, p.tags, p.metrics
                FROM run r LEFT JOIN experiment e ON e.id = r.experimentId LEFT JOIN runSummaryPack p ON p.runId = r.id
                WHERE \(condition.sql) ORDER BY r.id
                """, condition.arguments)
            {
                let run = RunSummary(
                    id: try row.get("id"), name: try row.get("name"), experiment: String(sqlValue: row["experiment"]),
                    state: try row.get("state"), origin: try row.get("origin"),
                    duration: Double(sqlValue: row["duration"]))
                try packs.append(
                    row: runs.count, runId: run.id, [UInt8](sqlValue: row["params"]), [UInt8](sqlValue: row["tags"]),
                    [UInt8](sqlValue: row["metrics"]))
                runs.append(run)
            }
            Self.attach(packs.finish(rows: runs.count), to: runs)
            return runs
        }
    }

    /// Seconds from a run's start to its end (or now), to the millisecond; NULL before it starts.
    static func durationSQL(_ dialect: SQLDialect) -> String {
        switch dialect {
        case .sqlite:  // the CASE skips the clock and date parsing for runs never started (most imported ones)
            "CASE WHEN r.startedAt IS NULL THEN NULL ELSE "
                + "round((julianday(coalesce(r.finishedAt, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) - julianday(r.startedAt)) * 86400.0, 3) END"
        case .postgres:
            "CAST(round(CAST(EXTRACT(EPOCH FROM (coalesce(CAST(r.finishedAt AS TIMESTAMPTZ), now()) "
                + "- CAST(r.startedAt AS TIMESTAMPTZ))) AS NUMERIC), 3) AS DOUBLE PRECISION)"
        }
    }

    /// `histories` on any backend.
    func portableHistories(runIds: [Int64], keys: [String]) throws -> [Int64: [String: [HistoryPoint]]] {
        try portableRead { db in
            var out: [Int64: [String: [HistoryPoint]]] = [:]
            for row in try db.rows(
                sql: """
                    SELECT runId, key, step, value, isNaN FROM metric
                    WHERE runId IN (\(sqlMarks(runIds.count))) AND key IN (\(sqlMarks(keys.count)))
                    ORDER BY runId, key, step
                    """, arguments: sqlArguments(runIds) + sqlArguments(keys))
            {
                let nan = (Bool(sqlValue: row["isNaN"]) ?? false) || row["value"] == .null
                let point = HistoryPoint(step: try row.get("step"), value: nan ? .nan : try row.get("value"))
                out[try row.get("runId"), default: [:]][try row.get("key"), default: []].append(point)
            }
            return out
        }
    }
}

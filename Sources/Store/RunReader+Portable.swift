// The report reads on any backend, through StoreConnection rows: what a PostgreSQL store
// reads. SQLite keeps its own fast paths in RunReader.swift (the C API over GRDB's statements,
// interned keys, two reader connections); the selection, its condition and the tables read are
// the same, so both return the same summaries.
extension RunReader {
    /// `summaries` on any backend, in one read transaction, into the same columns.
    func portableSummaries(_ selection: RunSelection) throws -> [RunSummary] {
        try portableRead { db in
            let condition = try Self.condition(db, selection)
            let from = "FROM run r LEFT JOIN experiment e ON e.id = r.experimentId WHERE \(condition.sql)"
            var runs: [RunSummary] = []
            for row in try db.rows(
                "SELECT r.id, r.name, e.name AS experiment, r.state, r.origin, \(Self.durationSQL(db.dialect)) AS duration "
                    + "\(from) ORDER BY r.id", condition.arguments)
            {
                runs.append(
                    RunSummary(
                        id: try row.get("id"), name: try row.get("name"),
                        experiment: String(sqlValue: row["experiment"]),
                        state: try row.get("state"), origin: try row.get("origin"),
                        duration: Double(sqlValue: row["duration"])))
            }
            if runs.isEmpty { return runs }
            Self.attach(
                try Self.portableChildren(db, "SELECT r.id \(from)", condition.arguments, runs.map(\.id)), to: runs)
            return runs
        }
    }

    /// `readChildren`'s two parts on any backend: rows in run id order, each found by `RunWalk`.
    private static func portableChildren(
        _ db: any StoreConnection, _ ids: String, _ arguments: [SQLValue], _ runIds: [Int64]
    ) throws -> [Children] {
        var out = Children(rows: runIds.count)
        func read<V>(_ sql: String, _ entries: inout SummaryEntries<V>, _ value: (SQLRow) throws -> V) throws {
            var names: [String: Int32] = [:]
            var rows = RunWalk(runIds)
            for r in try db.rows(sql + " WHERE runId IN (\(ids)) ORDER BY runId, key", arguments) {
                guard let row = rows.row(try r.get("runId")) else { continue }
                let key: String = try r.get("key")
                let id = names[key] ?? Int32(names.count)
                names[key] = id
                entries.append(row: row, key: id, try value(r))
            }
            var byId = [String](repeating: "", count: names.count)
            for (name, id) in names { byId[Int(id)] = name }
            entries.finish(rows: runIds.count, names: byId)
        }
        try read("SELECT runId, key, type, num, text FROM runParam", &out.params) { row in
            Self.param(
                typeInitial: (String(sqlValue: row["type"]) ?? "").utf8.first ?? 0, num: Double(sqlValue: row["num"]),
                text: String(sqlValue: row["text"]))
        }
        try read("SELECT runId, key, value FROM runTag", &out.tags) { try $0.get("value") }
        try read(
            "SELECT runId, key, lastStep, last, lastIsNaN, min, max, count FROM metricSummary", &out.metrics
        ) { row in
            let nan: Bool = try row.get("lastIsNaN")
            return MetricStat(
                lastStep: try row.get("lastStep"), last: nan ? .nan : (Double(sqlValue: row["last"]) ?? .nan),
                min: Double(sqlValue: row["min"]), max: Double(sqlValue: row["max"]), count: try row.get("count"))
        }
        return [out, out]
    }

    /// Seconds from a run's start to its end (or now), to the millisecond; NULL before it starts.
    static func durationSQL(_ dialect: SQLDialect) -> String {
        switch dialect {
        case .sqlite:
            "round((julianday(coalesce(r.finishedAt, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) - julianday(r.startedAt)) * 86400.0, 3)"
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

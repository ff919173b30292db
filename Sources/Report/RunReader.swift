// Read-only queries behind every report: which runs a selection names, their summaries (run row,
// typed params, tags, metricSummary), metric histories for charts and exports, and one run whole.
// Each call reads in one transaction, so a report never mixes two states of the database.
import Foundation
import GRDB
import Store

/// Which runs a report covers: `--experiment`, `--state`, `--where`, or runs named on the command line.
public struct RunSelection: Sendable {
    public var experiment: String?
    public var state: String?
    public var filter: Filter?
    /// Run names or ids; empty means "every run the other fields allow".
    public var runs: [String]

    public init(experiment: String? = nil, state: String? = nil, filter: Filter? = nil, runs: [String] = []) {
        self.experiment = experiment; self.state = state; self.filter = filter; self.runs = runs
    }
}

/// Reads runs for reports from a tracker database. Never writes.
public struct RunReader: Sendable {
    public let db: TrackerDB

    public init(db: TrackerDB) { self.db = db }

    /// Summaries of the selected runs, in id order.
    public func summaries(_ selection: RunSelection) throws -> [RunSummary] {
        try read { db in
            let condition = try Self.condition(db, selection)
            let from = "FROM run r LEFT JOIN experiment e ON e.id = r.experimentId WHERE \(condition.sql)"
            let args = StatementArguments(condition.arguments)
            var runs: [RunSummary] = []
            var index: [Int64: Int] = [:]
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT r.id, r.name, e.name, r.state, r.origin,
                      round((julianday(coalesce(r.finishedAt, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) - julianday(r.startedAt)) * 86400.0, 3)
                    \(from) ORDER BY r.id
                    """, arguments: args)
            while let row = try rows.next() {
                let id: Int64 = row[0]
                index[id] = runs.count
                let run = RunSummary(id: id, name: row[1], experiment: row[2], state: row[3], origin: row[4], duration: row[5])
                run.params.reserveCapacity(16)
                run.metrics.reserveCapacity(8)
                runs.append(run)
            }
            // Rows of each table come in primary-key order, so consecutive rows share a run.
            var lastId: Int64 = -1, last: RunSummary?
            func run(_ id: Int64) -> RunSummary? {
                if id != lastId { lastId = id; last = index[id].map { runs[$0] } }
                return last
            }
            if runs.isEmpty { return runs }
            let ids = "SELECT r.id \(from)"
            let params = try Row.fetchCursor(
                db, sql: "SELECT runId, key, type, num, text FROM runParam WHERE runId IN (\(ids))", arguments: args)
            while let row = try params.next() {
                run(row[0])?.params[row[1]] = Self.param(type: row[2], num: row[3], text: row[4])
            }
            let tags = try Row.fetchCursor(db, sql: "SELECT runId, key, value FROM runTag WHERE runId IN (\(ids))", arguments: args)
            while let row = try tags.next() {
                run(row[0])?.tags[row[1]] = row[2]
            }
            let stats = try Row.fetchCursor(
                db, sql: "SELECT runId, key, lastStep, last, lastIsNaN, min, max, count FROM metricSummary WHERE runId IN (\(ids))",
                arguments: args)
            while let row = try stats.next() {
                let isNaN: Bool = row[4]
                let last: Double? = row[3]
                run(row[0])?.metrics[row[1]] = MetricStat(
                    lastStep: row[2], last: isNaN ? .nan : (last ?? .nan), min: row[5], max: row[6], count: row[7])
            }
            return runs
        }
    }

    /// Metric histories (step, value; NaN kept) for `keys` of the given runs: `[runId: [key: points]]`.
    public func histories(runIds: [Int64], keys: [String]) throws -> [Int64: [String: [HistoryPoint]]] {
        if runIds.isEmpty || keys.isEmpty { return [:] }
        return try read { db in
            var out: [Int64: [String: [HistoryPoint]]] = [:]
            let marks = { (n: Int) in Array(repeating: "?", count: n).joined(separator: ", ") }
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT runId, key, step, value, isNaN FROM metric
                    WHERE runId IN (\(marks(runIds.count))) AND key IN (\(marks(keys.count))) ORDER BY runId, key, step
                    """,
                arguments: StatementArguments(runIds.map(\.databaseValue) + keys.map(\.databaseValue)))
            while let row = try rows.next() {
                let isNaN: Bool = row[4]
                let value: Double? = row[3]
                out[row[0], default: [:]][row[1], default: []].append(
                    HistoryPoint(step: row[2], value: isNaN ? .nan : (value ?? .nan)))
            }
            return out
        }
    }

    /// The id of the run a user named: an id, or a name (the only run with it).
    public func resolve(_ ref: String) throws -> Int64 {
        try read { db in try Self.resolve(db, ref) }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try db.pool.read(body)
        } catch let e as ReportError {
            throw e
        } catch {
            throw ReportError.database("\(error)")
        }
    }

    static func resolve(_ db: Database, _ ref: String) throws -> Int64 {
        let ids = try Int64.fetchAll(db, sql: "SELECT id FROM run WHERE name = ? ORDER BY id", arguments: [ref])
        if ids.count == 1 { return ids[0] }
        if let id = Int64(ref), try Bool.fetchOne(db, sql: "SELECT 1 FROM run WHERE id = ?", arguments: [id]) == true {
            return id
        }
        if ids.count > 1 {
            let imported = try Int64.fetchAll(
                db, sql: "SELECT id FROM run WHERE name = ? AND origin = 'local' ORDER BY id", arguments: [ref])
            if imported.count == 1 { return imported[0] }
            throw ReportError.ambiguousRun(name: ref, ids: ids)
        }
        throw ReportError.runNotFound(ref)
    }

    static func condition(_ db: Database, _ s: RunSelection) throws -> SQLCondition {
        var parts: [SQLCondition] = []
        if let name = s.experiment {
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM experiment WHERE name = ?", arguments: [name]) == true else {
                throw ReportError.experimentNotFound(name)
            }
            parts.append(SQLCondition(sql: "e.name = ?", arguments: [name.databaseValue]))
        }
        if let state = s.state { parts.append(SQLCondition(sql: "r.state = ?", arguments: [state.databaseValue])) }
        if let filter = s.filter { parts.append(filter.sql()) }
        if !s.runs.isEmpty {
            let ids = try s.runs.map { try resolve(db, $0) }
            let marks = Array(repeating: "?", count: ids.count).joined(separator: ", ")
            parts.append(SQLCondition(sql: "r.id IN (\(marks))", arguments: ids.map(\.databaseValue)))
        }
        return .all(parts)
    }

    static func param(type: String, num: Double?, text: String?) -> ParamValue {
        switch type {
        case "int": return .int(Int64(num ?? 0))
        case "real": return .real(num ?? .nan)
        case "bool": return .bool((num ?? 0) != 0)
        default: return .text(text ?? "")
        }
    }
}

/// One logged value of a metric history.
public struct HistoryPoint: Sendable, Equatable {
    public var step: Int64
    public var value: Double
    public init(step: Int64, value: Double) { self.step = step; self.value = value }
}

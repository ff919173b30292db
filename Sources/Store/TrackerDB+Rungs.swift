// ASHA rungs (migrations/0004_asha.sql): a run of an ASHA sweep that reaches a rung records its
// metric there, and the decision (continue or prune) is taken against the results already
// recorded at that rung, in the same write transaction: two runs reaching a rung at once are
// serialised by SQLite's write lock, or on PostgreSQL by a transaction-scoped advisory lock on
// (experiment, rung), so each sees the other or comes first. The rule itself is the caller's
// (Scheduler's AshaConfig), passed in as a function of the earlier values.
import Foundation

/// One run's result at one rung of its experiment.
public struct RungRecord: Codable, Sendable, Equatable, SQLRecord {
    public static let databaseTableName = "rung"
    public var experimentId: Int64
    /// The rung's index k (its step is grace_steps * reduction_factor^k).
    public var rung: Int64
    public var runId: Int64
    public var step: Int64
    /// The step the metric was logged at (the first at or after `step`).
    public var atStep: Int64
    public var metric: String
    /// The metric's value; nil when it was NaN.
    public var value: Double?
    /// 1 for the first run that reached this rung, 2 for the next, ...
    public var arrival: Int64
    /// Whether the run was stopped here.
    public var pruned: Bool
    public var time: String

    /// The value with NaN restored.
    public var metricValue: Double { value ?? .nan }
}

/// One rung of one experiment at a glance (`tracker status`, the dashboard).
public struct RungSummary: Codable, Sendable, Equatable {
    public var experimentId: Int64
    public var experiment: String
    public var rung: Int64
    public var step: Int64
    public var metric: String
    /// Results recorded there, and how many of those runs were stopped there.
    public var results: Int64
    public var pruned: Int64
}

/// A result arriving at a rung, before the decision.
public struct RungArrival: Sendable, Equatable {
    public var experimentId: Int64
    public var rung: Int64
    public var runId: Int64
    public var step: Int64
    public var atStep: Int64
    public var metric: String
    public var value: Double

    public init(
        experimentId: Int64, rung: Int64, runId: Int64, step: Int64, atStep: Int64, metric: String, value: Double
    ) {
        self.experimentId = experimentId
        self.rung = rung
        self.runId = runId
        self.step = step
        self.atStep = atStep
        self.metric = metric
        self.value = value
    }
}

extension TrackerDB {
    /// Records `arrival` and whether its run is pruned there, as `prune(earlier, value)` decides
    /// from the values already recorded at that rung (in arrival order; NaN for a NaN metric).
    /// When the run already has a result at this rung (a resumed run logging the rung's step
    /// again), nothing is recorded and the existing row, with its decision, is returned.
    public func recordRung(_ arrival: RungArrival, prune: ([Double], Double) -> Bool) throws -> RungRecord {
        try write { db in try Self.recordRung(arrival, prune: prune, db) }
    }

    /// `recordRung` inside the caller's write transaction (the head's spool ingest).
    static func recordRung(_ arrival: RungArrival, prune: ([Double], Double) -> Bool, _ db: any StoreConnection)
        throws -> RungRecord
    {
        if db.dialect == .postgres {
            try db.execute(
                sql: "SELECT pg_advisory_xact_lock(CAST(? AS INT4), CAST(? AS INT4))",
                arguments: [Int32(truncatingIfNeeded: arrival.experimentId), Int32(truncatingIfNeeded: arrival.rung)])
        }
        if let existing = try db.fetchOne(
            RungRecord.self, sql: "SELECT * FROM rung WHERE experimentId = ? AND rung = ? AND runId = ?",
            arguments: [arrival.experimentId, arrival.rung, arrival.runId])
        {
            return existing
        }
        let earlier = try db.fetchAll(
            RungRecord.self, sql: "SELECT * FROM rung WHERE experimentId = ? AND rung = ? ORDER BY arrival",
            arguments: [arrival.experimentId, arrival.rung])
        let record = RungRecord(
            experimentId: arrival.experimentId, rung: arrival.rung, runId: arrival.runId, step: arrival.step,
            atStep: arrival.atStep, metric: arrival.metric, value: arrival.value.isNaN ? nil : arrival.value,
            arrival: (earlier.last?.arrival ?? 0) + 1, pruned: prune(earlier.map(\.metricValue), arrival.value),
            time: isoNow())
        try db.insert(record)
        return record
    }

    /// The rung results of one experiment, by rung then arrival.
    public func rungs(experimentId: Int64) throws -> [RungRecord] {
        try read { db in
            try db.fetchAll(
                RungRecord.self, sql: "SELECT * FROM rung WHERE experimentId = ? ORDER BY rung, arrival",
                arguments: [experimentId])
        }
    }

    /// The rung results of one run, by rung.
    public func rungs(runId: Int64) throws -> [RungRecord] {
        try read { db in
            try db.fetchAll(
                RungRecord.self, sql: "SELECT * FROM rung WHERE runId = ? ORDER BY rung", arguments: [runId])
        }
    }

    /// The rung results of the given runs, by experiment, rung, then arrival.
    public func rungs(runIds: [Int64]) throws -> [RungRecord] {
        if runIds.isEmpty { return [] }
        return try read { db in
            try db.fetchAll(
                RungRecord.self,
                sql: """
                    SELECT * FROM rung WHERE runId IN (\(sqlMarks(runIds.count))) ORDER BY experimentId, rung, arrival
                    """, arguments: sqlArguments(runIds))
        }
    }

    /// Each rung's counts, for one experiment or every one, by experiment name then rung.
    public func rungSummaries(experimentId: Int64? = nil) throws -> [RungSummary] {
        try read { db in
            try db.rows(
                sql: """
                    SELECT r.experimentId, e.name, r.rung, min(r.step) AS step, min(r.metric) AS metric,
                      count(*) AS results, CAST(sum(r.pruned) AS BIGINT) AS pruned
                    FROM rung r JOIN experiment e ON e.id = r.experimentId
                    WHERE CAST(? AS BIGINT) IS NULL OR r.experimentId = ?
                    GROUP BY r.experimentId, e.name, r.rung ORDER BY e.name, r.rung
                    """, arguments: [experimentId, experimentId]
            ).map { row in
                RungSummary(
                    experimentId: try row.get("experimentId"), experiment: try row.get("name"),
                    rung: try row.get("rung"), step: try row.get("step"), metric: try row.get("metric"),
                    results: try row.get("results"), pruned: try row.get("pruned"))
            }
        }
    }
}

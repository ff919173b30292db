// ASHA rungs (migrations/0004_asha.sql): a run of an ASHA sweep that reaches a rung records its
// metric there, and the decision (continue or prune) is taken against the results already
// recorded at that rung, in the same IMMEDIATE transaction: two runs reaching a rung at once are
// serialised by SQLite's write lock, so each sees the other or comes first. The rule itself is
// the caller's (Scheduler's AshaConfig), passed in as a function of the earlier values.
import Foundation
import GRDB

/// One run's result at one rung of its experiment.
public struct RungRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
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
        try pool.writeWithoutTransaction { db in
            var out: RungRecord?
            try db.inTransaction(.immediate) {
                out = try Self.recordRung(arrival, prune: prune, db)
                return .commit
            }
            return out!
        }
    }

    /// `recordRung` inside the caller's write transaction (the head's spool ingest).
    static func recordRung(_ arrival: RungArrival, prune: ([Double], Double) -> Bool, _ db: Database) throws
        -> RungRecord
    {
        if let existing = try RungRecord.filter(
            Column("experimentId") == arrival.experimentId && Column("rung") == arrival.rung
                && Column("runId") == arrival.runId
        ).fetchOne(db) {
            return existing
        }
        let earlier = try RungRecord.filter(
            Column("experimentId") == arrival.experimentId && Column("rung") == arrival.rung
        ).order(Column("arrival")).fetchAll(db)
        let record = RungRecord(
            experimentId: arrival.experimentId, rung: arrival.rung, runId: arrival.runId, step: arrival.step,
            atStep: arrival.atStep, metric: arrival.metric, value: arrival.value.isNaN ? nil : arrival.value,
            arrival: Int64(earlier.count + 1), pruned: prune(earlier.map(\.metricValue), arrival.value),
            time: isoNow())
        try record.insert(db)
        return record
    }

    /// The rung results of one experiment, by rung then arrival.
    public func rungs(experimentId: Int64) throws -> [RungRecord] {
        try pool.read { db in
            try RungRecord.filter(Column("experimentId") == experimentId)
                .order(Column("rung"), Column("arrival")).fetchAll(db)
        }
    }

    /// The rung results of one run, by rung.
    public func rungs(runId: Int64) throws -> [RungRecord] {
        try pool.read { db in
            try RungRecord.filter(Column("runId") == runId).order(Column("rung")).fetchAll(db)
        }
    }

    /// The rung results of the given runs, by experiment, rung, then arrival.
    public func rungs(runIds: [Int64]) throws -> [RungRecord] {
        if runIds.isEmpty { return [] }
        return try pool.read { db in
            try RungRecord.filter(runIds.contains(Column("runId")))
                .order(Column("experimentId"), Column("rung"), Column("arrival")).fetchAll(db)
        }
    }

    /// Each rung's counts, for one experiment or every one, by experiment name then rung.
    public func rungSummaries(experimentId: Int64? = nil) throws -> [RungSummary] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT r.experimentId, e.name, r.rung, r.step, r.metric, count(*) AS results, sum(r.pruned) AS pruned
                    FROM rung r JOIN experiment e ON e.id = r.experimentId
                    WHERE ?1 IS NULL OR r.experimentId = ?1
                    GROUP BY r.experimentId, r.rung ORDER BY e.name, r.rung
                    """, arguments: [experimentId]
            ).map { row in
                RungSummary(
                    experimentId: row["experimentId"], experiment: row["name"], rung: row["rung"], step: row["step"],
                    metric: row["metric"], results: row["results"], pruned: row["pruned"])
            }
        }
    }
}

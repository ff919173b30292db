// What the live dashboard (`tracker serve`) reads besides reports: runs counted by experiment and
// state (states as the store spells them, so a state added later shows without code elsewhere),
// the queue, the newest step of each running series, and the points logged after a step.
import Basics

/// How many runs of one experiment (nil: runs outside any experiment) are in one state.
public struct StateCount: Sendable, Equatable {
    public var experiment: String?
    public var state: String
    public var count: Int
}

/// A run waiting in the queue or running, in the order workers claim them.
public struct QueueEntry: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var experiment: String?
    public var state: String
    public var priority: Int64
    public var attempts: Int64
    public var maxAttempts: Int64
    public var worker: String?
    public var enqueuedAt: String
    public var startedAt: String?
    /// The run's newest logged step (any key), nil before its first.
    public var step: Int64?
}

/// One logged metric point with the time it was written (unix seconds).
public struct LivePoint: Sendable, Equatable {
    public var runId: Int64
    public var key: String
    public var step: Int64
    public var value: Double
    public var time: Double
}

extension RunReader {
    /// Run counts by experiment and state; experiments with no runs appear with no rows.
    public func stateCounts() throws -> [StateCount] {
        try portableRead { db in
            try db.rows(
                sql: """
                    SELECT e.name AS experiment, r.state AS state, count(*) AS n
                    FROM run r LEFT JOIN experiment e ON e.id = r.experimentId
                    GROUP BY e.name, r.state ORDER BY e.name NULLS FIRST, r.state
                    """
            ).map {
                StateCount(
                    experiment: String(sqlValue: $0["experiment"]), state: try $0.get("state"), count: try $0.get("n"))
            }
        }
    }

    /// Queued and running runs: running first, then queued in claim order (priority, then id).
    public func queue(limit: Int = 200) throws -> [QueueEntry] {
        try portableRead { db in
            try db.rows(
                sql: """
                    SELECT r.id, r.name, e.name AS experiment, r.state, r.priority, r.attempts, r.maxAttempts,
                      r.worker, r.enqueuedAt, r.startedAt,
                      (SELECT max(lastStep) FROM metricSummary s WHERE s.runId = r.id) AS step
                    FROM run r LEFT JOIN experiment e ON e.id = r.experimentId
                    WHERE r.state IN ('running', 'queued')
                    ORDER BY r.state = 'queued', r.priority DESC, r.id LIMIT ?
                    """, arguments: [limit]
            ).map {
                QueueEntry(
                    id: try $0.get("id"), name: try $0.get("name"), experiment: String(sqlValue: $0["experiment"]),
                    state: try $0.get("state"), priority: try $0.get("priority"), attempts: try $0.get("attempts"),
                    maxAttempts: try $0.get("maxAttempts"), worker: String(sqlValue: $0["worker"]),
                    enqueuedAt: try $0.get("enqueuedAt"), startedAt: String(sqlValue: $0["startedAt"]),
                    step: Int64(sqlValue: $0["step"]))
            }
        }
    }

    /// The ids of runs in `state`.
    public func runIds(state: String) throws -> [Int64] {
        try portableRead { db in
            try db.column(Int64.self, sql: "SELECT id FROM run WHERE state = ? ORDER BY id", arguments: [state])
        }
    }

    /// The newest step of each metric series of the given runs: `[runId: [key: lastStep]]`.
    public func lastSteps(runIds: [Int64]) throws -> [Int64: [String: Int64]] {
        if runIds.isEmpty { return [:] }
        return try portableRead { db in
            var out: [Int64: [String: Int64]] = [:]
            for row in try db.rows(
                sql: "SELECT runId, key, lastStep FROM metricSummary WHERE runId IN (\(sqlMarks(runIds.count)))",
                arguments: sqlArguments(runIds))
            {
                out[try row.get("runId"), default: [:]][try row.get("key")] = try row.get("lastStep")
            }
            return out
        }
    }

    /// Points of one series logged at steps after `step` (all of them when nil), in step order.
    public func points(runId: Int64, key: String, after step: Int64?) throws -> [LivePoint] {
        try portableRead { db in
            try db.rows(
                sql: """
                    SELECT step, value, isNaN, time FROM metric
                    WHERE runId = ? AND key = ? AND step > ? ORDER BY step
                    """, arguments: [runId, key, step ?? Int64.min]
            ).map { row in
                let nan: Bool = try row.get("isNaN")
                return LivePoint(
                    runId: runId, key: key, step: try row.get("step"),
                    value: nan ? .nan : (Double(sqlValue: row["value"]) ?? .nan), time: try row.get("time"))
            }
        }
    }
}

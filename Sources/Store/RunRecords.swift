// Records for the experiment tables of migrations/0002_runs.sql, one Codable record per table
// (SQLRecord), plus the value types the write path takes: a metric point and a
// typed parameter value.

public struct ExperimentRecord: Codable, Sendable, Equatable, IdentifiedRecord {
    public static let databaseTableName = "experiment"
    public var id: Int64?
    public var name: String
    public var source: String?
    public var spec: String
    public var createdAt: String

    public init(id: Int64? = nil, name: String, source: String? = nil, spec: String, createdAt: String = isoNow()) {
        self.id = id
        self.name = name
        self.source = source
        self.spec = spec
        self.createdAt = createdAt
    }
}

/// One run: the experiment's unit of work and, while queued or running, its queue entry.
public struct RunRecord: Codable, Sendable, Equatable, IdentifiedRecord {
    public static let databaseTableName = "run"
    public var id: Int64?
    public var experimentId: Int64?
    public var name: String
    public var config: String
    public var configHash: String
    public var state: RunState
    public var priority: Int64
    public var attempts: Int64
    public var maxAttempts: Int64
    public var cancelRequested: Bool
    public var worker: String?
    public var leaseExpiresAt: Double?
    public var heartbeatAt: Double?
    public var enqueuedAt: String
    public var startedAt: String?
    public var finishedAt: String?
    public var exitCode: Int64?
    public var signal: Int64?
    public var error: String?
    public var codeVersion: String?
    public var codeDirty: Bool?
    public var machine: String?
    public var corpusId: Int64?
    public var lineage: String?
    public var origin: String

    public init(
        id: Int64? = nil, experimentId: Int64? = nil, name: String, config: String, configHash: String,
        state: RunState = .queued, priority: Int64 = 0, attempts: Int64 = 0, maxAttempts: Int64 = 3,
        cancelRequested: Bool = false, worker: String? = nil, leaseExpiresAt: Double? = nil,
        heartbeatAt: Double? = nil, enqueuedAt: String = isoNow(), startedAt: String? = nil,
        finishedAt: String? = nil, exitCode: Int64? = nil, signal: Int64? = nil, error: String? = nil,
        codeVersion: String? = nil, codeDirty: Bool? = nil, machine: String? = nil, corpusId: Int64? = nil,
        lineage: String? = nil, origin: String = "local"
    ) {
        self.id = id
        self.experimentId = experimentId
        self.name = name
        self.config = config
        self.configHash = configHash
        self.state = state
        self.priority = priority
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.cancelRequested = cancelRequested
        self.worker = worker
        self.leaseExpiresAt = leaseExpiresAt
        self.heartbeatAt = heartbeatAt
        self.enqueuedAt = enqueuedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.exitCode = exitCode
        self.signal = signal
        self.error = error
        self.codeVersion = codeVersion
        self.codeDirty = codeDirty
        self.machine = machine
        self.corpusId = corpusId
        self.lineage = lineage
        self.origin = origin
    }
}

/// A parameter value as stored in runParam: ints, reals and bools in `num`, text in `text`.
public enum ParamValue: Sendable, Equatable, Hashable, CustomStringConvertible {
    case int(Int64)
    case real(Double)
    case bool(Bool)
    case text(String)

    public var typeName: String {
        switch self {
        case .int: "int"
        case .real: "real"
        case .bool: "bool"
        case .text: "text"
        }
    }

    public var description: String {
        switch self {
        case .int(let v): "\(v)"
        case .real(let v): "\(v)"
        case .bool(let v): "\(v)"
        case .text(let v): v
        }
    }
}

public struct RunTagRecord: Codable, Sendable, Equatable, SQLRecord {
    public static let databaseTableName = "runTag"
    public var runId: Int64
    public var key: String
    public var value: String
}

/// One point of a metric series. NaN and ±infinity are kept exactly (NaN via the isNaN column).
public struct MetricPoint: Sendable, Equatable {
    public var runId: Int64
    public var key: String
    public var step: Int64
    public var value: Double
    public var time: Double

    public init(runId: Int64, key: String, step: Int64, value: Double, time: Double) {
        self.runId = runId
        self.key = key
        self.step = step
        self.value = value
        self.time = time
    }

    /// Equal when every field is equal, counting NaN as equal to NaN (for round-trip checks).
    public func sameBits(_ o: MetricPoint) -> Bool {
        runId == o.runId && key == o.key && step == o.step && time == o.time
            && (value == o.value || (value.isNaN && o.value.isNaN))
    }
}

/// The denormalised per-key summary the metric write path keeps current.
public struct MetricSummaryRecord: Codable, Sendable, Equatable, SQLRecord {
    public static let databaseTableName = "metricSummary"
    public var runId: Int64
    public var key: String
    public var lastStep: Int64
    public var last: Double?
    public var lastIsNaN: Bool
    public var min: Double?
    public var max: Double?
    public var count: Int64

    public init(
        runId: Int64, key: String, lastStep: Int64, last: Double?, lastIsNaN: Bool, min: Double?, max: Double?,
        count: Int64
    ) {
        self.runId = runId
        self.key = key
        self.lastStep = lastStep
        self.last = last
        self.lastIsNaN = lastIsNaN
        self.min = min
        self.max = max
        self.count = count
    }

    /// The last value with NaN restored.
    public var lastValue: Double { lastIsNaN ? .nan : (last ?? .nan) }
}

public struct ArtifactRecord: Codable, Sendable, Equatable, IdentifiedRecord {
    public static let databaseTableName = "artifact"
    public var id: Int64?
    public var runId: Int64?
    public var kind: String
    public var step: Int64?
    public var path: String
    public var size: Int64
    public var sha256: String
    public var createdAt: String

    public init(
        id: Int64? = nil, runId: Int64?, kind: String, step: Int64? = nil, path: String, size: Int64, sha256: String,
        createdAt: String = isoNow()
    ) {
        self.id = id
        self.runId = runId
        self.kind = kind
        self.step = step
        self.path = path
        self.size = size
        self.sha256 = sha256
        self.createdAt = createdAt
    }
}

public struct RunEventRecord: Codable, Sendable, Equatable, IdentifiedRecord {
    public static let databaseTableName = "runEvent"
    public var id: Int64?
    public var runId: Int64
    public var time: String
    public var fromState: RunState?
    public var toState: RunState
    public var worker: String?
    public var detail: String?
}

public struct WorkerRecord: Codable, Sendable, Equatable, SQLRecord {
    public static let databaseTableName = "worker"
    public var id: String
    public var host: String
    public var pid: Int64
    public var startedAt: String
    public var heartbeatAt: Double
    public var runId: Int64?
}

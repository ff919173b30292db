// What reports read about runs (RunReader): one run without its metric history (the run row,
// its typed parameters, tags, and the per-key summaries the write path keeps in metricSummary),
// and points of a metric history.
import Basics

extension ParamValue {
    /// The value in its number column (int, real, bool as 0/1), nil for text.
    public var number: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .real(let v): return v
        case .bool(let v): return v ? 1 : 0
        case .text: return nil
        }
    }
}

/// One metricSummary row: the last logged value and the extremes over non-NaN values.
public struct MetricStat: Sendable, Equatable {
    public var lastStep: Int64
    /// NaN when the last value logged was NaN.
    public var last: Double
    public var min: Double?
    public var max: Double?
    public var count: Int64

    public init(lastStep: Int64, last: Double, min: Double?, max: Double?, count: Int64) {
        self.lastStep = lastStep
        self.last = last
        self.min = min
        self.max = max
        self.count = count
    }
}

/// One run at a glance. A class, not a struct: comparisons pass thousands of runs through
/// grouping and aggregation closures, and copying a struct with seven reference fields each time
/// cost more than the SQL that loaded them.
public final class RunSummary {
    public var id: Int64
    public var name: String
    public var experiment: String?
    public var state: String
    public var origin: String
    /// Seconds from the first claim to the end (or to now while running); nil if never started.
    public var duration: Double?
    public var params: [String: ParamValue]
    public var tags: [String: String]
    public var metrics: [String: MetricStat]

    public init(
        id: Int64, name: String, experiment: String?, state: String, origin: String = "local",
        duration: Double?, params: [String: ParamValue] = [:], tags: [String: String] = [:],
        metrics: [String: MetricStat] = [:]
    ) {
        self.id = id
        self.name = name
        self.experiment = experiment
        self.state = state
        self.origin = origin
        self.duration = duration
        self.params = params
        self.tags = tags
        self.metrics = metrics
    }

    /// The attention variant, the parameter every comparison is about.
    public var variant: String? { params[ConfigKey.attentionVariant]?.description }
}

/// One logged value of a metric history.
public struct HistoryPoint: Sendable, Equatable {
    public var step: Int64
    public var value: Double
    public init(step: Int64, value: Double) {
        self.step = step
        self.value = value
    }
}

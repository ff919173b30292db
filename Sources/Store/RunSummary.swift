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
///
/// Runs read by `RunReader.summaries` keep their parameters, tags and metric summaries in the
/// `RunColumns` they share (no dictionary per run: building and freeing 30,000 of them was most
/// of a 10,000-run comparison); `params`, `tags` and `metrics` build a run's dictionary on first
/// use, and `param(_:)` / `metric(_:)` read a `SummaryKey` without hashing its name.
public final class RunSummary {
    public var id: Int64
    public var name: String
    public var experiment: String?
    public var state: String
    public var origin: String
    /// Seconds from the first claim to the end (or to now while running), its calendar span with any
    /// time it sat dead or queued between attempts; nil if never started.
    public var duration: Double?
    /// Seconds the run actually ran (nil if never started, or not read): set by
    /// `RunReader.setRunningTimes`, which says how; `summaries` leaves it nil.
    public var runningTime: Double?
    /// The columns holding this run's entries (nil: its dictionaries are all there is) and its row.
    /// These five are read on every `param(_:)` and `metric(_:)` (hundreds of thousands of times
    /// in a 10,000-run comparison), where Swift's dynamic exclusivity checks of class properties
    /// cost more than the lookup itself (perf); a RunSummary is used by one thread at a time.
    @exclusivity(unchecked) package private(set) var columns: RunColumns?
    @exclusivity(unchecked) package private(set) var row = 0
    @exclusivity(unchecked) private var ownParams: [String: ParamValue]?
    @exclusivity(unchecked) private var ownTags: [String: String]?
    @exclusivity(unchecked) private var ownMetrics: [String: MetricStat]?

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
        self.ownParams = params
        self.ownTags = tags
        self.ownMetrics = metrics
    }

    /// A run whose entries are row `row` of `columns` (attached once they are read).
    init(id: Int64, name: String, experiment: String?, state: String, origin: String, duration: Double?) {
        self.id = id
        self.name = name
        self.experiment = experiment
        self.state = state
        self.origin = origin
        self.duration = duration
    }

    /// Attaches the columns holding this run's entries as their row `row`.
    func attach(_ columns: RunColumns, row: Int) {
        self.columns = columns
        self.row = row
        (ownParams, ownTags, ownMetrics) = (nil, nil, nil)
    }

    public var params: [String: ParamValue] {
        get { dictionary(\.ownParams, \.params) }
        set { ownParams = newValue }
    }

    public var tags: [String: String] {
        get { dictionary(\.ownTags, \.tags) }
        set { ownTags = newValue }
    }

    public var metrics: [String: MetricStat] {
        get { dictionary(\.ownMetrics, \.metrics) }
        set { ownMetrics = newValue }
    }

    /// The run's dictionary in `own`, built from `entries` of its columns on first use.
    private func dictionary<V>(
        _ own: ReferenceWritableKeyPath<RunSummary, [String: V]?>, _ entries: KeyPath<RunColumns, SummaryEntries<V>>
    ) -> [String: V] {
        if let d = self[keyPath: own] { return d }
        guard let columns else { return [:] }
        let d = columns[keyPath: entries].dictionary(row)
        self[keyPath: own] = d
        return d
    }

    /// The columns when this run's parameters and metrics are read from them alone (none of its
    /// dictionaries was built, so none was changed).
    package var sharedColumns: RunColumns? { ownParams == nil && ownMetrics == nil ? columns : nil }

    /// The parameter `key` names, nil when the run has none.
    public func param(_ key: SummaryKey) -> ParamValue? {
        if let c = sharedColumns, c === key.columns { return c.params.value(row, key.param) }
        return params[key.name]
    }

    /// The metric summary of `key`, nil when the run logged none.
    public func metric(_ key: SummaryKey) -> MetricStat? {
        if let c = sharedColumns, c === key.columns { return c.metrics.value(row, key.metric) }
        return metrics[key.name]
    }

    /// The attention variant, the parameter every comparison is about.
    public var variant: String? { params[ConfigKey.attentionVariant]?.description }
}

/// A parameter or metric name looked up once in the columns a set of runs shares, so that
/// reading it from each of thousands of runs scans a few key ids instead of hashing the name.
/// Runs outside those columns (or built from dictionaries) are read by name: same answers.
public struct SummaryKey {
    public let name: String
    let columns: RunColumns?
    let param: Int32
    let metric: Int32

    /// `name` as a key of `runs`, looked up in the columns of the first of them.
    public init(_ name: String, in runs: [RunSummary]) {
        self.name = name
        columns = runs.first?.columns
        param = columns?.params.id(name) ?? -1
        metric = columns?.metrics.id(name) ?? -1
    }
}

/// The parameters, tags and metric summaries of the runs one `RunReader.summaries` call read.
package final class RunColumns: @unchecked Sendable {
    package let params: SummaryEntries<ParamValue>
    package let tags: SummaryEntries<String>
    package let metrics: SummaryEntries<MetricStat>

    init(params: SummaryEntries<ParamValue>, tags: SummaryEntries<String>, metrics: SummaryEntries<MetricStat>) {
        self.params = params
        self.tags = tags
        self.metrics = metrics
    }
}

/// Key-value entries of many runs in flat arrays: row i's entries are `range(i)`, each a key id
/// (an index into `names`) and a value. Rows are appended in order, a row's keys each once.
/// Where most rows have most keys (a sweep), `finish` also builds a table of each (key, row)'s
/// entry, so that reading one key of one run is one array access instead of a scan: a
/// 10,000-run comparison reads some 300,000 of them.
package struct SummaryEntries<Value> {
    package private(set) var names: [String] = []
    package private(set) var keys: [Int32] = []
    package private(set) var values: [Value] = []
    private var start: [Int32] = []
    private var index: [String: Int32] = [:]
    /// The rows the reader expects (0: unknown), for reserving room once a few rows are in.
    private let expectedRows: Int
    /// When dense: the entry index of key id k in row r at `k * rows + r`, -1 for none; else empty.
    private var slots: [Int32] = []
    private var rows = 0

    /// Rows read before room is reserved for `expectedRows` at their number of entries per row.
    static var sampleRows: Int { 8 }

    /// `expectedRows`: how many rows the caller will append (a hint, 0 when unknown). Growing the
    /// arrays by doubling copied and page-faulted 80,000 metric summaries several times over.
    init(expectedRows: Int = 0) {
        self.expectedRows = expectedRows
        start.reserveCapacity(expectedRows + 1)
    }

    /// Appends an entry of row `row` (rows in increasing order) with key id `key`.
    mutating func append(row: Int, key: Int32, _ value: Value) {
        if start.count <= row { startRow(row) }
        keys.append(key)
        values.append(value)
    }

    /// Starts row `row` (and any empty rows before it); past the first `sampleRows` rows,
    /// reserves room for the expected rows at the entries per row seen so far, plus an eighth.
    private mutating func startRow(_ row: Int) {
        let sample = Self.sampleRows
        if start.count <= sample && row >= sample && expectedRows > row {
            let capacity = keys.count + keys.count * (expectedRows - row) / row * 9 / 8
            keys.reserveCapacity(capacity)
            values.reserveCapacity(capacity)
        }
        while start.count <= row { start.append(Int32(keys.count)) }
    }

    /// Appends the `rows` rows of `other` (finished) as rows `after`, `after + 1`, ..., its key
    /// id k becoming `keys[k]`: its arrays whole (appending the second half of a 10,000-run
    /// read entry by entry was 6% of a comparison's CPU, on its critical path).
    mutating func append(_ other: SummaryEntries, rows: Int, after: Int, keys map: [Int32]) {
        while start.count < after { start.append(Int32(keys.count)) }
        let base = Int32(keys.count)
        start.append(contentsOf: other.start[..<rows].lazy.map { $0 + base })
        if map.indices.allSatisfy({ map[$0] == Int32($0) }) {
            keys.append(contentsOf: other.keys)
        } else {
            keys.append(contentsOf: other.keys.lazy.map { map[Int($0)] })
        }
        values.append(contentsOf: other.values)
    }

    /// Ends the last of `rows` rows and names the key ids (`names[id]`).
    mutating func finish(rows: Int, names: [String]) {
        while start.count <= rows { start.append(Int32(keys.count)) }
        self.names = names
        self.rows = rows
        index = Dictionary(names.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { a, _ in a })
        // At most four slots per entry: sparse keys (many keys, each in few runs) keep the scan.
        guard !names.isEmpty && names.count * rows <= 4 * keys.count + 64 else { return }
        var slots = [Int32](repeating: -1, count: names.count * rows)
        for r in 0..<rows {
            for i in range(r) where slots[Int(keys[i]) * rows + r] < 0 { slots[Int(keys[i]) * rows + r] = Int32(i) }
        }
        self.slots = slots
    }

    /// Whether `value` reads the (key, row) table rather than scanning a row's entries.
    var isDense: Bool { !slots.isEmpty }

    /// The id of key `name`, -1 when no row has it.
    package func id(_ name: String) -> Int32 { index[name] ?? -1 }

    /// The entries of row `row`.
    package func range(_ row: Int) -> Range<Int> { Int(start[row])..<Int(start[row + 1]) }

    /// Row `row`'s value of key id `key` (nil when it has none, or for -1).
    package func value(_ row: Int, _ key: Int32) -> Value? {
        if key < 0 { return nil }
        if !slots.isEmpty {
            let i = slots[Int(key) * rows + row]
            return i < 0 ? nil : values[Int(i)]
        }
        for i in range(row) where keys[i] == key { return values[i] }
        return nil
    }

    /// Row `row`'s entries as a dictionary keyed by name.
    func dictionary(_ row: Int) -> [String: Value] {
        var out: [String: Value] = [:]
        for i in range(row) { out[names[Int(keys[i])]] = values[i] }
        return out
    }
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

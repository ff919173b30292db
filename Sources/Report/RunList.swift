// `tracker report`: the selected runs at a glance, one row each, with only the parameters that
// differ among them, the loss and speed numbers that matter, sorted and limited as asked.
import Basics
import Store

/// What `tracker report` lists and in what order.
public struct RunListQuery: Sendable {
    public var selection: RunSelection
    /// A column name (`id`, `name`, `experiment`, `state`, `variant`, `duration`) or a field as
    /// --where spells it (`train.lr`, `val/loss.min`, `tag.note`, `run.name`).
    public var sort: String?
    public var descending: Bool
    public var limit: Int?
    /// Runs skipped (after sorting) before the `limit` shown: a page of the table.
    public var offset: Int

    public init(
        selection: RunSelection = RunSelection(), sort: String? = nil, descending: Bool = false, limit: Int? = nil,
        offset: Int = 0
    ) {
        self.selection = selection
        self.sort = sort
        self.descending = descending
        self.limit = limit
        self.offset = offset
    }
}

public enum Reports {
    /// The run table for `query`.
    public static func runList(_ reader: RunReader, _ query: RunListQuery) throws -> ReportDocument {
        try runPage(reader, query).document
    }

    /// The run table for `query` and how many runs the selection holds before `offset` and `limit`.
    /// An offset at or past the last run (of a selection that has runs) is `ReportError.pastTheEnd`.
    public static func runPage(_ reader: RunReader, _ query: RunListQuery) throws -> (
        document: ReportDocument, total: Int
    ) {
        var runs = try reader.summaries(query.selection)
        if let key = query.sort { runs = try sorted(runs, by: key, descending: query.descending) }
        let total = runs.count
        let offset = max(0, query.offset)
        if offset > 0 {
            if offset >= total { throw ReportError.pastTheEnd(offset: offset, total: total) }
            runs.removeFirst(offset)
        }
        if let limit = query.limit, limit < runs.count { runs = Array(runs.prefix(max(0, limit))) }
        let differing = Statistics.differingParams(runs).filter { $0 != ConfigKey.attentionVariant }
        var columns = ["experiment", "run", "id", "variant", "state"] + differing
        columns += ["best val/loss", "final val/loss", "val/bpb", "tokens/s", "duration"]
        // Keys looked up once: reading them by name built each run's dictionaries (a third of
        // the run table's CPU at 10,000 runs, perf).
        let keys = CompareKeys(runs)
        let differingKeys = differing.map { SummaryKey($0, in: runs) }
        let rows = runs.map { r -> [Cell] in
            var row: [Cell] = [
                text(r.experiment), .text(r.name), .int(r.id), text(r.param(keys.variant)?.description), .text(r.state),
            ]
            row.reserveCapacity(columns.count)
            for key in differingKeys { row.append(paramCell(r.param(key))) }
            appendStandardMetricCells(r, keys, to: &row)
            return row
        }
        var sections: [ReportSection] = [.table(ReportTable(title: "Runs", columns: columns, rows: rows))]
        if let rungs = try rungTable(reader, runs) { sections.append(.table(rungs)) }
        if offset > 0 {
            sections.append(.note("showing runs \(offset + 1) to \(offset + runs.count) of \(total)"))
        } else if runs.count < total {
            sections.append(.note("showing \(runs.count) of \(total) runs (--limit)"))
        }
        if total == 0, let filter = query.selection.filter, let note = try missingNote(reader, filter) {
            sections.append(.note(note))
        }
        let count = runs.count == 1 ? "1 run" : "\(runs.count) runs"
        let title = "tracker report: \(count) (\(describe(query.selection)))"
        return (ReportDocument(title: title, sections: sections), total)
    }

    /// The --sort key of a column of the run table (nil for columns that cannot be sorted by).
    public static func runListSortKey(column: String) -> String? {
        switch column {
        case "experiment", "id", "variant", "state", "duration": return column
        case "run": return "name"
        case "best val/loss": return MetricKey.valLoss + ".min"
        case "final val/loss": return MetricKey.valLoss
        case "val/bpb": return MetricKey.valBPB
        case "tokens/s": return MetricKey.tokensPerSecond
        default: return column.contains(".") ? column : nil
        }
    }

    /// The ASHA rung results of the listed runs (experiments with [sweep] scheduler = "asha"), in
    /// the order runs reached each rung; nil when none has any.
    static func rungTable(_ reader: RunReader, _ runs: [RunSummary]) throws -> ReportTable? {
        let rungs = try reader.db.rungs(runIds: runs.map(\.id))
        if rungs.isEmpty { return nil }
        let byId = Dictionary(uniqueKeysWithValues: runs.map { ($0.id, $0) })
        let rows = rungs.map { r -> [Cell] in
            [
                text(byId[r.runId]?.experiment), .int(r.rung), .int(r.step), .int(r.arrival),
                text(byId[r.runId]?.name), .int(r.runId), .text(r.metric), number(r.metricValue), .int(r.atStep),
                .text(r.pruned ? "pruned" : "continued"),
            ]
        }
        let columns = ["experiment", "rung", "step", "arrival", "run", "id", "metric", "value", "at step", "decision"]
        return ReportTable(title: "ASHA rungs", columns: columns, rows: rows)
    }

    /// Appends best val/loss, final val/loss, val/bpb, tokens/s, duration.
    static func appendStandardMetricCells(_ r: RunSummary, _ keys: CompareKeys, to row: inout [Cell]) {
        let val = r.metric(keys.valLoss)
        row.append(number(val?.min))
        row.append(number(val?.last))
        row.append(number(r.metric(keys.valBPB)?.last))
        row.append(number(r.metric(keys.tokensPerSecond)?.last, .count))
        row.append(number(r.duration, .duration))
    }

    static func text(_ s: String?) -> Cell { s.map(Cell.text) ?? .missing }

    static func int(_ v: Int64?) -> Cell { v.map(Cell.int) ?? .missing }

    static func number(_ v: Double?, _ style: NumberStyle = .fixed(4)) -> Cell {
        v.map { .number($0, style) } ?? .missing
    }

    static func paramCell(_ v: ParamValue?) -> Cell {
        switch v {
        case nil: return .missing
        case .int(let i): return .int(i)
        case .real(let d): return .number(d, .shortest)
        case .bool(let b): return .text(b ? "true" : "false")
        case .text(let s): return .text(s)
        }
    }

    /// Why a filter may have selected nothing: the fields it names that no run has, if any.
    static func missingNote(_ reader: RunReader, _ filter: Filter) throws -> String? {
        let missing = try reader.missingFields(filter)
        if missing.isEmpty { return nil }
        return "no run has " + missing.joined(separator: ", ")
            + " (a metric's statistic is .last, .min or .max; `tracker report RUN` lists a run's fields)"
    }

    static func describe(_ s: RunSelection) -> String {
        var parts: [String] = []
        if let e = s.experiment { parts.append("experiment \(e)") }
        if let st = s.state { parts.append("state \(st)") }
        if !s.runs.isEmpty { parts.append("runs " + s.runs.joined(separator: ", ")) }
        if s.filter != nil { parts.append("filtered") }
        return parts.isEmpty ? "all runs" : parts.joined(separator: ", ")
    }

    // MARK: - Sorting

    enum SortValue: Comparable {
        case number(Double)
        case text(String)

        static func < (a: SortValue, b: SortValue) -> Bool {
            switch (a, b) {
            case (.number(let x), .number(let y)): return x < y
            case (.number, .text): return true
            case (.text, .number): return false
            case (.text(let x), .text(let y)): return x < y
            }
        }
    }

    /// Runs ordered by `key`; runs without a value (or with NaN) go last either way; ties by id.
    static func sorted(_ runs: [RunSummary], by key: String, descending: Bool) throws -> [RunSummary] {
        let extract = try sortExtractor(key, runs)
        let keyed = runs.map { (extract($0), $0) }
        return keyed.sorted { a, b in
            switch (a.0, b.0) {
            case (nil, nil): return a.1.id < b.1.id
            case (nil, _): return false
            case (_, nil): return true
            case (let x?, let y?):
                if x == y { return a.1.id < b.1.id }
                return descending ? y < x : x < y
            }
        }.map(\.1)
    }

    static func sortExtractor(_ key: String, _ runs: [RunSummary]) throws -> (RunSummary) -> SortValue? {
        func num(_ v: Double?) -> SortValue? { v.flatMap { $0.isNaN ? nil : .number($0) } }
        switch key {
        case "id": return { .number(Double($0.id)) }
        case "name", "run": return { .text($0.name) }
        case "experiment": return { $0.experiment.map(SortValue.text) }
        case "state": return { .text($0.state) }
        case "variant":
            let variant = SummaryKey(ConfigKey.attentionVariant, in: runs)
            return { $0.param(variant).map { .text($0.description) } }
        case "duration": return { num($0.duration) }
        default: break
        }
        guard let field = Field.named(key) else { throw ReportError.badSortKey(key) }
        switch field {
        case .run(let column):
            return try sortExtractor(column == .id ? "id" : column.rawValue, runs)
        case .param(let k):
            let param = SummaryKey(k, in: runs)
            guard runs.isEmpty || runs.contains(where: { $0.param(param) != nil }) else {
                throw ReportError.badSortKey(key)
            }
            return { r in
                guard let v = r.param(param) else { return nil }
                return v.number.map(SortValue.number) ?? .text(v.description)
            }
        case .tag(let k):
            guard runs.isEmpty || runs.contains(where: { $0.tags[k] != nil }) else { throw ReportError.badSortKey(key) }
            return { $0.tags[k].map(SortValue.text) }
        case .metric(let k, let stat):
            let metric = SummaryKey(k, in: runs)
            guard runs.isEmpty || runs.contains(where: { $0.metric(metric) != nil }) else {
                throw ReportError.badSortKey(key)
            }
            return { r in
                guard let m = r.metric(metric) else { return nil }
                switch stat {
                case .last: return num(m.last)
                case .min: return num(m.min)
                case .max: return num(m.max)
                }
            }
        }
    }
}

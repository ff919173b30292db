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

    public init(
        selection: RunSelection = RunSelection(), sort: String? = nil, descending: Bool = false, limit: Int? = nil
    ) {
        self.selection = selection
        self.sort = sort
        self.descending = descending
        self.limit = limit
    }
}

public enum Reports {
    /// The run table for `query`.
    public static func runList(_ reader: RunReader, _ query: RunListQuery) throws -> ReportDocument {
        var runs = try reader.summaries(query.selection)
        if let key = query.sort { runs = try sorted(runs, by: key, descending: query.descending) }
        let total = runs.count
        if let limit = query.limit, limit < runs.count { runs = Array(runs.prefix(max(0, limit))) }
        let differing = Statistics.differingParams(runs).filter { $0 != ConfigKey.attentionVariant }
        var columns = ["experiment", "run", "id", "variant", "state"] + differing
        columns += ["best val/loss", "final val/loss", "val/bpb", "tokens/s", "duration"]
        let rows = runs.map { r -> [Cell] in
            var row: [Cell] = [text(r.experiment), .text(r.name), .int(r.id), text(r.variant), .text(r.state)]
            row += differing.map { paramCell(r.params[$0]) }
            row += standardMetricCells(r)
            return row
        }
        var sections: [ReportSection] = [.table(ReportTable(title: "Runs", columns: columns, rows: rows))]
        if let rungs = try rungTable(reader, runs) { sections.append(.table(rungs)) }
        if runs.count < total { sections.append(.note("showing \(runs.count) of \(total) runs (--limit)")) }
        let count = runs.count == 1 ? "1 run" : "\(runs.count) runs"
        return ReportDocument(title: "tracker report: \(count) (\(describe(query.selection)))", sections: sections)
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

    /// best val/loss, final val/loss, val/bpb, tokens/s, duration.
    static func standardMetricCells(_ r: RunSummary) -> [Cell] {
        let val = r.metrics[MetricKey.valLoss]
        return [
            number(val?.min), number(val?.last), number(r.metrics[MetricKey.valBPB]?.last),
            number(r.metrics[MetricKey.tokensPerSecond]?.last, .count), number(r.duration, .duration),
        ]
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
        case "variant": return { $0.variant.map(SortValue.text) }
        case "duration": return { num($0.duration) }
        default: break
        }
        guard let field = Field.named(key) else { throw ReportError.badSortKey(key) }
        switch field {
        case .run(let column):
            return try sortExtractor(column == .id ? "id" : column.rawValue, runs)
        case .param(let k):
            guard runs.isEmpty || runs.contains(where: { $0.params[k] != nil }) else {
                throw ReportError.badSortKey(key)
            }
            return { r in
                guard let v = r.params[k] else { return nil }
                return v.number.map(SortValue.number) ?? .text(v.description)
            }
        case .tag(let k):
            guard runs.isEmpty || runs.contains(where: { $0.tags[k] != nil }) else { throw ReportError.badSortKey(key) }
            return { $0.tags[k].map(SortValue.text) }
        case .metric(let k, let stat):
            guard runs.isEmpty || runs.contains(where: { $0.metrics[k] != nil }) else {
                throw ReportError.badSortKey(key)
            }
            return { r in
                guard let m = r.metrics[k] else { return nil }
                switch stat {
                case .last: return num(m.last)
                case .min: return num(m.min)
                case .max: return num(m.max)
                }
            }
        }
    }
}

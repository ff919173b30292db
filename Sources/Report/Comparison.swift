// `tracker report --compare`: runs side by side with only the parameters that differ, their final
// and best metrics, mean ± std over seeds per group, the length-generalisation ('lengen/...') and
// task ('task/...') tables, and loss curves of the best few runs or groups.
import Basics
import Dispatch
import Store

/// What `tracker report --compare` compares and how.
public struct CompareQuery: Sendable {
    public var selection: RunSelection
    /// Parameter keys that define a group; nil groups by every differing key except the seed keys (`ConfigKey.seedKeys`).
    public var groupBy: [String]?
    public var chartMetrics: [String]
    public var logScale: Bool
    /// Series per chart; the best by final val/loss (else train/loss) are kept.
    public var maxSeries: Int

    public init(
        selection: RunSelection, groupBy: [String]? = nil,
        chartMetrics: [String] = [MetricKey.trainLoss, MetricKey.valLoss],
        logScale: Bool = false, maxSeries: Int = 8
    ) {
        self.selection = selection
        self.groupBy = groupBy
        self.chartMetrics = chartMetrics
        self.logScale = logScale
        self.maxSeries = maxSeries
    }
}

extension Reports {
    /// The legend of the marks `Statistics.markDifferences` puts on group tables.
    public static let markLegend =
        "▲ marks a column's best mean, ▼ a mean that differs from it by more than the sum of the two "
        + "standard deviations (|m - m_best| > s + s_best); unmarked means lie within that spread of the best. "
        + "Means and sample standard deviations are over a group's runs (its seeds); a group of one run is not marked."

    /// The per-run columns every comparison shows: final and best losses, speed and cost.
    static let metricColumns = [
        "final train/loss", "final val/loss", "best val/loss", "val/bpb", "tokens/s", "steps", "tokens", "wall",
    ]
    /// How each of `metricColumns` is read from a run (keys looked up once for the runs), and
    /// whether higher is better (nil: not marked).
    static let metricValues:
        [(style: NumberStyle, higher: Bool?, value: @Sendable (RunSummary, CompareKeys) -> Double?)] = [
            (.fixed(4), false, { $0.metric($1.trainLoss)?.last }),
            (.fixed(4), false, { $0.metric($1.valLoss)?.last }),
            (.fixed(4), false, { $0.metric($1.valLoss)?.min }),
            (.fixed(4), false, { $0.metric($1.valBPB)?.last }),
            (.count, nil, { $0.metric($1.tokensPerSecond)?.last }),
            (.count, nil, { $0.steps($1) }), (.count, nil, { $0.tokens($1) }),
            (.duration, nil, { r, _ in r.runningTime }),
        ]

    public static func compare(_ reader: RunReader, _ query: CompareQuery) throws -> ReportDocument {
        let runs = try summariesWithWall(reader, query.selection)
        if runs.isEmpty {
            let why = try query.selection.filter.flatMap { try missingNote(reader, $0) }
            throw ReportError.noRuns(describe(query.selection) + (why.map { " (\($0))" } ?? ""))
        }
        let differing = Statistics.differingParams(runs)
        let groupKeys = query.groupBy ?? Statistics.withoutSeeds(differing)
        for key in query.groupBy ?? [] {
            let k = SummaryKey(key, in: runs)
            if !runs.contains(where: { $0.param(k) != nil }) {
                throw ReportError.badGroupKey(key, differing: Statistics.withoutSeeds(differing))
            }
        }
        let groups = Statistics.group(runs, by: groupKeys)
        let grouped = groups.count < runs.count
        let keys = CompareKeys(runs)
        let ranked = rankedSeries(runs: runs, groups: grouped ? groups : nil, keys: keys)
        let shown = Array(ranked.prefix(max(1, query.maxSeries)))

        // The charted histories (up to 16 runs of each shown series: some 50,000 points at
        // 10,000 runs, a fifth of the comparison's CPU) are read while the tables are built.
        let charted = shown.map { (label: $0.label, runIds: Array($0.runs.prefix(16).map(\.id))) }
        let charts = ResultSlots<Result<[ReportChart], any Error>>(count: 1)
        let reading = DispatchGroup()
        DispatchQueue.global().async(group: reading) {
            charts[0] = Result { try lossCharts(reader, query, charted, grouped: grouped) }
        }
        let tables = tableSections(
            runs, differing: differing, groups: grouped ? (groups, groupKeys) : nil, keys: keys, ranked: ranked,
            shown: shown)
        reading.wait()
        var sections = tables.sections
        sections += try charts[0]!.get().map(ReportSection.chart) + tables.bucketCharts
        if ranked.count > shown.count {
            sections.append(
                .note(
                    "curves show the \(shown.count) best of \(ranked.count) \(grouped ? "groups" : "runs") by final loss"
                ))
        }
        let title =
            "tracker report --compare: \(runs.count) runs" + (grouped ? " in \(groups.count) groups" : "")
            + " (\(describe(query.selection)))"
        return ReportDocument(title: title, sections: sections)
    }

    /// A comparison's tables (and their notes) in order, and its charts by position bucket.
    struct TableSections {
        var sections: [ReportSection] = []
        var bucketCharts: [ReportSection] = []
    }

    /// The run table, the group table when runs are grouped (by `groups.keys`), the family tables
    /// and the legend of their marks; the bucket charts of `ranked` and `shown` series.
    static func tableSections(
        _ runs: [RunSummary], differing: [String], groups: (groups: [RunGroup], keys: [String])?, keys: CompareKeys,
        ranked: [(label: String, runs: [RunSummary])], shown: [(label: String, runs: [RunSummary])]
    ) -> TableSections {
        var out = TableSections()
        var marked = false
        let differingKeys = differing.map { SummaryKey($0, in: runs) }
        let runRows = runs.map { r -> [Cell] in
            var row: [Cell] = [.text(r.name), .int(r.id)]  // one allocation per row: 10,000 rows
            row.reserveCapacity(3 + differing.count + metricValues.count)
            for key in differingKeys { row.append(paramCell(r.param(key))) }
            row.append(.text(r.state))
            for m in metricValues { row.append(number(m.value(r, keys), m.style)) }
            return row
        }
        out.sections.append(
            .table(
                ReportTable(
                    title: "Runs", columns: ["run", "id"] + differing + ["state"] + metricColumns, rows: runRows)))
        if differing.isEmpty { out.sections.append(.note("all runs have the same parameters")) }

        if let (groups, groupKeys) = groups {
            let by = groupKeys.isEmpty ? "all runs in one group" : "grouped by " + groupKeys.joined(separator: ", ")
            var table = groupTable(
                groups, keys: groupKeys, title: "Groups: mean ± std over runs (\(by))", values: keys)
            marked = markMetricColumns(&table, first: groupKeys.count + 1) || marked
            out.sections.append(.table(table))
        }

        for prefix in MetricKey.familyPrefixes {
            for family in metricFamilies(runs, prefix: prefix) {
                var table = familyTable(family, runs: runs, groups: groups?.groups)
                marked = markFamily(&table, family.name) || marked
                out.sections.append(.table(table))
                // Loss against position: one curve per group, all of them.
                let series = family.name == MetricKey.lengenPosition ? ranked : shown
                if let chart = bucketChart(family, series) { out.bucketCharts.append(.chart(chart)) }
            }
        }
        if marked { out.sections.append(.note(markLegend)) }
        return out
    }

    /// The selected runs' summaries with their running time (`RunSummary.runningTime`): the
    /// reports' "wall" leaves out the time a run sat dead or queued between attempts.
    static func summariesWithWall(_ reader: RunReader, _ selection: RunSelection) throws -> [RunSummary] {
        let runs = try reader.summaries(selection)
        if runs.isEmpty { return runs }
        try reader.setRunningTimes(runs)
        return runs
    }

    /// Groups with their key values, run count and `metricColumns` as mean ± std.
    static func groupTable(_ groups: [RunGroup], keys: [String], title: String, values: CompareKeys) -> ReportTable {
        let rows = groups.map { g -> [Cell] in
            g.values.map(paramCell) + [.int(Int64(g.runs.count))]
                + metricValues.map { m in g.aggregate(m.style) { m.value($0, values) } }
        }
        return ReportTable(title: title, columns: keys + ["runs"] + metricColumns, rows: rows)
    }

    /// Marks the loss columns of a group table whose `metricColumns` start at column `first`.
    static func markMetricColumns(_ table: inout ReportTable, first: Int) -> Bool {
        var marked = false
        for (i, m) in metricValues.enumerated() {
            guard let higher = m.higher else { continue }
            marked = Statistics.markDifferences(&table.rows, column: first + i, higherIsBetter: higher) || marked
        }
        return marked
    }

    /// Marks every value column of a grouped family table: accuracies higher, losses lower is better.
    static func markFamily(_ table: inout ReportTable, _ family: String) -> Bool {
        guard table.columns.first == "group" else { return false }
        var marked = false
        for column in 1..<table.columns.count {
            marked =
                Statistics.markDifferences(&table.rows, column: column, higherIsBetter: family.contains("acc"))
                || marked
        }
        return marked
    }

    /// The charted metrics' curves of the shown runs or group means (`shown`: each series' label
    /// and its charted runs, 16 a group at most), each group's with its mean ± std band.
    static func lossCharts(
        _ reader: RunReader, _ query: CompareQuery, _ shown: [(label: String, runIds: [Int64])], grouped: Bool
    ) throws -> [ReportChart] {
        let histories = try reader.histories(runIds: shown.flatMap(\.runIds), keys: query.chartMetrics)
        return query.chartMetrics.compactMap { metric in
            let series = shown.compactMap { s -> ReportChart.Series? in
                let curves = s.runIds.compactMap { histories[$0]?[metric] }
                if curves.isEmpty { return nil }
                return ReportChart.Series(
                    name: s.label, points: Statistics.meanCurve(curves), band: Statistics.spreadBand(curves))
            }
            if series.isEmpty { return nil }
            let what = grouped ? "group means" : "runs"
            return ReportChart(
                title: "Loss curves: \(metric) (\(what))", metric: metric, series: series, logScale: query.logScale)
        }
    }

    /// A family's final values by position bucket, one series per shown run or group (the mean
    /// over its runs, with mean ± std as its band); nil when no shown series has a value.
    static func bucketChart(
        _ family: (name: String, columns: [(key: String, label: String)]),
        _ shown: [(label: String, runs: [RunSummary])]
    ) -> ReportChart? {
        let series = shown.compactMap { s -> ReportChart.Series? in
            var points: [HistoryPoint] = []
            var band: [ReportChart.Band] = []
            for (i, column) in family.columns.enumerated() {
                let key = SummaryKey(column.key, in: s.runs)
                guard let stat = Statistics.meanStd(s.runs.compactMap { $0.metric(key)?.last }) else {
                    continue
                }
                points.append(HistoryPoint(step: Int64(i), value: stat.mean))
                if let std = stat.std, std.isFinite {
                    band.append(.init(step: Int64(i), low: stat.mean - std, high: stat.mean + std))
                }
            }
            return points.isEmpty ? nil : ReportChart.Series(name: s.label, points: points, band: band)
        }
        if series.isEmpty { return nil }
        if family.name == MetricKey.lengenPosition {
            return ReportChart(
                title: "Loss against position (final; log-scale position: buckets [2^k, 2^(k+1)), band mean ± std)",
                metric: family.name, series: series, xLabels: family.columns.map(\.label),
                xTitle: "length factor and position (log scale)")
        }
        return ReportChart(
            title: "\(family.name) by position bucket (final)", metric: family.name, series: series,
            xLabels: family.columns.map(\.label), xTitle: "length factor and position bucket")
    }

    /// Chart candidates (a run, or a group's runs), best final val/loss (else train/loss) first.
    static func rankedSeries(
        runs: [RunSummary], groups: [RunGroup]?, keys: CompareKeys
    ) -> [(label: String, runs: [RunSummary])] {
        let candidates =
            groups.map { $0.map { (label: $0.label, runs: $0.runs) } } ?? runs.map { (label: $0.name, runs: [$0]) }
        func score(_ runs: [RunSummary]) -> Double {
            let values = runs.compactMap { $0.metric(keys.valLoss)?.last ?? $0.metric(keys.trainLoss)?.last }
            let m = Statistics.meanStd(values)?.mean ?? .infinity
            return m.isNaN ? .infinity : m
        }
        let scored = candidates.enumerated().map { (i: $0.offset, score: score($0.element.runs), c: $0.element) }
        return scored.sorted { $0.score != $1.score ? $0.score < $1.score : $0.i < $1.i }.map(\.c)
    }

    /// Metric families under a prefix: 'lengen/loss/4x/[2L,4L)' belongs to 'lengen/loss' with the
    /// column '4x [2L,4L)'. Columns are ordered by their numbers (factor, then bucket start).
    static func metricFamilies(_ runs: [RunSummary], prefix: String) -> [(
        name: String, columns: [(key: String, label: String)]
    )] {
        let head = prefix + "/"
        var families: [String: [(key: String, label: String)]] = [:]
        for key in Statistics.metricKeys(runs) where key.hasPrefix(head) {
            let parts = key.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            let name = parts.prefix(2).joined(separator: "/")
            let label = parts.count > 2 ? parts.dropFirst(2).joined(separator: " ") : parts.last!
            families[name, default: []].append((key, label))
        }
        return families.keys.sorted().map { name in
            (
                name,
                families[name]!.sorted { a, b in
                    let x = orderKey(a.label)
                    let y = orderKey(b.label)
                    return x != y ? x.lexicographicallyPrecedes(y) : a.label < b.label
                }
            )
        }
    }

    /// Numbers read from a column label: '4x [2L,4L)' gives [4, 2] ('L' alone counts as 1).
    static func orderKey(_ label: String) -> [Double] {
        label.split(separator: " ").map { part in
            var s = Substring(part)
            if s.hasPrefix("[") || s.hasPrefix("(") { s = s.dropFirst().prefix { $0 != "," } }
            let digits = s.prefix { $0.isNumber || $0 == "." }
            if let v = Double(digits) { return v }
            return s.hasPrefix("L") ? 1 : .infinity
        }
    }

    static func familyTable(
        _ family: (name: String, columns: [(key: String, label: String)]), runs: [RunSummary], groups: [RunGroup]?
    ) -> ReportTable {
        let style: NumberStyle = family.name.contains("acc") ? .fixed(3) : .fixed(4)
        let columns = family.columns.map(\.label)
        let keys = family.columns.map { SummaryKey($0.key, in: runs) }
        if let groups {
            let rows = groups.map { g in
                [Cell.text(g.label)] + keys.map { k in g.aggregate(style) { $0.metric(k)?.last } }
            }
            return ReportTable(title: "\(family.name) (final, mean ± std)", columns: ["group"] + columns, rows: rows)
        }
        let rows = runs.map { r in [Cell.text(r.name)] + keys.map { k in number(r.metric(k)?.last, style) } }
        return ReportTable(title: "\(family.name) (final)", columns: ["run"] + columns, rows: rows)
    }
}

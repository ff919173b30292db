// `tracker report RUN`: one run whole — the run row, lineage (corpus, tokenizer, shards, code
// version), resolved config, tags, metric summaries, checkpoints and other artifacts, the state
// history, and its loss curves.
import Basics
import Store

extension Reports {
    public static func run(
        _ reader: RunReader, _ ref: String, chartMetrics: [String] = [MetricKey.trainLoss, MetricKey.valLoss],
        logScale: Bool = false
    ) throws -> ReportDocument {
        let id = try reader.resolve(ref)
        guard let summary = try reader.summaries(RunSelection(runs: [String(id)])).first else {
            throw StoreError.runNotFound(ref)
        }
        let detail = try reader.detail(id)
        var sections: [ReportSection] = [
            overview(id: id, summary, detail), lineage(detail), config(summary, detail.run),
        ]
        if !summary.tags.isEmpty {
            sections.append(
                .table(
                    ReportTable(
                        title: "Tags", columns: ["key", "value"],
                        rows: summary.tags.keys.sorted().map { [.text($0), .text(summary.tags[$0]!)] })))
        }
        sections += [metrics(summary), artifacts(detail), stateHistory(detail)]
        let histories = try reader.histories(runIds: [id], keys: chartMetrics)[id] ?? [:]
        for metric in chartMetrics {
            guard let points = histories[metric], !points.isEmpty else { continue }
            sections.append(
                .chart(
                    ReportChart(
                        title: "Loss curve: \(metric)", metric: metric,
                        series: [.init(name: summary.name, points: points)], logScale: logScale)))
        }
        return ReportDocument(title: "tracker report: run \(summary.name) (id \(id))", sections: sections)
    }

    /// The run row: names, state, worker, times, exit; absent fields left out (but state and duration).
    static func overview(id: Int64, _ summary: RunSummary, _ detail: RunDetail) -> ReportSection {
        let row = detail.run
        var overview: [[Cell]] = [
            [.text("experiment"), text(detail.experiment)], [.text("name"), .text(summary.name)],
            [.text("id"), .int(id)],
            [.text("variant"), text(summary.variant)], [.text("state"), .text(summary.state)],
            [.text("origin"), .text(summary.origin)],
            [.text("attempts"), .int(row.attempts)], [.text("worker"), text(row.worker)],
            [.text("enqueued"), .text(row.enqueuedAt)],
            [.text("started"), text(row.startedAt)], [.text("finished"), text(row.finishedAt)],
            [.text("duration"), number(summary.duration, .duration)], [.text("exit code"), int(row.exitCode)],
            [.text("signal"), int(row.signal)], [.text("error"), text(row.error)],
        ]
        overview.removeAll { $0[1] == .missing && !["state", "duration"].contains($0[0].display) }
        return .table(ReportTable(title: "Run", columns: ["field", "value"], rows: overview))
    }

    /// Where the run comes from: code version, corpus, the recorded lineage and machine.
    static func lineage(_ detail: RunDetail) -> ReportSection {
        let row = detail.run
        var lineage: [[Cell]] = []
        if let code = row.codeVersion {
            let dirty = row.codeDirty == true ? " (uncommitted changes)" : ""
            lineage.append([.text("code version"), .text(code + dirty)])
        }
        if let name = detail.corpusName { lineage.append([.text("corpus"), .text(name)]) }
        if let fp = detail.corpusFingerprint { lineage.append([.text("corpus fingerprint"), .text(fp)]) }
        lineage += flatten(json: row.lineage).map { [.text($0.0), $0.1] }
        lineage += flatten(json: row.machine).map { [.text("machine." + $0.0), $0.1] }
        return .table(ReportTable(title: "Lineage", columns: ["field", "value"], rows: lineage))
    }

    /// The stored config, or the run's parameters when it has none.
    static func config(_ summary: RunSummary, _ row: RunRecord) -> ReportSection {
        let config = flatten(json: row.config)
        let configRows =
            config.isEmpty
            ? summary.params.keys.sorted().map { [.text($0), paramCell(summary.params[$0])] }
            : config.map { [.text($0.0), $0.1] }
        return .table(ReportTable(title: "Config", columns: ["key", "value"], rows: configRows))
    }

    static func metrics(_ summary: RunSummary) -> ReportSection {
        let metricRows = summary.metrics.keys.sorted().map { k -> [Cell] in
            let m = summary.metrics[k]!
            return [
                .text(k), .int(m.lastStep), .number(m.last, .shortest), number(m.min, .shortest),
                number(m.max, .shortest), .int(m.count),
            ]
        }
        return .table(
            ReportTable(
                title: "Metrics", columns: ["key", "last step", "last", "min", "max", "count"], rows: metricRows))
    }

    static func artifacts(_ detail: RunDetail) -> ReportSection {
        let artifactRows = detail.artifacts.map { a -> [Cell] in
            [.text(a.kind), int(a.step), .text(a.path), .text(Format.bytes(a.size)), .text(a.sha256)]
        }
        return .table(
            ReportTable(
                title: "Checkpoints and artifacts", columns: ["kind", "step", "path", "size", "sha256"],
                rows: artifactRows))
    }

    static func stateHistory(_ detail: RunDetail) -> ReportSection {
        let eventRows = detail.events.map { e -> [Cell] in
            [.text(e.time), text(e.fromState?.rawValue), .text(e.toState.rawValue), text(e.worker), text(e.detail)]
        }
        return .table(
            ReportTable(title: "State history", columns: ["time", "from", "to", "worker", "detail"], rows: eventRows))
    }

    /// Leaves of a JSON text as dotted keys with typed cells; nothing when it is absent or not JSON.
    static func flatten(json text: String?) -> [(String, Cell)] {
        guard let text, let value = try? ConfigValue(json: text) else { return [] }
        return value.leaves().map { ($0.key, $0.value.cell) }
    }
}

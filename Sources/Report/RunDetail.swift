// `tracker report RUN`: one run whole — the run row, lineage (corpus, tokenizer, shards, code
// version), resolved config, tags, metric summaries, checkpoints and other artifacts, the state
// history, and its loss curves.
import Basics
import GRDB

extension Reports {
    public static func run(
        _ reader: RunReader, _ ref: String, chartMetrics: [String] = [MetricKey.trainLoss, MetricKey.valLoss],
        logScale: Bool = false
    ) throws -> ReportDocument {
        let id = try reader.resolve(ref)
        guard let summary = try reader.summaries(RunSelection(runs: [String(id)])).first else {
            throw ReportError.runNotFound(ref)
        }
        var sections: [ReportSection] = []
        let detail = try reader.read { db -> (Row, [Row], [Row]) in
            let run = try Row.fetchOne(
                db,
                sql: """
                    SELECT r.*, e.name AS experimentName, c.name AS corpusName, c.fingerprint AS corpusFingerprint
                    FROM run r LEFT JOIN experiment e ON e.id = r.experimentId LEFT JOIN corpus c ON c.id = r.corpusId
                    WHERE r.id = ?
                    """, arguments: [id])!
            let artifacts = try Row.fetchAll(
                db, sql: "SELECT kind, step, path, size, sha256 FROM artifact WHERE runId = ? ORDER BY kind, step, id",
                arguments: [id])
            let events = try Row.fetchAll(
                db, sql: "SELECT time, fromState, toState, worker, detail FROM runEvent WHERE runId = ? ORDER BY id",
                arguments: [id])
            return (run, artifacts, events)
        }
        let (row, artifacts, events) = detail
        func field(_ name: String) -> Cell {
            let value: DatabaseValue = row[name]
            switch value.storage {
            case .null: return .missing
            case .int64(let v): return .int(v)
            case .double(let v): return .number(v, .shortest)
            case .string(let s): return .text(s)
            case .blob: return .text("(blob)")
            }
        }
        var overview: [[Cell]] = [
            [.text("experiment"), field("experimentName")], [.text("name"), .text(summary.name)],
            [.text("id"), .int(id)],
            [.text("variant"), text(summary.variant)], [.text("state"), .text(summary.state)],
            [.text("origin"), .text(summary.origin)],
            [.text("attempts"), field("attempts")], [.text("worker"), field("worker")],
            [.text("enqueued"), field("enqueuedAt")],
            [.text("started"), field("startedAt")], [.text("finished"), field("finishedAt")],
            [.text("duration"), number(summary.duration, .duration)], [.text("exit code"), field("exitCode")],
            [.text("signal"), field("signal")], [.text("error"), field("error")],
        ]
        overview.removeAll { $0[1] == .missing && !["state", "duration"].contains($0[0].display) }
        sections.append(.table(ReportTable(title: "Run", columns: ["field", "value"], rows: overview)))

        var lineage: [[Cell]] = []
        if let code = row["codeVersion"] as String? {
            let dirty = (row["codeDirty"] as Int64?) == 1 ? " (uncommitted changes)" : ""
            lineage.append([.text("code version"), .text(code + dirty)])
        }
        if let name = row["corpusName"] as String? { lineage.append([.text("corpus"), .text(name)]) }
        if let fp = row["corpusFingerprint"] as String? { lineage.append([.text("corpus fingerprint"), .text(fp)]) }
        lineage += flatten(json: row["lineage"]).map { [.text($0.0), $0.1] }
        lineage += flatten(json: row["machine"]).map { [.text("machine." + $0.0), $0.1] }
        sections.append(.table(ReportTable(title: "Lineage", columns: ["field", "value"], rows: lineage)))

        let config = flatten(json: row["config"])
        let configRows =
            config.isEmpty
            ? summary.params.keys.sorted().map { [.text($0), paramCell(summary.params[$0])] }
            : config.map { [.text($0.0), $0.1] }
        sections.append(.table(ReportTable(title: "Config", columns: ["key", "value"], rows: configRows)))
        if !summary.tags.isEmpty {
            sections.append(
                .table(
                    ReportTable(
                        title: "Tags", columns: ["key", "value"],
                        rows: summary.tags.keys.sorted().map { [.text($0), .text(summary.tags[$0]!)] })))
        }
        let metricRows = summary.metrics.keys.sorted().map { k -> [Cell] in
            let m = summary.metrics[k]!
            return [
                .text(k), .int(m.lastStep), .number(m.last, .shortest), number(m.min, .shortest),
                number(m.max, .shortest), .int(m.count),
            ]
        }
        sections.append(
            .table(
                ReportTable(
                    title: "Metrics", columns: ["key", "last step", "last", "min", "max", "count"], rows: metricRows)))
        let artifactRows = artifacts.map { a -> [Cell] in
            [
                .text(a["kind"]), (a["step"] as Int64?).map(Cell.int) ?? .missing, .text(a["path"]),
                .text(Format.bytes(a["size"])), .text(a["sha256"]),
            ]
        }
        sections.append(
            .table(
                ReportTable(
                    title: "Checkpoints and artifacts", columns: ["kind", "step", "path", "size", "sha256"],
                    rows: artifactRows)))
        let eventRows = events.map { e -> [Cell] in
            [.text(e["time"]), text(e["fromState"]), .text(e["toState"]), text(e["worker"]), text(e["detail"])]
        }
        sections.append(
            .table(
                ReportTable(
                    title: "State history", columns: ["time", "from", "to", "worker", "detail"], rows: eventRows)))

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

    /// Leaves of a JSON text as dotted keys with typed cells; nothing when it is absent or not JSON.
    static func flatten(json text: String?) -> [(String, Cell)] {
        guard let text, let value = try? ConfigValue(json: text) else { return [] }
        return value.leaves().map { ($0.key, $0.value.cell) }
    }
}

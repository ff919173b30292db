// `tracker export RUN`: a run's data for other tools. Three files per run, named after it:
//   NAME.metrics.csv  run,key,step,value — every logged point, NaN/inf spelled 'nan', 'inf', '-inf'
//   NAME.config.json  the run row's facts, its resolved config, typed params and tags
//   NAME.jsonl        the same run in `tracker import`'s line format, so export -> import round-trips,
//                     with its experiment, state, attempts and checkpoint records: how a run
//                     moves between a SQLite and a PostgreSQL store (export --home, import --store)
import Basics
import Foundation
import Store

/// What one export wrote.
public struct ExportedRun: Sendable, Equatable {
    public var id: Int64
    public var run: String
    public var files: [String]
    public var points: Int
}

public enum Exporter {
    /// Writes the three files for each run into `directory` (created if needed).
    public static func export(_ reader: RunReader, runs refs: [String], to directory: String) throws -> [ExportedRun] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ReportError.cannotWrite(path: directory, reason: error.localizedDescription)
        }
        var out: [ExportedRun] = []
        var stems: Set<String> = []
        for ref in refs {
            let id = try reader.resolve(ref)
            if out.contains(where: { $0.id == id }) { continue }  // named twice: written once
            guard let run = try reader.summaries(RunSelection(runs: [String(id)])).first else {
                throw StoreError.runNotFound(ref)
            }
            let detail = try reader.detail(id)
            let config = detail.run.config
            let points = try reader.histories(runIds: [id], keys: run.metrics.keys.sorted())[id] ?? [:]
            let base = directory + "/" + fileStem(run.name, id: run.id, taken: &stems)
            let files = [base + ".metrics.csv", base + ".config.json", base + ".jsonl"]
            try write(metricsCSV(run, points), to: files[0])
            try write(configJSON(run, config: config), to: files[1])
            try write(importLines(run, points, detail: detail), to: files[2])
            out.append(
                ExportedRun(id: id, run: run.name, files: files, points: points.values.reduce(0) { $0 + $1.count }))
        }
        return out
    }

    static func metricsCSV(_ run: RunSummary, _ points: [String: [HistoryPoint]]) -> String {
        var out = "run,key,step,value\n"
        let name = TextRenderer.csvField(run.name)
        for key in points.keys.sorted() {
            let k = TextRenderer.csvField(key)
            for p in points[key]! { out += "\(name),\(k),\(p.step),\(formatShortest(p.value))\n" }
        }
        return out
    }

    static func configJSON(_ run: RunSummary, config: String?) -> String {
        let resolved = config.flatMap { try? ConfigValue(json: $0) }.map(JSON.init) ?? .null
        return JSON.object([
            ("run", .string(run.name)), ("id", .integer(run.id)),
            ("experiment", run.experiment.map(JSON.string) ?? .null),
            ("state", .string(run.state)), ("origin", .string(run.origin)), ("config", resolved),
            ("params", params(run.params)),
            ("tags", .object(run.tags.keys.sorted().map { ($0, .string(run.tags[$0]!)) })),
        ]).render() + "\n"
    }

    static func importLines(_ run: RunSummary, _ points: [String: [HistoryPoint]], detail: RunDetail? = nil) -> String {
        var fields: [(String, JSON)] = [("run", .string(run.name))]
        if let experiment = run.experiment { fields.append(("experiment", .string(experiment))) }
        fields += [
            ("params", params(run.params)),
            ("tags", .object(run.tags.keys.sorted().map { ($0, .string(run.tags[$0]!)) })),
        ]
        if let detail, detail.run.state.isTerminal || detail.run.state == .crashed {
            fields.append(("state", .string(detail.run.state.rawValue)))
            fields.append(("attempts", .integer(Int64(detail.run.attempts))))
        }
        let checkpoints = (detail?.artifacts ?? []).filter { $0.kind == "checkpoint" && $0.step != nil }
        if !checkpoints.isEmpty {
            fields.append(
                (
                    "checkpoints",
                    .array(
                        checkpoints.map {
                            JSON.object([
                                ("step", .integer(Int64($0.step!))), ("path", .string($0.path)),
                                ("size", .integer(Int64($0.size))), ("sha256", .string($0.sha256)),
                            ])
                        })
                ))
        }
        var lines = [JSON.object(fields).compact()]
        var bySteps: [Int64: [(String, Double)]] = [:]
        for (key, series) in points { for p in series { bySteps[p.step, default: []].append((key, p.value)) } }
        for step in bySteps.keys.sorted() {
            let metrics = bySteps[step]!.sorted { $0.0 < $1.0 }.map { ($0.0, JSON.number(orString: $0.1)) }
            lines.append(
                JSON.object([
                    ("run", .string(run.name)), ("step", .integer(step)), ("metrics", .object(metrics)),
                ]).compact())
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func params(_ p: [String: ParamValue]) -> JSON {
        .object(
            p.keys.sorted().map { key in
                switch p[key]! {
                case .int(let v): return (key, .integer(Int64(v)))
                case .real(let v): return (key, .number(orString: v))
                case .bool(let v): return (key, .bool(v))
                case .text(let v): return (key, .string(v))
                }
            })
    }

    /// A run name as a file name: path separators and other awkward characters become '_'.
    static func fileName(_ name: String) -> String {
        let s = String(name.map { $0.isLetter || $0.isNumber || "-_.=+".contains($0) ? $0 : "_" })
        return s.isEmpty || s.hasPrefix(".") ? "run" + s : s
    }

    /// The longest stem, in UTF-8 bytes: with ".metrics.csv" it stays under the usual 255-byte
    /// limit of a file name.
    static let maxStemBytes = 200

    /// The files' stem for run `id`: its `fileName`, cut to `maxStemBytes`, and with "-ID" added
    /// when it was cut or another run of this export already has it ("a/b" and "a_b" both
    /// became "a_b", and the second run's files replaced the first's).
    static func fileStem(_ name: String, id: Int64, taken: inout Set<String>) -> String {
        var stem = fileName(name)
        let suffix = "-\(id)"
        if stem.utf8.count > maxStemBytes {
            while stem.utf8.count > maxStemBytes - suffix.utf8.count { stem.removeLast() }
            stem += suffix
        }
        while taken.contains(stem) { stem += suffix }
        taken.insert(stem)
        return stem
    }

    static func write(_ text: String, to path: String) throws {
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw ReportError.cannotWrite(path: path, reason: error.localizedDescription)
        }
    }
}

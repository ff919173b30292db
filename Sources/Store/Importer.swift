// `tracker import FILE.jsonl`: records runs trained elsewhere (a PyTorch baseline, say) so they
// sit in the same tables as local runs. Each line is one JSON object:
//   {"run": "name", "params": {...}, "tags": {...}, "experiment": "optional"}   declares a run
//   {"run": "name", "step": N, "metrics": {"train/loss": 2.3, "val/loss": "nan"}, "time": optional}
// Nested params are flattened to dotted keys; metric values are numbers or "nan"/"inf"/"-inf".
// A run line may also carry what `tracker export` writes to move a run between stores (SQLite
// and PostgreSQL, either way): "state" (a finished state), "attempts", and "checkpoints"
// ([{"step", "path", "size", "sha256"}], recorded once each however often the file is imported).
// The whole file is checked before anything is written (an error names its line), then written
// in one transaction through the Store's run creation and batched metric write path. A run is
// identified by name among imported runs, so importing the same file again updates that run and
// replaces its steps instead of duplicating it.
import Basics
import Foundation

/// What an import did.
public struct ImportSummary: Sendable, Equatable {
    public var created: [String]
    public var updated: [String]
    public var points: Int

    public init(created: [String], updated: [String], points: Int) {
        self.created = created
        self.updated = updated
        self.points = points
    }
}

public enum Importer {
    struct PlannedRun {
        var name: String
        var experiment: String?
        var params: [String: ParamValue] = [:]
        var paramsJSON: [(String, JSON)] = []
        var tags: [String: String] = [:]
        var points: [(step: Int64, key: String, value: Double, time: Double?)] = []
        var state: RunState?
        var attempts: Int64?
        var checkpoints: [ArtifactRecord] = []
    }

    /// Imports the JSON lines in `text`; `file` names the source in error messages.
    public static func importLines(
        _ text: String, file: String, into db: TrackerDB, now: Double = Date().timeIntervalSince1970
    ) throws -> ImportSummary {
        let runs = try plan(text, file: file)
        do {
            return try db.write { db in try write(runs, now: now, db) }
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError.sqlite("\(error)")
        }
    }

    public static func importFile(_ path: String, into db: TrackerDB) throws -> ImportSummary {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw StoreError.cannotRead(path: path, reason: "it is a folder; name the .jsonl files in it")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw StoreError.cannotRead(path: path, reason: error.localizedDescription)
        }
        return try importLines(try utf8Text(data, file: path), file: path, into: db)
    }

    /// The file's text, or an error naming the first line that is not valid UTF-8.
    static func utf8Text(_ data: Data, file: String) throws -> String {
        if let text = String(data: data, encoding: .utf8) { return text }
        var line = 1
        var bytes = data.makeIterator()
        var decoder = UTF8()
        while case .scalarValue(let scalar) = decoder.decode(&bytes) {
            if scalar == "\n" { line += 1 }
        }
        throw StoreError.badImportLine(
            file: file, line: line, message: "not valid UTF-8; convert the file to UTF-8 (e.g. with iconv)")
    }

    /// The file's lines: split at LF, a CRLF counting as one line end (Swift reads "\r\n" as one
    /// Character, so splitting at "\n" alone left files written on Windows as one line).
    static func lines(_ text: String) -> [Substring] {
        text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
    }

    static func plan(_ text: String, file: String) throws -> [PlannedRun] {
        var runs: [PlannedRun] = []
        var index: [String: Int] = [:]
        for (n, raw) in lines(text).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            func fail(_ message: String) -> StoreError { .badImportLine(file: file, line: n + 1, message: message) }
            guard let value = try? ConfigValue(json: line) else { throw fail("not valid JSON") }
            guard case .table(let o) = value else { throw fail("expected a JSON object") }
            guard case .string(let name)? = o["run"], !name.isEmpty else {
                throw fail("missing \"run\": the run's name as a string")
            }
            let unknown = Set(o.keys).subtracting([
                "run", "params", "tags", "experiment", "step", "metrics", "time", "state", "attempts", "checkpoints",
            ])
            if let key = unknown.sorted().first { throw fail("unknown field \"\(key)\"") }
            if index[name] == nil {
                index[name] = runs.count
                runs.append(PlannedRun(name: name))
            }
            let i = index[name]!
            if o["step"] != nil || o["metrics"] != nil {
                try addMetrics(o, to: &runs[i], fail: fail)
            } else {
                try addRunFields(o, to: &runs[i], fail: fail)
            }
        }
        return runs
    }

    /// A metrics line: `step`, `metrics` (numbers, or "nan", "inf", "-inf") and an optional `time`.
    private static func addMetrics(
        _ o: [String: ConfigValue], to run: inout PlannedRun, fail: (String) -> StoreError
    ) throws {
        if o["params"] != nil || o["tags"] != nil || o["state"] != nil || o["attempts"] != nil
            || o["checkpoints"] != nil
        {
            throw fail("put params, tags, state, attempts and checkpoints on the run's own line, not with metrics")
        }
        guard case .int(let intStep)? = o["step"], intStep >= 0 else {
            throw fail("\"step\" must be a non-negative integer")
        }
        let step = Int64(intStep)
        guard case .table(let metrics)? = o["metrics"], !metrics.isEmpty else {
            throw fail("\"metrics\" must be a non-empty object of numbers")
        }
        var time: Double?
        switch o["time"] {
        case nil: break
        case .int(let t)?: time = Double(t)
        case .double(let t)?: time = t
        default: throw fail("\"time\" must be unix seconds")
        }
        for key in metrics.keys.sorted() {
            guard let v = number(metrics[key]!) else {
                throw fail("metric \"\(key)\" must be a number or \"nan\", \"inf\", \"-inf\"")
            }
            if !key.contains("/") {
                throw fail("metric key \"\(key)\" must look like 'split/name', e.g. 'train/loss'")
            }
            run.points.append((step, key, v, time))
        }
    }

    /// A run line: the run's `experiment`, `params` (scalar leaves, and the object as JSON) and `tags`.
    private static func addRunFields(
        _ o: [String: ConfigValue], to run: inout PlannedRun, fail: (String) -> StoreError
    ) throws {
        if o["time"] != nil { throw fail("\"time\" belongs on a metrics line") }
        if let e = o["experiment"] {
            guard case .string(let name) = e, !name.isEmpty else { throw fail("\"experiment\" must be a name") }
            run.experiment = name
        }
        if let p = o["params"] {
            guard case .table = p else { throw fail("\"params\" must be an object") }
            for (key, leaf) in p.leaves() {
                switch leaf {
                case .bool(let b): run.params[key] = .bool(b)
                case .int(let v): run.params[key] = .int(Int64(v))
                case .double(let v): run.params[key] = .real(v)
                case .string(let s): run.params[key] = .text(s)
                case .null: continue
                case .array, .table: continue
                }
            }
            run.paramsJSON = JSON(p).objectFields
        }
        try addProvenance(o, to: &run, fail: fail)
        if let t = o["tags"] {
            guard case .table(let tags) = t else { throw fail("\"tags\" must be an object of strings") }
            for (key, v) in tags {
                switch v {
                case .string(let s): run.tags[key] = s
                case .int(let n): run.tags[key] = String(n)
                case .double(let d): run.tags[key] = formatShortest(d)
                case .bool(let b): run.tags[key] = b ? "true" : "false"
                default: throw fail("tag \"\(key)\" must be a string")
                }
            }
        }
    }

    /// A moved run's state, attempts and checkpoint records.
    private static func addProvenance(
        _ o: [String: ConfigValue], to run: inout PlannedRun, fail: (String) -> StoreError
    ) throws {
        if let v = o["state"] {
            guard case .string(let text) = v, let state = RunState(rawValue: text),
                state.isTerminal || state == .crashed
            else {
                throw fail("\"state\" must be a finished state: succeeded, failed, cancelled, crashed or pruned")
            }
            run.state = state
        }
        if let v = o["attempts"] {
            guard case .int(let n) = v, n >= 0 else { throw fail("\"attempts\" must be a non-negative integer") }
            run.attempts = Int64(n)
        }
        guard let v = o["checkpoints"] else { return }
        guard case .array(let list) = v else { throw fail("\"checkpoints\" must be a list of objects") }
        for item in list {
            guard case .table(let c) = item, case .int(let step)? = c["step"], case .string(let path)? = c["path"],
                case .int(let size)? = c["size"], case .string(let sha)? = c["sha256"], !path.isEmpty, size >= 0
            else {
                throw fail("each checkpoint must be {\"step\": N, \"path\": TEXT, \"size\": BYTES, \"sha256\": TEXT}")
            }
            run.checkpoints.append(
                ArtifactRecord(
                    runId: nil, kind: "checkpoint", step: Int64(step), path: path, size: Int64(size), sha256: sha))
        }
    }

    static func number(_ v: ConfigValue) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .string(let s):
            switch s.lowercased() {
            case "nan": return .nan
            case "inf", "+inf", "infinity": return .infinity
            case "-inf", "-infinity": return -.infinity
            default: return nil
            }
        default: return nil
        }
    }

    static func write(_ runs: [PlannedRun], now: Double, _ db: any StoreConnection) throws -> ImportSummary {
        var summary = ImportSummary(created: [], updated: [], points: 0)
        var points: [MetricPoint] = []
        for r in runs {
            let config = JSON.object(r.paramsJSON).compact()
            var experimentId: Int64?
            if let name = r.experiment {
                experimentId = try db.scalar(
                    Int64.self, sql: "SELECT id FROM experiment WHERE name = ?", arguments: [name])
                if experimentId == nil {
                    experimentId = try db.scalar(
                        Int64.self,
                        sql: "INSERT INTO experiment (name, spec) VALUES (?, '{\"imported\":true}') RETURNING id",
                        arguments: [name])
                }
            }
            let id: Int64
            if let existing = try db.scalar(
                Int64.self, sql: "SELECT id FROM run WHERE name = ? AND origin = 'import' ORDER BY id LIMIT 1",
                arguments: [r.name])
            {
                id = existing
                if !r.paramsJSON.isEmpty {
                    try db.execute(
                        sql:
                            "UPDATE run SET config = ?, configHash = ?, experimentId = coalesce(?, experimentId) WHERE id = ?",
                        arguments: [config, SHA256.hex(Array(config.utf8)), experimentId, id])
                }
                try TrackerDB.setParams(runId: id, r.params, in: db)
                try TrackerDB.setTags(runId: id, r.tags, in: db)
                try db.execute(
                    sql: "UPDATE run SET state = coalesce(?, state), attempts = coalesce(?, attempts) WHERE id = ?",
                    arguments: [r.state, r.attempts, id])
                summary.updated.append(r.name)
            } else {
                let record = RunRecord(
                    experimentId: experimentId, name: r.name, config: config,
                    configHash: SHA256.hex(Array(config.utf8)),
                    state: r.state ?? .succeeded, attempts: r.attempts ?? 0, origin: "import")
                id = try TrackerDB.createRun(record, params: r.params, tags: r.tags, in: db).id!
                summary.created.append(r.name)
            }
            for var c in r.checkpoints {
                let known = try db.scalar(
                    Int64.self,
                    sql: "SELECT id FROM artifact WHERE runId = ? AND kind = 'checkpoint' AND step = ? AND sha256 = ?",
                    arguments: [id, c.step, c.sha256])
                if known == nil {
                    c.runId = id
                    _ = try db.insert(c)
                }
            }
            points += r.points.map {
                MetricPoint(runId: id, key: $0.key, step: $0.step, value: $0.value, time: $0.time ?? now)
            }
        }
        try TrackerDB.logMetrics(points, in: db)
        summary.points = points.count
        return summary
    }
}

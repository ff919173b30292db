// A `tracker train --config` run's folder (<home>/runs/<name>-<timestamp>/): every run gets a
// folder of its own, even when several start in the same second, and a resumed run continues in
// its folder: the same config.json (changed only in evaluation keys, each change recorded in
// config-changes.jsonl), one metrics.jsonl without the steps the crash made it repeat.
import Basics
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

enum RunFolder {
    /// Keys a resumed run may change: they decide what is measured, not what is trained.
    static let evaluationKeys = ["eval.", "train.eval_every", "train.eval_batches", "data.eval_"]

    /// Creates `<parent>/<name>-<timestamp>`, or with -2, -3, ... when that exists: mkdir fails on
    /// an existing folder, so runs started at once by any number of processes never share one.
    static func create(in parent: String, name: String, timestamp: String) throws -> String {
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw SessionError.unreadable(
                path: parent, what: "runs folder", reason: error.localizedDescription,
                hint: "check --home and free disk space")
        }
        for k in 1...10_000 {
            let dir = parent + "/" + name + "-" + timestamp + (k == 1 ? "" : "-\(k)")
            if mkdir(dir, 0o755) == 0 { return dir }
            let code = errno
            if code != EEXIST {
                throw SessionError.unreadable(
                    path: dir, what: "run folder", reason: String(cString: strerror(code)),
                    hint: "check --home and free disk space")
            }
        }
        throw SessionError.badFile(path: parent, message: "10,000 runs named '\(name)' started in one second")
    }

    /// The run folder a checkpoint was written in (<dir>/checkpoints/step-N.safetensors), or nil
    /// for a checkpoint file kept elsewhere.
    static func owner(ofCheckpoint path: String) -> String? {
        let checkpoints = (path as NSString).deletingLastPathComponent
        guard (checkpoints as NSString).lastPathComponent == "checkpoints" else { return nil }
        let dir = (checkpoints as NSString).deletingLastPathComponent
        return FileManager.default.fileExists(atPath: dir + "/config.json") ? dir : nil
    }

    /// Refuses to resume `dir` with a config that differs from its config.json in anything but
    /// evaluation keys, naming the keys that differ. `train.steps` may change too (a run trained
    /// further, or stopped sooner) when `train.decay_steps` is set: then the learning-rate schedule
    /// does not depend on it, and the longer run is the one a config with those steps would have
    /// trained from the start (the same schedule, batches and evaluations).
    static func checkResume(_ dir: String, config: TrainRunConfig) throws {
        let stored = try TrainConfigFile.resolvedTree(TrainConfigFile.load(path: dir + "/config.json"))
        let changed = differences(stored, try TrainConfigFile.resolvedTree(config)).map(\.key)
        let training = changed.filter { key in
            !evaluationKeys.contains { key.hasPrefix($0) } && !(key == "train.steps" && config.train.decaySteps > 0)
        }
        if !training.isEmpty {
            throw SessionError.resumeChangesConfig(dir: dir, keys: training)
        }
    }

    /// The leaves that differ between two configs, with both values (nil where absent).
    static func differences(_ a: ConfigValue, _ b: ConfigValue) -> [(key: String, old: ConfigValue?, new: ConfigValue?)]
    {
        let old = Dictionary(a.leaves().map { ($0.key, $0.value) }, uniquingKeysWith: { x, _ in x })
        let new = Dictionary(b.leaves().map { ($0.key, $0.value) }, uniquingKeysWith: { x, _ in x })
        return Set(old.keys).union(new.keys).sorted().compactMap { key in
            old[key] == new[key] ? nil : (key, old[key], new[key])
        }
    }

    /// Before config.json is (re)written with `json`: when it already holds another config (a
    /// resume that changed evaluation keys), appends the change to config-changes.jsonl.
    static func recordConfigChange(in dir: String, to json: String) throws {
        let path = dir + "/config.json"
        guard let old = try? String(contentsOfFile: path, encoding: .utf8),
            let before = try? ConfigValue(json: old), let after = try? ConfigValue(json: json)
        else { return }
        let changes = differences(before, after)
        if changes.isEmpty { return }
        var fields: [String] = []
        for change in changes {
            let values = try [change.old, change.new].map { try $0?.canonicalJSON() ?? "null" }
            fields.append(
                try ConfigValue.string(change.key).canonicalJSON() + ":[" + values.joined(separator: ",") + "]")
        }
        let at = try ConfigValue.string(isoTimestamp()).canonicalJSON()
        let line = "{\"at\":\(at),\"changed\":{\(fields.joined(separator: ","))}}\n"
        try append(line, to: dir + "/config-changes.jsonl")
    }

    /// Removes the metrics.jsonl lines of steps after `step` (logged after the checkpoint the
    /// run resumes from, and about to be logged again), so the history holds each step once.
    static func dropMetrics(in dir: String, after step: Int) throws {
        let path = dir + "/metrics.jsonl"
        guard let data = FileManager.default.contents(atPath: path) else { return }
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        let kept = lines.filter { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                let s = object["step"] as? Int
            else { return false }  // a torn last line
            return s <= step
        }
        if kept.count == lines.count { return }
        var out = Data()
        for line in kept {
            out.append(contentsOf: line)
            out.append(UInt8(ascii: "\n"))
        }
        try out.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    private static func append(_ line: String, to path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)  // a failure: the open below says so
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw SessionError.unreadable(path: path, what: "file", reason: "cannot open for writing", hint: "")
        }
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        handle.write(Data(line.utf8))
    }

    private static func isoTimestamp() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date())
    }
}

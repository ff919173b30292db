// The pieces of `tracker nightly` that do not need the CLI: its config (experiments/nightly.toml),
// the exclusive lock that makes a second copy exit at once, a log that goes to a file and
// stderr, and checkpoint retention (keep the last K checkpoints of each run plus its best one).
import Basics
import Foundation
import Store

#if canImport(Glibc)
    import Glibc
#endif

public struct NightlyConfig: Sendable, Equatable {
    /// Experiment files to enqueue each night (paths, or names under experiments/).
    public var experiments: [String] = []
    public var timeBudgetMinutes: Double = 60
    public var workers = 1
    /// Folder whose archives are ingested before the runs (already ingested ones are unchanged).
    public var corporaDir = "corpora"
    public var vocabSize = 1024
    /// Report folder, relative to the workspace unless absolute.
    public var reportDir = "reports/nightly"
    /// Enqueue every run again even when an identical config already ran.
    public var force = false
    public var retention = Retention()

    public struct Retention: Sendable, Equatable {
        public var keepLast = 2
        public var keepBest = true
        public var bestMetric = MetricKey.valLoss
        public init() {}
    }

    public init() {}

    /// Reads the nightly config's top-level table; unknown keys are refused.
    public init(tree: ConfigValue) throws {
        guard let t = tree.table else { throw SchedulerError.badNightly(key: "(file)", reason: "expected a table") }
        for (key, value) in t.sorted(by: { $0.key < $1.key }) {
            switch (key, value) {
            case ("experiments", .array(let a)):
                experiments = try a.map {
                    guard case .string(let s) = $0 else {
                        throw SchedulerError.badNightly(key: key, reason: "list experiment files as strings")
                    }
                    return s
                }
            case ("time_budget_minutes", let v) where (v.number ?? 0) > 0: timeBudgetMinutes = v.number!
            case ("workers", .int(let n)) where n >= 1: workers = Int(n)
            case ("corpora_dir", .string(let s)): corporaDir = s
            case ("vocab_size", .int(let n)) where n >= 257: vocabSize = Int(n)
            case ("report_dir", .string(let s)): reportDir = s
            case ("force", .bool(let b)): force = b
            case ("retention", .table(let r)): try readRetention(r)
            default:
                throw SchedulerError.badNightly(
                    key: key,
                    reason:
                        "unknown key or bad value (keys: experiments, time_budget_minutes > 0, workers >= 1, corpora_dir, vocab_size >= 257, report_dir, force, [retention])"
                )
            }
        }
        if experiments.isEmpty {
            throw SchedulerError.badNightly(key: "experiments", reason: "name at least one experiment file")
        }
    }

    private mutating func readRetention(_ r: [String: ConfigValue]) throws {
        for (key, value) in r.sorted(by: { $0.key < $1.key }) {
            switch (key, value) {
            case ("keep_last", .int(let n)) where n >= 1: retention.keepLast = Int(n)
            case ("keep_best", .bool(let b)): retention.keepBest = b
            case ("best_metric", .string(let s)): retention.bestMetric = s
            default:
                throw SchedulerError.badNightly(
                    key: "retention.\(key)",
                    reason:
                        "use keep_last (integer >= 1: a released run resumes from its last checkpoint), keep_best (bool), best_metric (metric key)"
                )
            }
        }
    }
}

/// The nightly's exclusive lock on `path`, taken without waiting (a stale file from a killed
/// night is locked again); throws `SchedulerError.lockHeld` naming the holder's pid.
public func takeNightlyLock(path: String) throws -> FileLock {
    do {
        return try FileLock(path: path)
    } catch FileLockError.held(let path, let holder) {
        throw SchedulerError.lockHeld(path: path, holder: holder.map { "pid \($0)" } ?? "another process")
    } catch FileLockError.failed(let path, let reason) {
        throw SchedulerError.io(path: path, reason: "cannot open the lock file: \(reason)")
    }
}

/// Timestamped lines to a log file and to stderr.
public final class NightlyLog: @unchecked Sendable {
    public let path: String
    private let handle: FileHandle?
    private let lock = NSLock()

    public init(path: String) {
        self.path = path
        try? FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        handle = FileHandle(forWritingAtPath: path)
        handle?.seekToEndOfFile()
    }

    public func line(_ text: String) {
        let stamped = "\(isoNow()) \(text)\n"
        lock.lock()
        handle?.write(Data(stamped.utf8))
        lock.unlock()
        FileHandle.standardError.write(Data(stamped.utf8))
    }
}

public enum CheckpointRetention {
    /// Deletes the checkpoints (files, their companions, and artifact rows) of finished or queued runs that the rule
    /// does not keep: the `keepLast` highest steps, plus the one whose step has the best (lowest)
    /// `bestMetric` value at or before it. Running runs are left alone. Returns the paths deleted.
    public static func prune(db: TrackerDB, home: String, rule: NightlyConfig.Retention) throws -> [String] {
        var deleted: [String] = []
        for run in try db.runs() where run.state != .running {
            let checkpoints = try db.artifacts(runId: run.id!, kind: "checkpoint")
            if checkpoints.count <= rule.keepLast { continue }
            let ordered = checkpoints.sorted { ($0.step ?? -1, $0.id!) < ($1.step ?? -1, $1.id!) }
            var keep = Set(ordered.suffix(rule.keepLast).map { $0.id! })
            if rule.keepBest, let best = try best(ordered, runId: run.id!, metric: rule.bestMetric, db: db) {
                keep.insert(best)
            }
            let drop = ordered.filter { !keep.contains($0.id!) }
            for a in drop {
                let path = a.path.hasPrefix("/") ? a.path : home + "/" + a.path
                for file in [path] + companions(of: path) where FileManager.default.fileExists(atPath: file) {
                    do {
                        try FileManager.default.removeItem(atPath: file)
                    } catch {
                        throw SchedulerError.io(
                            path: file, reason: "cannot delete an old checkpoint: \(error.localizedDescription)")
                    }
                }
                deleted.append(a.path)
            }
            try db.deleteArtifacts(ids: drop.map { $0.id! })
        }
        return deleted
    }

    /// Files written with a checkpoint that share its stem (step-000050.state.safetensors, the
    /// optimizer state beside step-000050.safetensors).
    static func companions(of path: String) -> [String] {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let prefix = url.deletingPathExtension().lastPathComponent + "."
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasPrefix(prefix) && $0 != url.lastPathComponent }.sorted().map { dir + "/" + $0 }
    }

    /// The checkpoint whose step has the lowest metric value logged at or before it.
    static func best(_ checkpoints: [ArtifactRecord], runId: Int64, metric: String, db: TrackerDB) throws -> Int64? {
        let series = try db.metrics(runId: runId, key: metric).filter { !$0.value.isNaN }
        var bestId: Int64?
        var bestValue = Double.infinity
        for c in checkpoints {
            guard let step = c.step, let v = series.last(where: { $0.step <= step })?.value else { continue }
            if v < bestValue {
                bestValue = v
                bestId = c.id
            }
        }
        return bestId
    }
}

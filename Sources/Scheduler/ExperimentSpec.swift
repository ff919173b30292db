// An experiment: experiments/NAME.toml read into a value tree, split into the base run config
// (the `tracker train --config` sections) and the sections that are not part of a run:
// [sweep] (see Sweep.swift), [experiment] (description, priority, max_attempts) and [executor]
// (local or Slurm, read by the executor). `plans()`
// turns it into the runs to enqueue: each with a readable name, its resolved config as
// canonical JSON + sha256, and every leaf typed for runParam.
import Basics
import Foundation
import Store

public struct ExperimentSpec: Sendable {
    public var name: String
    public var base: ConfigValue
    public var sweep: Sweep
    public var description: String?
    public var priority: Int64 = 0
    public var maxAttempts: Int64 = 3
    /// The [executor] table as written (how the runs execute: `kind = "local"` or `"slurm"` and
    /// the Slurm keys); not part of any run's config. Read by the executor that uses it.
    public var executor: [String: ConfigValue]?
    /// The whole file as read, canonical JSON (stored as experiment.spec).
    public var specJSON: String

    /// Splits `tree` (the experiment file's top-level table).
    public init(name: String, tree: ConfigValue) throws {
        guard var top = tree.table else {
            throw SchedulerError.badConfig(key: name, reason: "an experiment file is a table")
        }
        self.name = name
        specJSON = try tree.canonicalJSON()
        if let s = top.removeValue(forKey: "sweep") {
            guard let t = s.table else { throw SchedulerError.badSweep(key: "sweep", reason: "use a [sweep] table") }
            sweep = try Sweep(table: t)
        } else {
            sweep = Sweep()
        }
        if let x = top.removeValue(forKey: "executor") {
            guard let t = x.table else {
                throw SchedulerError.badConfig(
                    key: "executor", reason: "use an [executor] table, e.g. kind = \"slurm\"")
            }
            executor = t
        }
        if let e = top.removeValue(forKey: "experiment") {
            guard let t = e.table else {
                throw SchedulerError.badConfig(key: "experiment", reason: "use an [experiment] table")
            }
            for (key, value) in t.sorted(by: { $0.key < $1.key }) {
                switch (key, value) {
                case ("description", .string(let d)): description = d
                case ("priority", .int(let p)): priority = Int64(p)
                case ("max_attempts", .int(let m)) where m >= 1: maxAttempts = Int64(m)
                default:
                    throw SchedulerError.badConfig(
                        key: "experiment.\(key)",
                        reason:
                            "[experiment] accepts description (text), priority (integer) and max_attempts (integer >= 1)"
                    )
                }
            }
        }
        base = .table(top)
    }

    /// One run to enqueue.
    public struct Plan: Sendable {
        public var name: String
        public var config: ConfigValue
        public var json: String
        public var sha256: String
        public var params: [String: ParamValue]
        /// Hashes of configs that mean the same run (the config as written, which runs enqueued
        /// before configs were resolved carry as their hash).
        public var equivalentHashes: [String] = []

        init(name: String, config: ConfigValue) throws {
            self.name = name
            self.config = config
            json = try config.canonicalJSON()
            sha256 = try config.sha256()
            params = try config.params()
        }

        /// Replaces the config with `resolve(config)` (every key with its value, defaults
        /// included), keeping the hash as written as an equivalent one.
        public mutating func resolve(_ resolve: (ConfigValue) throws -> ConfigValue) throws {
            let asWritten = sha256
            self = try Plan(name: name, config: try resolve(config))
            if asWritten != sha256 { equivalentHashes = [asWritten] }
        }
    }

    /// The runs of the sweep, in its deterministic order. A swept key must name a value or a new
    /// leaf of an existing section of the base config ("train.lr" needs [train]); the run config
    /// decoder then rejects unknown keys, so a typo ("train.lrr") fails at enqueue time.
    public func plans() throws -> [Plan] {
        for key in sweep.sweptKeys where base.value(at: key) == nil {
            let parent = key.split(separator: ".").dropLast().joined(separator: ".")
            if parent.isEmpty || base.value(at: parent)?.table == nil {
                throw SchedulerError.badSweep(
                    key: key, reason: "no section '\(parent)' in the base config; add it (with defaults) first")
            }
        }
        return try sweep.points().map { point in
            var config = base
            for o in point.overrides { try config.set(o.key, to: o.value) }
            return try Plan(
                name: point.nameParts.isEmpty ? "base" : point.nameParts.joined(separator: "-"), config: config)
        }
    }

    /// Plans as rows for `TrackerDB.enqueue` (default: `plans()` as written).
    public func plannedRuns(_ plans: [Plan]? = nil) throws -> [TrackerDB.PlannedRun] {
        try (plans ?? self.plans()).map { p in
            TrackerDB.PlannedRun(
                run: RunRecord(
                    name: p.name, config: p.json, configHash: p.sha256, priority: priority, maxAttempts: maxAttempts),
                params: p.params, equivalentHashes: p.equivalentHashes)
        }
    }
}

// Reading experiments/NAME.toml: TOML -> ConfigValue -> ExperimentSpec, then every run of the
// sweep is decoded and validated the way `tracker train --run` will read it, so a typo or an
// out-of-range value fails when the experiment is enqueued, not in a worker twenty minutes later.
// Each run is then resolved: it stores every key with its value (defaults included) and is
// identified by the hash of that resolved config; the hash of the config as written (what runs
// enqueued before resolved configs carry) is kept as an equivalent, so re-running an old
// experiment file does not enqueue its runs again. Enqueueing also checks that the store holds
// the corpora the runs name.
import Basics
import Foundation
import Scheduler
import Store

public enum ExperimentFile {
    /// Loads and validates an experiment file; the experiment name is the file stem. The plans
    /// hold resolved configs.
    public static func load(path: String) throws -> (spec: ExperimentSpec, plans: [ExperimentSpec.Plan]) {
        let tree = try TOMLReader.read(path: path, what: "experiment file")
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let spec = try ExperimentSpec(name: name, tree: tree)
        var plans = try spec.plans()
        for i in plans.indices {
            do {
                try plans[i].resolve { try TrainConfigFile.resolvedTree(TrainConfigFile.decode(tree: $0)) }
                try spec.sweep.asha?.check(run: plans[i].name, config: plans[i].config)
            } catch {
                throw SessionError.badRun(path: path, run: plans[i].name, message: "\(error)")
            }
        }
        return (spec, plans)
    }

    /// Enqueues the experiment's runs (each resolved config once per experiment unless `force`).
    public static func enqueue(
        _ spec: ExperimentSpec, _ plans: [ExperimentSpec.Plan], source: String, db: TrackerDB, force: Bool,
        priority: Int64? = nil
    ) throws -> (experiment: ExperimentRecord, enqueued: [RunRecord], skipped: [RunRecord]) {
        try requireCorpora(plans, db: db)
        let experiment = try db.upsertExperiment(name: spec.name, source: source, spec: spec.specJSON)
        var rows = try spec.plannedRuns(plans)
        if let priority { for i in rows.indices { rows[i].run.priority = priority } }
        let (enqueued, skipped) = try db.enqueue(rows, experimentId: experiment.id!, force: force)
        return (experiment, enqueued, skipped)
    }

    /// Throws unless the store holds every corpus the runs train on (runs of a synthetic task need
    /// none): a missing one failed every run when it started, after "enqueued N run(s)". The
    /// store is the one the runs will read, SQLite or PostgreSQL, so the check is theirs.
    static func requireCorpora(_ plans: [ExperimentSpec.Plan], db: TrackerDB) throws {
        var checked = Set<String>()
        // The resolved config always holds data.corpus, and data.task for a task run.
        for plan in plans where plan.config.value(at: "data.task") == nil {
            guard case .string(let name)? = plan.config.value(at: "data.corpus"), checked.insert(name).inserted
            else { continue }
            if try db.corpus(named: name) == nil { throw SessionError.noCorpus(name: name, home: db.home) }
        }
    }
}

// Asynchronous successive halving (ASHA, Li et al. 2018) for sweeps, the stopping rule as Ray
// Tune's ASHAScheduler and Optuna's SuccessiveHalvingPruner apply it:
//
//   [sweep]
//   scheduler = "asha"
//   metric = "val/loss"        # default; any metric the runs log
//   mode = "min"               # or "max"
//   grace_steps = 40           # the first rung
//   reduction_factor = 3       # default; keep the top 1/3 at each rung
//
// Rungs are at grace_steps * reduction_factor^k, for every such step below the run's
// train.steps (the run's own length and learning-rate schedule are unchanged; a rung at the
// last step could save nothing). A run's result at rung k is the first value of `metric` logged
// at or after the rung's step (the highest rung reached, once per run). It is compared with the
// results already recorded at that rung by the experiment's other runs: with N results there,
// its own included, the run continues when N < reduction_factor (too few to judge) or when it
// is among the best N / reduction_factor (rounded down; ties continue), and is pruned
// otherwise. A NaN result ranks last. Recording and deciding are one store transaction
// (TrackerDB.recordRung).
import Basics
import Foundation
import Store

public struct AshaConfig: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable, Equatable {
        case min, max
    }

    public var metric = "val/loss"
    public var mode = Mode.min
    public var graceSteps: Int
    public var reductionFactor = 3

    /// The [sweep] keys that configure the scheduler (the rest of [sweep] is the grid).
    public static let keys: Set<String> = ["scheduler", "metric", "mode", "grace_steps", "reduction_factor"]

    public init(metric: String = "val/loss", mode: Mode = .min, graceSteps: Int, reductionFactor: Int = 3) {
        self.metric = metric
        self.mode = mode
        self.graceSteps = graceSteps
        self.reductionFactor = reductionFactor
    }

    /// Reads the scheduler keys of a [sweep] table (`keys`); nil when none is there.
    public init?(sweepTable table: [String: ConfigValue]) throws {
        let mine = table.filter { Self.keys.contains($0.key) }
        if mine.isEmpty { return nil }
        guard case .string("asha") = mine["scheduler"] else {
            throw SchedulerError.badSweep(
                key: "scheduler",
                reason: "the only scheduler is \"asha\"; set scheduler = \"asha\" to use "
                    + "metric, mode, grace_steps and reduction_factor")
        }
        if let m = mine["metric"] {
            guard case .string(let s) = m, !s.isEmpty else {
                throw SchedulerError.badSweep(key: "metric", reason: "name a logged metric, e.g. \"val/loss\"")
            }
            metric = s
        }
        if let m = mine["mode"] {
            guard case .string(let s) = m, let parsed = Mode(rawValue: s) else {
                throw SchedulerError.badSweep(key: "mode", reason: "use \"min\" or \"max\"")
            }
            mode = parsed
        }
        guard case .int(let grace) = mine["grace_steps"], grace >= 1 else {
            throw SchedulerError.badSweep(
                key: "grace_steps", reason: "say after how many steps runs are first compared, e.g. grace_steps = 40")
        }
        graceSteps = Int(grace)
        if let r = mine["reduction_factor"] {
            guard case .int(let rf) = r, rf >= 2 else {
                throw SchedulerError.badSweep(key: "reduction_factor", reason: "use an integer of at least 2, e.g. 3")
            }
            reductionFactor = Int(rf)
        }
    }

    /// The scheduler of experiment `experimentId`'s [sweep], nil when it has none.
    public static func of(experimentId: Int64, db: TrackerDB) throws -> AshaConfig? {
        guard let e = try db.experiment(id: experimentId) else { return nil }
        return try ExperimentSpec(name: e.name, tree: ConfigValue(json: e.spec)).sweep.asha
    }

    /// Checks one resolved run of the sweep: it must reach the first rung, and log a val/ metric
    /// by then (eval_every at most grace_steps; a divisor of it measures every rung on time).
    public func check(run: String, config: ConfigValue) throws {
        guard case .int(let steps) = config.value(at: "train.steps") else { return }
        if graceSteps >= steps {
            throw SchedulerError.badSweep(
                key: "grace_steps",
                reason:
                    "run \(run) trains \(steps) steps: grace_steps (\(graceSteps)) must be below that, or no run is compared"
            )
        }
        if metric.hasPrefix("val/"), case .int(let every) = config.value(at: "train.eval_every"),
            every == 0 || every > graceSteps
        {
            throw SchedulerError.badSweep(
                key: "grace_steps",
                reason: "run \(run) evaluates every \(every) steps (train.eval_every; 0 = only at the end): "
                    + "set eval_every to a divisor of grace_steps (\(graceSteps)) so \(metric) is measured at each rung"
            )
        }
    }

    /// The rungs' steps for a run of `totalSteps` steps: grace_steps * reduction_factor^k below it.
    public func rungSteps(totalSteps: Int) -> [Int] {
        var out: [Int] = []
        var s = graceSteps
        while s < totalSteps {
            out.append(s)
            let (next, overflow) = s.multipliedReportingOverflow(by: reductionFactor)
            if overflow { break }
            s = next
        }
        return out
    }

    /// Whether a run whose result at a rung is `value` is pruned there, given the results
    /// `earlier` runs recorded at that rung.
    public func prunes(earlier: [Double], value: Double) -> Bool {
        let all = earlier + [value]
        if all.count < reductionFactor { return false }
        let keep = all.count / reductionFactor
        let cutoff = all.sorted(by: isBetter)[keep - 1]
        if value.isNaN { return true }
        if cutoff.isNaN { return false }
        return mode == .min ? value > cutoff : value < cutoff
    }

    /// Whether `a` ranks before `b` (NaN last).
    public func isBetter(_ a: Double, _ b: Double) -> Bool {
        if a.isNaN { return false }
        if b.isNaN { return true }
        return mode == .min ? a < b : a > b
    }
}

/// One run's view of its experiment's rungs: fed the run's values of the metric as they are
/// logged, it records the run at each rung it reaches (once; a resumed run keeps its earlier
/// results) and remembers when the run was pruned. Recording goes through `record`: with a
/// database, TrackerDB.recordRung with `config.prunes`; in a Slurm task, the head does that and
/// the task waits for its decision.
public final class RungGate: @unchecked Sendable {
    public let config: AshaConfig
    public let runId: Int64
    public let rungSteps: [Int]
    public let totalSteps: Int
    /// The rung where the run was pruned, once it was (also when an earlier attempt was).
    public private(set) var pruned: RungRecord?
    private var recorded: Set<Int64>
    private let record: (RungArrival) throws -> RungRecord

    /// A gate whose run's results `record` records and decides; `earlier` are the ones it has.
    public init(
        config: AshaConfig, runId: Int64, totalSteps: Int, earlier: [RungRecord],
        record: @escaping (RungArrival) throws -> RungRecord
    ) {
        self.config = config
        self.runId = runId
        self.totalSteps = totalSteps
        self.record = record
        rungSteps = config.rungSteps(totalSteps: totalSteps)
        recorded = Set(earlier.map(\.rung))
        pruned = earlier.first(where: \.pruned)
    }

    /// A gate recording in `db` (a local worker's run).
    public convenience init(config: AshaConfig, db: TrackerDB, experimentId: Int64, runId: Int64, totalSteps: Int)
        throws
    {
        self.init(
            config: config, runId: runId, totalSteps: totalSteps, earlier: try db.rungs(runId: runId),
            record: { arrival in try db.recordRung(arrival) { config.prunes(earlier: $0, value: $1) } })
        self.experimentId = experimentId
    }

    /// The run's experiment (0 in a Slurm task, where the head fills it in).
    public private(set) var experimentId: Int64 = 0

    /// Takes the metric's value logged at `step`: when the step reached a rung this run has not
    /// recorded yet (the highest one reached), records it with its decision and returns it. The
    /// last step's value is not a rung result: the run has nothing left to save.
    @discardableResult
    public func observe(step: Int, value: Double) throws -> RungRecord? {
        guard pruned == nil, step < totalSteps, let k = rungSteps.lastIndex(where: { $0 <= step }),
            !recorded.contains(Int64(k))
        else {
            return nil
        }
        let arrival = RungArrival(
            experimentId: experimentId, rung: Int64(k), runId: runId, step: Int64(rungSteps[k]), atStep: Int64(step),
            metric: config.metric, value: value)
        let result = try record(arrival)
        recorded.insert(result.rung)
        if result.pruned { pruned = result }
        return result
    }

    /// The one-line reason recorded with the pruned state.
    public static func reason(_ r: RungRecord, _ config: AshaConfig) -> String {
        let keep = "top 1/\(config.reductionFactor)"
        return "pruned at rung \(r.rung) (step \(r.step)): \(r.metric) \(String(format: "%.4f", r.metricValue)) "
            + "at step \(r.atStep) was outside the \(keep) of the \(r.arrival) results there"
    }
}

// The [executor] table of an experiment file: how its runs execute. `kind = "local"` (the
// default) runs them with local worker processes; `kind = "slurm"` hands each submission to
// Slurm as one job array, with these keys (all optional):
//
//   [executor]
//   kind = "slurm"
//   partition = "cpu"            # --partition
//   account = "lab"              # --account
//   qos = "normal"               # --qos
//   time = "2:00:00"             # --time (a run checkpoints and requeues before it runs out)
//   cpus_per_task = 4            # --cpus-per-task
//   mem = "8G"                   # --mem
//   gres = "gpu:1"               # --gres
//   max_parallel = 8             # --array=0-N%8: at most 8 runs at once
//   extra = ["--constraint=skylake"]   # further #SBATCH lines, one option each
//   max_requeues = 3             # requeues after preemption or a time limit before the run fails
//   signal_seconds = 120         # --signal=B:USR1@120: checkpoint this long before the time limit
//   dir = "/shared/tracker-slurm"      # submissions' folders (default <home>/slurm): shared filesystem
//   poll_seconds = 2             # first squeue poll delay; doubles up to poll_max_seconds
//   poll_max_seconds = 60
//   lost_after_seconds = 600     # a run Slurm no longer lists and that recorded no end fails after this
//   rung_timeout = 1800          # ASHA: how long a task at a rung waits for the head's decision (s)
//
// The resource keys (partition ... gres) are SlurmResources.options: their key, sbatch flag and
// value live there once.
import Basics
import Foundation
import Scheduler
import SlurmKit

public struct SlurmExecutorConfig: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case local, slurm
    }

    public var kind = Kind.local
    /// partition, account, qos, time, cpus_per_task, mem, gres.
    public var resources = SlurmResources()
    public var maxParallel: Int?
    public var extra: [String] = []
    public var maxRequeues = 3
    public var signalSeconds = 120
    public var dir: String?
    public var pollSeconds = 2.0
    public var pollMaxSeconds = 60.0
    public var lostAfterSeconds = 600.0
    /// How long a task of an ASHA sweep waits at a rung for the head's decision.
    public var rungTimeoutSeconds = 1800.0

    public init() {}

    /// Every key of the [executor] table.
    public static var keys: [String] {
        ["kind"] + SlurmResources.options.map(\.key) + [
            "max_parallel", "extra", "max_requeues", "signal_seconds", "dir", "poll_seconds", "poll_max_seconds",
            "lost_after_seconds", "rung_timeout",
        ]
    }

    /// Reads an [executor] table (nil: the defaults, local).
    public init(table: [String: ConfigValue]?) throws {
        for (key, value) in (table ?? [:]).sorted(by: { $0.key < $1.key }) {
            try read(key, value)
        }
        try jobSpec(name: "check", taskCount: 1, output: "check", command: ["check"]).validate()
    }

    private mutating func read(_ key: String, _ value: ConfigValue) throws {
        func fail(_ reason: String) -> SchedulerError { .badConfig(key: "executor.\(key)", reason: reason) }
        func text() throws -> String {
            guard case .string(let s) = value, !s.isEmpty else { throw fail("use a non-empty string") }
            return s
        }
        func positive() throws -> Int {
            guard case .int(let n) = value, n >= 1 else { throw fail("use a positive integer") }
            return n
        }
        func seconds() throws -> Double {
            guard let n = value.number, n > 0 else { throw fail("use a positive number of seconds") }
            return n
        }
        if let option = SlurmResources.options.first(where: { $0.key == key }) {
            switch option.field {
            case .text(let path): resources[keyPath: path] = try text()
            case .count(let path): resources[keyPath: path] = try positive()
            }
            return
        }
        switch key {
        case "kind":
            guard let k = Kind(rawValue: try text()) else { throw fail("use \"local\" or \"slurm\"") }
            kind = k
        case "dir": dir = try text()
        case "max_parallel": maxParallel = try positive()
        case "max_requeues":
            guard case .int(let n) = value, n >= 0 else { throw fail("use an integer >= 0") }
            maxRequeues = n
        case "signal_seconds":
            guard case .int(let n) = value, (0...65_535).contains(n) else { throw fail("use 0-65535 seconds") }
            signalSeconds = n
        case "extra":
            guard case .array(let lines) = value else {
                throw fail("use a list of sbatch options, e.g. [\"--exclusive\"]")
            }
            extra = try lines.map {
                guard case .string(let s) = $0, !s.isEmpty else {
                    throw fail("each entry is one sbatch option (a string)")
                }
                return s
            }
        case "poll_seconds": pollSeconds = try seconds()
        case "poll_max_seconds": pollMaxSeconds = try seconds()
        case "lost_after_seconds": lostAfterSeconds = try seconds()
        case "rung_timeout": rungTimeoutSeconds = try seconds()
        default:
            throw fail("unknown key; [executor] accepts " + Self.keys.joined(separator: ", "))
        }
    }

    /// The job arrays' spec for `taskCount` runs whose worker command is `command`.
    public func jobSpec(name: String, taskCount: Int, output: String, command: [String]) -> SlurmJobSpec {
        SlurmJobSpec(
            name: name, resources: resources, taskCount: taskCount, maxParallel: maxParallel, requeue: true,
            signalSecondsBeforeEnd: signalSeconds, output: output, extraOptions: extra, command: command)
    }
}

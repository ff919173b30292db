// What can go wrong while planning, queueing and running experiments, each with what to do.
import Foundation

public enum SchedulerError: Error, CustomStringConvertible {
    case badSweep(key: String, reason: String)
    /// A grid axis (or `seeds`) that lists a value twice.
    case sweepValueTwice(key: String, value: String)
    /// A sweep whose axes multiply past `Sweep.maxRuns`.
    case sweepTooLarge(runs: String, axes: [String], limit: String)
    case badConfig(key: String, reason: String)
    case badNightly(key: String, reason: String)
    case noSuchRun(Int64)
    case noSuchExperiment(String)
    case spawnFailed(command: String, errno: Int32)
    case lockHeld(path: String, holder: String)
    case io(path: String, reason: String)
    case runsFailed(count: Int, names: [String])

    public var description: String {
        switch self {
        case .badSweep(let key, let reason):
            return "[sweep] \(key): \(reason) (see experiments/attention-sweep.toml for the accepted shapes)"
        case .sweepValueTwice(let key, let value):
            return "[sweep] \(key) lists \(value) twice: each value is a run, and the second would repeat the "
                + "first; list it once"
        case .sweepTooLarge(let runs, let axes, let limit):
            return "the sweep expands to \(runs) runs (\(axes.count) axes: \(axes.joined(separator: ", "))); "
                + "at most \(limit): split it into several experiments, or sample it with [sweep.random]"
        case .badConfig(let key, let reason):
            return "config key \(key): \(reason)"
        case .badNightly(let key, let reason):
            return "nightly config \(key): \(reason) (see experiments/nightly.toml)"
        case .noSuchRun(let id):
            return "no run with id \(id) (list runs with `tracker status`)"
        case .noSuchExperiment(let name):
            return "no experiment named '\(name)' (enqueue it with `tracker run experiments/\(name).toml`)"
        case .spawnFailed(let command, let errno):
            return "cannot start \(command): \(String(cString: strerror(errno))) (check the path and permissions)"
        case .lockHeld(let path, let holder):
            return "another nightly run is in progress (\(holder) holds \(path)); exiting without doing anything"
        case .io(let path, let reason):
            return "\(path): \(reason)"
        case .runsFailed(let count, let names):
            let shown = names.prefix(5).joined(separator: ", ") + (names.count > 5 ? ", ..." : "")
            return "\(count) run(s) did not succeed: \(shown) (see `tracker status` and the logs in <home>/logs)"
        }
    }
}

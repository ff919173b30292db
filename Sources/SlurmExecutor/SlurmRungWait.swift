// A Slurm task at an ASHA rung. The task never opens the database, so the head decides: the
// task appends a `rung` event to its spool file and waits for the head's answer, the decision
// file the head writes after it recorded the rung with TrackerDB.recordRung (the one code path
// local workers use). A resumed task finds the decisions already there and sends no rung twice.
import Basics
import Foundation
import Scheduler
import Store

#if canImport(Glibc)
    import Glibc
#endif

final class SlurmRungWait: @unchecked Sendable {
    let spool: SpoolWriter
    let timeout: Double
    let stop: SignalWatcher
    let runId: Int64
    /// Why the wait gave up (the task then ends failed); nil while it did not.
    private(set) var failure: String?
    private var sent: Set<Int64>
    /// How often the decision file is looked for.
    var interval = 0.2

    init(spool: SpoolWriter, runId: Int64, timeout: Double, stop: SignalWatcher) {
        self.spool = spool
        self.runId = runId
        self.timeout = timeout
        self.stop = stop
        sent = Set(spool.history.filter { $0.kind == .rung }.compactMap(\.rung))
    }

    /// The gate of the task's run: its earlier decisions from the decision files.
    func gate(_ config: AshaConfig, totalSteps: Int) throws -> RungGate {
        let earlier = try config.rungSteps(totalSteps: totalSteps).indices.compactMap {
            try RungDecisionFile.read(spoolPath: spool.path, rung: Int64($0))
        }
        return RungGate(config: config, runId: runId, totalSteps: totalSteps, earlier: earlier, record: record)
    }

    /// Sends `arrival` to the head (once) and waits for its decision.
    func record(_ arrival: RungArrival) throws -> RungRecord {
        if !sent.contains(arrival.rung) {
            try spool.append(
                SpoolEvent(
                    kind: .rung, step: arrival.step, rung: arrival.rung, atStep: arrival.atStep, metric: arrival.metric,
                    value: arrival.value),
                sync: true)
            sent.insert(arrival.rung)
        }
        let file = RungDecisionFile.path(spoolPath: spool.path, rung: arrival.rung)
        let deadline = Date().timeIntervalSince1970 + timeout
        while true {
            if let r = try RungDecisionFile.read(spoolPath: spool.path, rung: arrival.rung) { return r }
            if let signal = stop.received {
                throw SlurmExecutorError.rungWait(
                    "signal \(signal) while waiting at rung \(arrival.rung): the decision is read after the resume")
            }
            if Date().timeIntervalSince1970 >= deadline {
                let why =
                    "no decision for rung \(arrival.rung) of run \(runId) after \(Int(timeout)) s: the head writes "
                    + "\(file); is the head (`tracker run FILE --executor slurm`) still running? "
                    + "Start it again to follow the runs"
                failure = why
                throw SlurmExecutorError.rungWait(why)
            }
            Thread.sleep(forTimeInterval: interval)
        }
    }
}

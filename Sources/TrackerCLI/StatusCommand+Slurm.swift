// `tracker status` for runs handed to Slurm: their job ids and Slurm states. Like a head's poll
// it first ingests their spool files (where the workspace can be written; ASHA rungs decided and
// answered as the head does) and asks squeue for
// fresh states, without submitting or settling anything; when Slurm does not answer, the state
// of the last poll is shown.
import Foundation
import Scheduler
import SlurmExecutor
import SlurmKit
import Store

extension StatusCommand {
    struct SlurmTask: Encodable {
        var runId: Int64
        var name: String
        var runState: String
        var job: String?
        var slurmState: String?
        var reason: String?
        var requeues: Int64
        /// False when squeue did not answer: the state is the one the last poll stored.
        var live: Bool
    }

    static func slurmTasks(home: String, db: TrackerDB, experimentId: Int64?) throws -> [SlurmTask] {
        let tasks = try db.liveSlurmTasks(experimentId: experimentId)
        if tasks.isEmpty { return [] }
        if let writer = try? TrackerDB(home: home) {
            for t in tasks {
                // as the head does: a rung event is decided and answered, never only consumed
                let asha = try? writer.run(id: t.runId)?.experimentId.flatMap {
                    try AshaConfig.of(experimentId: $0, db: writer)
                }
                _ = try? SlurmHead.ingest(t, db: writer, asha: asha ?? nil)
            }
        }
        let arrays = Set(tasks.compactMap(\.arrayJobId)).sorted().map { Int($0) }
        let statuses = try? SlurmParse.latest(ProcessSlurmCommands().squeue(jobs: arrays))
        return try db.slurmTasks(runIds: tasks.map(\.runId)).compactMap { t in
            guard let run = try db.run(id: t.runId) else { return nil }
            let now = t.arrayJobId.flatMap { a in
                statuses.flatMap { SlurmParse.taskStatus($0, array: Int(a), task: Int(t.arrayTask ?? 0)) }
            }
            return SlurmTask(
                runId: t.runId, name: run.name, runState: run.state.rawValue, job: t.jobText,
                slurmState: now?.stateText ?? t.slurmState, reason: now.map(\.reason) ?? t.reason, requeues: t.requeues,
                live: statuses != nil)
        }
    }

    static func printSlurm(_ tasks: [SlurmTask]) {
        guard !tasks.isEmpty else { return }
        print("slurm:" + (tasks.contains { !$0.live } ? " (Slurm did not answer: states of the last poll)" : ""))
        for t in tasks {
            var line = "  #\(t.runId) \(t.name)  \(t.runState)  job \(t.job ?? "not submitted")  \(t.slurmState ?? "?")"
            if let r = t.reason { line += " (\(r))" }
            if t.requeues > 0 { line += "  requeued \(t.requeues)x" }
            print(line)
        }
    }
}

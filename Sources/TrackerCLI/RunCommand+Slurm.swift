// `tracker run FILE --executor slurm` (or [executor] kind = "slurm" in FILE): the experiment's
// queued runs go to Slurm as one job array (split at MaxArraySize), then, unless --no-wait, this
// process is the head: it polls Slurm and ingests the runs' spool files (on a PostgreSQL store
// the tasks write the store themselves) until every run is finished. Stopping it (Ctrl-C) leaves the runs to Slurm; running the same command again, or
// `tracker status`, picks them up.
import ArgumentParser
import Basics
import Foundation
import Scheduler
import SlurmExecutor
import SlurmKit
import Store

extension SlurmExecutorConfig.Kind: ExpressibleByArgument {}

extension RunCommand {
    /// Submits the experiment's queued runs (`mine`) and, unless --no-wait, tracks them.
    func runOnSlurm(
        _ config: SlurmExecutorConfig, experiment: ExperimentRecord, mine: Set<Int64>, db: TrackerDB,
        signals: SignalWatcher
    ) throws {
        let home = URL(fileURLWithPath: workspace.resolvedHome).standardized.path
        let head = SlurmHead(
            db: db, home: home, slurm: ProcessSlurmCommands(), config: config, executable: currentExecutablePath())
        let queued = try db.runs(experimentId: experiment.id!).filter { mine.contains($0.id!) && $0.state == .queued }
        let arrays = try head.submit(queued, experiment: experiment.name)
        if !arrays.isEmpty {
            let n = try db.slurmTasks(runIds: Array(mine)).filter {
                $0.arrayJobId.map { arrays.contains(Int($0)) } ?? false
            }
            print(
                "submitted \(n.count) run(s) to Slurm as job array(s) \(arrays.map(String.init).joined(separator: ", "))"
            )
        }
        if noWait { return }
        let display = ProgressLine()
        let done = try head.track(experimentId: experiment.id, shouldStop: { signals.received != nil }) {
            display.show(Self.describe($0))
        }
        display.finish()
        let finished = try db.runs(experimentId: experiment.id!).filter { mine.contains($0.id!) }
        try Self.finish(
            finished,
            interrupted: done
                ? nil
                : "interrupted: the runs go on in Slurm; run the same command again (or `tracker status`) to follow them"
        )
    }

    static func describe(_ poll: SlurmHead.PollResult) -> String {
        var text = "slurm: \(poll.live.count) run(s) live"
        if !poll.reachedSlurm { text += " (Slurm did not answer)" }
        for t in poll.live.prefix(4) {
            text += "  | #\(t.runId) \(t.jobText ?? "unsubmitted") \(t.slurmState ?? "?")"
        }
        return text
    }

    /// The batch script of the experiment's first array, for --dry-run.
    static func slurmScript(_ config: SlurmExecutorConfig, experiment: String, runs: Int) throws -> String {
        let dir = "\(config.dir ?? "<home>/slurm")/\(experiment)-<time>"
        let spec = config.jobSpec(
            name: "tracker-\(experiment)", taskCount: runs, output: dir + "/logs/%A_%a.out",
            command: [currentExecutablePath(), "worker", "--slurm", dir])
        return try spec.script(for: spec.chunks(maxArraySize: 1001)[0])
    }
}

// `tracker worker`: drain the run queue in this process (for cron, another terminal, or the
// workers `tracker run` starts). SIGINT/SIGTERM stop it cleanly: the signal goes to the running
// run (which checkpoints and exits), the run goes back to the queue, and the worker exits 0.
import ArgumentParser
import Basics
import Foundation
import Scheduler
import SlurmExecutor
import SlurmKit
import Store

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Claim queued runs and execute them, one at a time.",
        discussion: """
            Each run executes as a child process (`tracker train --run ID`) whose output is appended \
            to <home>/logs/runs/ID.log. Start as many workers as you have cores to spare; they share \
            the queue safely.

            Examples:
              tracker worker --until-empty
              tracker worker --max-runs 1 --experiment attention-sweep
            """)

    @OptionGroup var workspace: WorkspaceOptions

    @Flag(help: "Exit when no queued run is left (default: wait for more work).")
    var untilEmpty = false

    @Option(help: "Exit after this many runs.")
    var maxRuns: Int?

    @Option(help: ArgumentHelp("Only claim runs of this experiment (name or id).", valueName: "name"))
    var experiment: String?

    @Option(
        help: ArgumentHelp("Unix time after which no run starts and the current run is released.", visibility: .hidden))
    var deadline: Double?

    @Option(help: ArgumentHelp("Lease length in seconds.", visibility: .hidden))
    var lease: Double = 15

    @Option(help: ArgumentHelp("Heartbeat period in seconds.", visibility: .hidden))
    var heartbeat: Double = 2

    @Option(
        help: ArgumentHelp("Seconds a stopped run may take to checkpoint before it is killed.", visibility: .hidden))
    var stopGrace: Double = 60

    @Option(
        help: ArgumentHelp(
            "Run this shell command for each run instead of `tracker train --run ID` ($TRACKER_RUN_ID and $TRACKER_HOME are set).",
            valueName: "sh"))
    var command: String?

    @Option(
        help: ArgumentHelp(
            "Run one task of this Slurm submission folder (what its batch script execs), with --index.",
            valueName: "dir", visibility: .hidden))
    var slurm: String?

    @Option(help: ArgumentHelp("The task's run index in the Slurm submission.", visibility: .hidden))
    var index: Int?

    func validate() throws {
        if (slurm == nil) != (index == nil) { throw ValidationError("--slurm and --index go together") }
        if let maxRuns, maxRuns < 1 { throw ValidationError("--max-runs must be at least 1") }
        if !(lease > heartbeat && heartbeat > 0) {
            throw ValidationError("--lease must be longer than --heartbeat (> 0)")
        }
    }

    func run() throws {
        if let slurm, let index {
            // a Slurm task: trains in this process (the batch shell's), reports through its spool file
            // or, on a PostgreSQL store, writes the store itself
            let status = SlurmTaskRunner(
                sweepDir: slurm, index: index, environment: ProcessInfo.processInfo.environment,
                slurm: ProcessSlurmCommands()
            ).run()
            if status != 0 { throw ExitCode(status) }
            return
        }
        let signals = SignalWatcher()
        let home = workspace.resolvedHome
        let bad = try withCLIErrors {
            let db = try TrackerDB(home: home)
            var options = WorkerOptions(home: home)
            options.untilEmpty = untilEmpty
            options.maxRuns = maxRuns
            options.deadline = deadline
            options.lease = lease
            options.heartbeatInterval = heartbeat
            options.stopGrace = stopGrace
            if let experiment { options.experimentId = try Self.experimentId(experiment, db) }
            if let command { options.command = { _ in ["/bin/sh", "-c", command] } }
            let worker = Worker(db: db, options: options, stopSignal: { signals.received })
            writeStderr("worker \(worker.id): waiting for runs in \(home)\n")
            let summary = try worker.run()
            let done = Dictionary(grouping: summary.finished, by: \.state).mapValues(\.count)
            let parts = RunState.allCases.compactMap { s in done[s].map { "\($0) \(s.rawValue)" } }
            var line =
                "worker \(worker.id): \(summary.finished.count) run(s)"
                + (parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")")
            if let s = summary.stoppedBy { line += "; stopped by signal \(s), run released to the queue" }
            if summary.hitDeadline { line += "; deadline reached" }
            writeStderr(line + "\n")
            return (done[.failed] ?? 0) + (done[.crashed] ?? 0)
        }
        // A batch worker (a cron job's `--until-empty`) says by its exit code whether every run it
        // executed succeeded, as `tracker run` does; a worker run as a service exits 0.
        if (untilEmpty || maxRuns != nil) && bad > 0 {
            writeStderr("worker: \(bad) run(s) failed or crashed; see `tracker status`\n")
            throw ExitCode(1)
        }
    }

    /// An experiment given by id or by name.
    static func experimentId(_ nameOrId: String, _ db: TrackerDB) throws -> Int64 {
        if let id = Int64(nameOrId) { return id }
        guard let e = try db.experiment(named: nameOrId) else { throw SchedulerError.noSuchExperiment(nameOrId) }
        return e.id!
    }
}

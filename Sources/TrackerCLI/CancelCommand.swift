// `tracker cancel RUN|EXPERIMENT...`: queued runs are cancelled at once; running runs get a
// cancel request, and their worker stops the run (SIGTERM, then SIGKILL after a grace period)
// and records it as cancelled. Runs handed to Slurm are cancelled in the store first, then
// their tasks are scancelled (`A_T` each).
import ArgumentParser
import Basics
import Foundation
import Scheduler
import SlurmExecutor
import SlurmKit
import Store

struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel runs, by run id or by experiment name.",
        discussion: """
            Examples:
              tracker cancel 42
              tracker cancel attention-sweep
            """)

    @OptionGroup var workspace: WorkspaceOptions

    @Argument(help: "Run ids or experiment names.")
    var targets: [String]

    func run() throws {
        try withCLIErrors {
            let db = try TrackerDB(home: workspace.resolvedHome)
            let named = try runTargets(targets, in: db, fromExperiment: { !$0.state.isTerminal })
            // A run named by id that has already ended: say so rather than count it nowhere.
            for r in named where r.state.isTerminal {
                writeStderr("run \(r.id!) (\(r.name)) has already ended (\(r.state.rawValue)): nothing to cancel\n")
            }
            let ids = named.filter { !$0.state.isTerminal }.map { $0.id! }
            let (cancelled, requested, scancelled) = try SlurmHead.cancel(
                db: db, runIds: ids, slurm: ProcessSlurmCommands())
            var line =
                "cancelled \(cancelled) queued run(s); asked the workers of \(requested) running run(s) to stop them"
            if scancelled > 0 { line += "; scancelled \(scancelled) Slurm task(s)" }
            print(line)
        }
    }
}

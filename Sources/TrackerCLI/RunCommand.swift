// `tracker run experiments/NAME.toml`: expand the sweep, enqueue the runs (a run whose resolved
// config is already in the experiment is not enqueued again unless --force), then, unless
// --no-wait, execute the experiment with N local worker processes and show progress until it is
// done. Exits non-zero if any of the experiment's runs failed.
import ArgumentParser
import Basics
import Foundation
import Scheduler
import Session
import SlurmExecutor
import Store

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Enqueue an experiment's runs and execute them with local workers or on Slurm.",
        discussion: """
            FILE is experiments/NAME.toml: a `tracker train --config` file plus [sweep] (grid over \
            dotted keys, seeds, [sweep.random] samples) and an optional [experiment] table \
            (description, priority, max_attempts). Run logs are in <home>/logs/runs/ID.log.

            Examples:
              tracker run experiments/attention-sweep.toml --workers 2
              tracker run experiments/attention-sweep.toml --no-wait && tracker worker --until-empty
              tracker run experiments/attention-sweep.toml --dry-run
            """)

    @OptionGroup var workspace: WorkspaceOptions

    @Argument(help: "The experiment file.", completion: .file(extensions: ["toml"]))
    var file: String

    @Option(help: "Worker processes to start.")
    var workers = 1

    @Flag(help: "Only enqueue; leave execution to `tracker worker`.")
    var noWait = false

    @Flag(help: "Enqueue runs even when an identical config is already in the experiment.")
    var force = false

    @Option(help: "Queue priority (higher runs first; default: [experiment] priority, else 0).")
    var priority: Int64?

    @Flag(help: "Print the runs the sweep expands to, without enqueueing.")
    var dryRun = false

    @Option(
        help: ArgumentHelp(
            "How runs execute: local worker processes, or one Slurm job array (default: the file's [executor] kind, else local).",
            valueName: "local|slurm"))
    var executor: SlurmExecutorConfig.Kind?

    @Option(
        help: ArgumentHelp("Workers run this shell command instead of `tracker train --run ID`.", visibility: .hidden))
    var command: String?

    @Option(help: ArgumentHelp("Workers' lease length in seconds.", visibility: .hidden))
    var lease: Double?

    func validate() throws {
        if workers < 1 { throw ValidationError("--workers must be at least 1") }
    }

    func run() throws {
        let signals = SignalWatcher()
        try withCLIErrors {
            let (spec, plans) = try ExperimentFile.load(path: file)
            var slurmConfig = try SlurmExecutorConfig(table: spec.executor)
            if let executor { slurmConfig.kind = executor }
            if dryRun {
                print("experiment \(spec.name): \(plans.count) run(s)")
                for p in plans { print("  \(p.name)  \(p.sha256.prefix(12))") }
                if slurmConfig.kind == .slurm, !plans.isEmpty {
                    print(try Self.slurmScript(slurmConfig, experiment: spec.name, runs: plans.count), terminator: "")
                }
                return
            }
            let home = workspace.resolvedHome
            let db = try TrackerDB(home: home)
            let (experiment, enqueued, skipped) = try ExperimentFile.enqueue(
                spec, plans, source: file, db: db, force: force, priority: priority)
            var line = "experiment \(spec.name): enqueued \(enqueued.count) run(s)"
            if !skipped.isEmpty {
                line += ", \(skipped.count) already in the experiment (use --force to run them again)"
            }
            print(line)
            let mine = Set((enqueued + skipped).map { $0.id! })
            if slurmConfig.kind == .slurm {
                return try runOnSlurm(slurmConfig, experiment: experiment, mine: mine, db: db, signals: signals)
            }
            if noWait { return }
            let onSlurm = try db.liveSlurmTasks(experimentId: experiment.id).count
            if onSlurm > 0 {
                throw CLIError(
                    description:
                        "\(onSlurm) run(s) of experiment \(spec.name) are on Slurm, which local workers never claim: "
                        + "follow them with `tracker run \(file) --executor slurm`")
            }

            let display = ProgressLine()
            var launcher = LocalWorkers(home: home, count: workers, experimentId: experiment.id)
            if let command { launcher.workerArguments += ["--command", command] }
            if let lease {
                launcher.workerArguments += ["--lease", String(lease), "--heartbeat", String(max(0.2, lease / 5))]
            }
            let result = try launcher.run(db: db, signals: signals) { display.show(Self.describe($0)) }
            display.finish()
            let finished = try db.runs(experimentId: experiment.id!).filter { mine.contains($0.id!) }
            try Self.finish(
                finished,
                interrupted: result.interruptedBy.map {
                    "interrupted by signal \($0): unfinished runs are back in the queue (resume with `tracker worker --until-empty`)"
                })
        }
    }

    /// Prints the runs' summary; throws when the wait was interrupted, or when any run failed.
    static func finish(_ finished: [RunRecord], interrupted: String?) throws {
        print(summary(finished))
        if let interrupted { throw CLIError(description: interrupted) }
        let bad = finished.filter { $0.state == .failed || $0.state == .crashed }
        if !bad.isEmpty {
            throw SchedulerError.runsFailed(count: bad.count, names: bad.map { "#\($0.id!) \($0.name)" })
        }
    }

    static func describe(_ s: LocalWorkers.Snapshot) -> String {
        let done = s.counts.filter { $0.key.isTerminal || $0.key == .crashed }.values.reduce(0, +)
        var text = "runs: \(done) done, \(s.counts[.running] ?? 0) running, \(s.counts[.queued] ?? 0) queued"
        if let f = s.counts[.failed], f > 0 { text += ", \(f) failed" }
        if let p = s.counts[.pruned], p > 0 { text += ", \(p) pruned" }
        for (run, loss) in s.running.prefix(4) {
            text += "  | #\(run.id!) \(run.name)" + (loss.map { String(format: " loss %.4f", $0) } ?? "")
        }
        return text
    }

    static func summary(_ runs: [RunRecord]) -> String {
        var lines = ["state      run"]
        for r in runs {
            var line = r.state.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0) + "#\(r.id!) \(r.name)"
            if let e = r.error, r.state != .succeeded { line += "  (\(e))" }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}

/// One status line, redrawn in place on a terminal, printed when it changes (at most every 10 s) otherwise.
final class ProgressLine {
    private let interactive = ProgressBar.terminalAttached
    private var last = ""
    private var lastPrinted = Date.distantPast

    func show(_ text: String) {
        if interactive {
            writeStderr("\r\u{1B}[2K" + text)
        } else if text != last && Date().timeIntervalSince(lastPrinted) >= 10 {
            writeStderr(text + "\n")
            lastPrinted = Date()
        }
        last = text
    }

    func finish() {
        if interactive { writeStderr("\n") } else if !last.isEmpty { writeStderr(last + "\n") }
    }
}

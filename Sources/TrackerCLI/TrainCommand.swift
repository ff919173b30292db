// `tracker train --config FILE`: trains one model without the queue, into
// <home>/runs/<name>-<timestamp>/ (config.json, metrics.jsonl, checkpoints/); and
// `tracker train --run ID`, how a queue worker runs a queued run (metrics to the database,
// checkpoints recorded, resumed from the run's last checkpoint). The run itself is Session's
// TrainSession; this file parses the arguments and prints the summary.
import ArgumentParser
import Foundation
import Session

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train one language model from a run config (TOML) and report losses, bits per byte and speed.",
        discussion: """
            The config's sections ([data], [model], [train], [eval]) are described in README.md, \
            "Training configuration". Progress goes to stderr; the summary to stdout.

            Examples:
              tracker train --config experiments/quickstart.toml
              tracker train --config experiments/quickstart.toml --format json
              tracker train --config run.toml --resume .tracker/runs/run-20260101-120000
            """)

    @OptionGroup var workspace: WorkspaceOptions

    @Option(help: ArgumentHelp("Run config: a .toml file, or a run folder's config.json.", valueName: "file"))
    var config: String?

    @Option(
        name: .customLong("run"),
        help: ArgumentHelp("Train queued run ID (what `tracker worker` starts).", valueName: "id"))
    var runId: Int64?

    @Option(help: "Run name for the run folder (default: the config file's name).")
    var name: String?

    @Option(help: ArgumentHelp("Continue from a checkpoint file, or the last one of a run folder.", valueName: "path"))
    var resume: String?

    @Option(
        help: ArgumentHelp(
            "Measure MFU against this many GFLOP/s instead of a measured sgemm peak.", valueName: "gflops"))
    var peakGflops: Double?

    @Option(help: "Output: a text summary, or JSON on stdout.")
    var format: OutputFormat = .text

    func validate() throws {
        if (config == nil) == (runId == nil) { throw ValidationError("pass exactly one of --config FILE or --run ID") }
        if runId != nil && resume != nil {
            throw ValidationError("--resume is for --config runs; queued runs resume by themselves")
        }
        if let peakGflops, !(peakGflops > 0) { throw ValidationError("--peak-gflops must be positive") }
    }

    func run() throws {
        let session = TrainSession(home: workspace.resolvedHome, peakFlops: peakGflops.map { $0 * 1e9 })
        let summary = try withCLIErrors { () throws -> TrainSummary in
            if let id = runId { return try session.trainQueued(id: id) }
            let path = config!
            let runName = name ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            return try session.train(try TrainConfigFile.load(path: path), name: runName, resume: resume)
        }
        switch format {
        case .json: print(try prettyJSON(summary))
        case .text: print(summary.text)
        }
    }
}

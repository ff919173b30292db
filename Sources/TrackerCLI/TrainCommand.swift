// `tracker train --config FILE`: trains one model without the queue, into
// <home>/runs/<name>-<timestamp>/ (config.json, metrics.jsonl, checkpoints/); and
// `tracker train --run ID`, how a queue worker runs a queued run (metrics to the database,
// checkpoints recorded, resumed from the run's last checkpoint).
import ArgumentParser
import Basics
import Foundation
import Model
import Scheduler
import Training

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
        let home = workspace.resolvedHome
        let summary = try withCLIErrors { () throws -> TrainSummary in
            if let id = runId { return try trainQueued(id: id, home: home) }
            let path = config!
            let cfg = try TrainConfigFile.load(path: path)
            let runName = name ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            let dir = home + "/runs/" + runName + "-" + Self.timestamp()
            return try train(cfg, runDirectory: dir, home: home, resumeFrom: try resume.map(Self.checkpointPath))
        }
        switch format {
        case .json: print(try prettyJSON(summary))
        case .text: print(summary.text)
        }
    }

    /// Trains `cfg` into `runDirectory`; `extraSink` and `onCheckpoint` serve queued runs.
    func train(
        _ cfg: TrainRunConfig, runDirectory dir: String, home: String, resumeFrom: String?,
        extraSink: MetricSink? = nil, onCheckpoint: ((String, Int) throws -> Void)? = nil
    ) throws -> TrainSummary {
        let data = try TrainData.load(cfg, home: home)
        let modelConfig = try cfg.model.modelConfig(vocabSize: data.vocabSize)
        try FileManager.default.createDirectory(atPath: dir + "/checkpoints", withIntermediateDirectories: true)
        let configJSON = try TrainConfigFile.canonicalJSON(cfg)
        try Data((configJSON + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/config.json"), options: .atomic)

        let peak = peakGflops.map { $0 * 1e9 } ?? PeakFlops.measure(threads: cfg.train.threads)
        let model = try LanguageModel(config: modelConfig)
        let trainer = try Trainer(model: model, config: cfg.train, source: data.source)
        if let resumeFrom {
            try trainer.loadCheckpoint(resumeFrom)
            writeStderr("resumed from \(resumeFrom) at step \(trainer.step)\n")
        }
        let loop = TrainingLoop(trainer: trainer, validation: data.validation, tokenByteLengths: data.tokenByteLengths)
        loop.finalEvalBatches = cfg.eval.finalBatches
        loop.checkpointDirectory = dir + "/checkpoints"
        loop.checkpointMetadata = ["run_config": configJSON, "tokenizer": data.tokenizerPath ?? ""]
        loop.peakFlops = peak
        loop.onCheckpoint = onCheckpoint
        let stop = TrainStopSignal()
        stop.install()
        loop.shouldStop = { stop.signal != 0 }
        data.attachEvaluations(loop, cfg)
        var sinks: [MetricSink] = [
            ConsoleSink(totalSteps: cfg.train.steps), try JSONLinesSink(path: dir + "/metrics.jsonl"),
        ]
        if let extraSink { sinks.append(extraSink) }
        loop.sink = FanOutSink(sinks)
        writeStderr(
            "training \(Format.count(Int64(model.parameterCount))) parameters, \(cfg.train.steps) steps of "
                + "\(trainer.tokensPerStep) tokens, \(trainer.workerCount) threads -> \(dir)\n")
        let outcome = try loop.run()
        return TrainSummary(runDirectory: dir, model: model, outcome: outcome)
    }

    /// A queued run: config from the database, checkpoints recorded, metrics to the store.
    func trainQueued(id: Int64, home: String) throws -> TrainSummary {
        let context = try RunContext.load(home: home, runId: id)
        let cfg = try TrainConfigFile.decode(json: Data(context.configJSON.utf8))
        let dir = (context.checkpointDir as NSString).deletingLastPathComponent
        return try train(
            cfg, runDirectory: dir, home: home, resumeFrom: context.resumeCheckpointPath,
            extraSink: StoreSink(context: context),
            onCheckpoint: { path, step in try context.recordCheckpoint(path: path, step: step) })
    }

    /// A checkpoint file, or the last checkpoint of a run folder.
    static func checkpointPath(_ path: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw TrainingError.noCheckpoint(path: path)
        }
        if !isDir.boolValue { return path }
        guard let latest = Checkpoint.latest(in: path) else { throw TrainingError.noCheckpoint(path: path) }
        return latest
    }

    static func timestamp() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return f.string(from: Date())
    }
}

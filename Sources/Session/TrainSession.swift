// One training run, end to end, as a library: `tracker train --config FILE` trains a config into
// <home>/runs/<name>-<timestamp>/ (config.json, metrics.jsonl, checkpoints/); `tracker train
// --run ID` (what a queue worker starts) trains a queued run, with its config from the database,
// metrics to the store, checkpoints recorded, resumed from its last checkpoint. The first SIGINT
// or SIGTERM checkpoints and stops after the current step; a second one exits at once.
import Basics
import Foundation
import Model
import Scheduler
import Store
import Training

#if canImport(Glibc)
    import Glibc
#endif

public struct TrainSession {
    /// The workspace folder (database, corpora, runs).
    public var home: String
    /// FLOP/s to measure MFU against; nil measures the sgemm peak.
    public var peakFlops: Double?

    public init(home: String, peakFlops: Double? = nil) {
        self.home = home
        self.peakFlops = peakFlops
    }

    /// `tracker train --config`: trains `config` into a new run folder named `name`-timestamp
    /// (a suffix -2, -3, ... when another run took that name in the same second). With `resume`,
    /// continues the run in the folder its checkpoint belongs to (`name` is then the folder's),
    /// refusing a config that changed anything but evaluation keys.
    public func train(
        _ config: TrainRunConfig, name: String, resume: String? = nil
    ) throws -> TrainSummary {
        guard let resume else {
            let dir = try RunFolder.create(in: home + "/runs", name: name, timestamp: Self.timestamp())
            return try train(config, runDirectory: dir, resumeFrom: nil)
        }
        let checkpoint = try Self.checkpointPath(resume)
        guard let dir = RunFolder.owner(ofCheckpoint: checkpoint) else {
            // A checkpoint file outside any run folder: its history continues in a new folder.
            let dir = try RunFolder.create(in: home + "/runs", name: name, timestamp: Self.timestamp())
            return try train(config, runDirectory: dir, resumeFrom: checkpoint)
        }
        try RunFolder.checkResume(dir, config: config)
        return try train(config, runDirectory: dir, resumeFrom: checkpoint)
    }

    /// A queued run: config from the database, checkpoints recorded, metrics to the store. In an
    /// ASHA sweep, a run pruned at a rung ends there (checkpoint written) and is marked pruned
    /// before this returns, so its process exits 0 under any executor.
    public func trainQueued(id: Int64) throws -> TrainSummary {
        let context = try RunContext.load(home: home, runId: id)
        let config = try TrainConfigFile.decode(json: Data(context.configJSON.utf8))
        let dir = (context.checkpointDir as NSString).deletingLastPathComponent
        let gate = try context.rungGate(totalSteps: config.train.steps)
        var summary = try train(
            config, runDirectory: dir, resumeFrom: context.resumeCheckpointPath,
            extraSinks: [StoreSink(context: context)] + (gate.map { [RungSink(gate: $0)] } ?? []),
            onCheckpoint: { path, step in try context.recordCheckpoint(path: path, step: step) },
            shouldEnd: gate.map { gate in { gate.pruned != nil } })
        if let gate, let rung = gate.pruned {
            summary.pruned = RungGate.reason(rung, gate.config)
            if try !context.markPruned(gate) {
                writeStderr("warning: run \(id) was pruned but no longer running under its worker; state left as is\n")
            }
        }
        return summary
    }

    /// A run executed by a Slurm task: its config and corpus come from the head's manifest, its
    /// metrics and checkpoints go to `sink` and `onCheckpoint` (a spool file or the store: the
    /// session does not know which), and `stop` (watching SIGUSR1 too) asks it to checkpoint and stop. In an
    /// ASHA sweep, `gate` sees the metric and the run ends (checkpointed) once `shouldEnd` says so.
    /// `onTrainingStart` is called with the first step's index once the data is checked and the
    /// model built, right before the first step.
    public func trainSlurmTask(
        _ config: TrainRunConfig, runDirectory dir: String, resumeFrom: String?, corpus: IngestedCorpus?,
        sink: MetricSink, onCheckpoint: @escaping (String, Int) throws -> Void, stop: SignalWatcher,
        gate: RungGate? = nil, shouldEnd: (() -> Bool)? = nil, onTrainingStart: ((Int) -> Void)? = nil
    ) throws -> TrainSummary {
        try train(
            config, runDirectory: dir, resumeFrom: resumeFrom,
            extraSinks: [sink] + (gate.map { [RungSink(gate: $0)] } ?? []), onCheckpoint: onCheckpoint,
            shouldEnd: shouldEnd, corpus: corpus, stop: stop, onTrainingStart: onTrainingStart)
    }

    /// Trains `config` into `dir`; `extraSinks`, `onCheckpoint` and `shouldEnd` serve queued runs,
    /// `corpus`, `stop` and `onTrainingStart` Slurm tasks (default: the corpus from the database,
    /// stop on SIGINT/SIGTERM).
    func train(
        _ config: TrainRunConfig, runDirectory dir: String, resumeFrom: String?,
        extraSinks: [MetricSink] = [], onCheckpoint: ((String, Int) throws -> Void)? = nil,
        shouldEnd: (() -> Bool)? = nil, corpus: IngestedCorpus? = nil, stop: SignalWatcher? = nil,
        onTrainingStart: ((Int) -> Void)? = nil
    ) throws -> TrainSummary {
        if let resumeFrom,
            let done = try Self.completeSummary(resumeFrom, runDirectory: dir, steps: config.train.steps)
        {
            FanOutSink(extraSinks).finish(error: nil)  // as the loop does at its end: closes the store's writer
            writeStderr(done.complete! + "\n")
            return done
        }
        let data = try TrainData.load(config, home: home, corpus: corpus)
        let modelConfig = try config.model.resolved(vocabSize: data.vocabSize)
        try TrainingMemory(
            model: modelConfig, train: config.train, time: data.source.T,
            evaluationTimes: data.evaluationTimes(config)
        ).check()
        let configJSON = try writeRunFolder(dir, config)
        let peak = peakFlops ?? PeakFlops.measure(threads: config.train.threads)
        let model = try LanguageModel(config: modelConfig)
        let trainer = try Trainer(model: model, config: config.train, source: data.source)
        if let resumeFrom {
            try trainer.loadCheckpoint(resumeFrom)
            try RunFolder.dropMetrics(in: dir, after: trainer.step)
            writeStderr("resumed from \(resumeFrom) at step \(trainer.step)\n")
        }
        let loop = TrainingLoop(trainer: trainer, validation: data.validation, tokenByteLengths: data.tokenByteLengths)
        loop.finalEvalBatches = config.eval.finalBatches
        loop.checkpointDirectory = dir + "/checkpoints"
        loop.checkpointMetadata = ["run_config": configJSON, "tokenizer": data.tokenizerPath ?? ""]
        loop.peakFlops = peak
        loop.onCheckpoint = onCheckpoint
        loop.shouldEnd = shouldEnd
        let stop = stop ?? Self.stopOnSignal()
        loop.shouldStop = { stop.received != nil }
        data.attachEvaluations(loop, config)
        var sinks: [MetricSink] = [
            ConsoleSink(totalSteps: config.train.steps), try JSONLinesSink(path: dir + "/metrics.jsonl"),
        ]
        sinks += extraSinks
        loop.sink = FanOutSink(sinks)
        writeStderr(
            "training \(Format.count(Int64(model.parameterCount))) parameters, \(config.train.steps) steps of "
                + "\(trainer.tokensPerStep) tokens, \(trainer.workerCount) threads -> \(dir)\n")
        onTrainingStart?(trainer.step)
        let outcome = try loop.run()
        return TrainSummary(runDirectory: dir, model: model, outcome: outcome)
    }

    /// The summary of a run whose checkpoint `path` is at its last step (or past it), nil while
    /// steps are left. Such a run is done: its final evaluation was logged before that checkpoint
    /// was written, and training "on" logged it again (val/* and lengen/* twice in metrics.jsonl)
    /// and reported a NaN loss at 0 tokens/s. Nothing is written. A queued run found so (its worker
    /// died after the final checkpoint was recorded, or `--run` of a succeeded run) exits 0 and
    /// ends succeeded, which it is: failing it would throw away a finished run.
    static func completeSummary(_ path: String, runDirectory: String, steps: Int) throws -> TrainSummary? {
        guard let step = try SafetensorsFile(path: path).metadata["step"].flatMap(Int.init), step >= steps else {
            return nil  // a checkpoint without a step is refused by loadCheckpoint, with why
        }
        let model = try Checkpoint.loadModel(path: path).model
        return TrainSummary(complete: runDirectory, step: step, checkpoint: path, model: model)
    }

    /// Creates the run folder and its checkpoints/, and writes config.json (the resolved config);
    /// returns that JSON.
    private func writeRunFolder(_ dir: String, _ config: TrainRunConfig) throws -> String {
        try FileManager.default.createDirectory(atPath: dir + "/checkpoints", withIntermediateDirectories: true)
        let json = try TrainConfigFile.canonicalJSON(config)
        try RunFolder.recordConfigChange(in: dir, to: json)
        try Data((json + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/config.json"), options: .atomic)
        return json
    }

    /// SIGINT and SIGTERM: the first asks the loop to checkpoint and stop after the current step
    /// (a worker forwards its own SIGTERM here, then resumes the run elsewhere); a second one
    /// exits at once.
    static func stopOnSignal() -> SignalWatcher {
        SignalWatcher { signal, count in
            if count == 1 {
                writeStderr(
                    "\nsignal \(signal): checkpointing after this step, then stopping (send it again to stop at once)\n"
                )
            } else {
                exit(128 + signal)
            }
        }
    }

    /// A checkpoint file, or the last checkpoint of a run folder.
    public static func checkpointPath(_ path: String) throws -> String {
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

// What a training run reads before its loop: the corpus (through the Store) or synthetic task,
// the tokenizer's vocabulary and byte lengths, the validation windows and the evaluations
// [data] and [eval] ask for; and the summary of a finished run (TrainSession.swift joins them).
import BPE
import Basics
import Foundation
import Kernels
import Model
import Shards
import Store
import Training

/// The data a run trains on, resolved from [data].
public struct TrainData {
    public var source: BatchSource
    public var validation: EvalWindows?
    public var vocabSize: Int
    /// UTF-8 length of each token (special tokens 0), for bits per byte.
    public var tokenByteLengths: [Int32]?
    public var tokenizerPath: String?

    /// Opens the corpus' shards and tokenizer, or builds the synthetic task. `corpus` is the
    /// corpus as the head recorded it, for a Slurm task (which never opens the database);
    /// nil reads it from the workspace's database.
    public static func load(_ config: TrainRunConfig, home: String, corpus given: IngestedCorpus? = nil) throws
        -> TrainData
    {
        let T = config.model.context
        let B = config.train.batch
        if let options = config.data.task {
            let task = try options.makeTask(context: T)
            let loader = TaskLoader(
                task: task, batch: B, time: options.trainLength(context: T), seed: config.train.seed)
            return TrainData(
                source: loader, validation: nil, vocabSize: task.vocabSize, tokenByteLengths: nil, tokenizerPath: nil)
        }
        let corpus = try given ?? corpusRecord(named: config.data.corpus, home: home)
        let tokenizerPath = absolute(corpus.tokenizer.path, home: home)
        try requireOnThisNode(tokenizerPath)
        let tokenizer = try Tokenizer.load(path: tokenizerPath)
        // The tokenizer decides what every shard token means: it must be the file ingest wrote.
        if let (hex, _) = try? FileHashing.sha256(path: tokenizerPath), hex != corpus.tokenizer.sha256 {
            throw SessionError.tokenizer(
                "\(tokenizerPath) has changed since `tracker ingest` recorded it (sha256 \(hex.prefix(12))..., "
                    + "recorded \(corpus.tokenizer.sha256.prefix(12))...): re-run the ingest with --force")
        }
        let V = tokenizer.vocabSize
        func shards(_ split: String) throws -> [ShardReader] {
            try corpus.shards.filter { $0.split == split }.map {
                try requireOnThisNode(absolute($0.path, home: home))
                return try ShardReader(path: absolute($0.path, home: home), expectVocabSize: V, expectSHA256: $0.sha256)
            }
        }
        let loader = try DataLoader(shards: try shards("train"), batch: B, time: T, seed: config.train.seed)
        let val = try shards("val")
        var windows: EvalWindows?
        if !val.isEmpty {
            do {
                windows = try EvalWindows(shards: val, time: T)
            } catch {
                writeStderr("warning: \(error); training without evaluation\n")
            }
        }
        let lengths = (0..<V).map { Int32(tokenizer.isSpecial(UInt32($0)) ? 0 : tokenizer.bytes(of: UInt32($0)).count) }
        return TrainData(
            source: loader, validation: windows,
            vocabSize: V, tokenByteLengths: lengths, tokenizerPath: tokenizerPath)
    }

    /// Task accuracy by position bucket (synthetic tasks) or length generalisation on the
    /// validation shards (corpora), as [data] and [eval] ask.
    public func attachEvaluations(_ loop: TrainingLoop, _ config: TrainRunConfig) {
        loop.onNote = { writeStderr("note: \($0)\n") }
        if let options = config.data.task, let loader = source as? TaskLoader {
            let T = config.model.context
            loop.taskEvaluation = TaskEvaluator(
                task: loader.task, trainLength: options.trainLength(context: T),
                lengths: options.evaluationLengths(context: T), episodes: options.evalEpisodes,
                seed: config.train.seed)
        } else if let validation, !config.eval.lengths.isEmpty {
            loop.lengthEvaluation = LengthEvaluator(
                shards: validation.shards, trainLength: validation.T, factors: config.eval.lengths,
                batches: config.eval.lengthBatches)
            loop.lengthAtEvalSteps = config.eval.lengthsEveryEval
        }
    }

    /// The window lengths the evaluations of `config` run at, whose workspaces live beside the
    /// trainer's (for the memory estimate made before anything is allocated).
    public func evaluationTimes(_ config: TrainRunConfig) -> [Int] {
        let T = config.model.context
        if let options = config.data.task { return options.evaluationLengths(context: T) }
        guard let validation else { return [] }
        return config.eval.lengths.map { $0 * validation.T }
    }

    static func absolute(_ path: String, home: String) -> String { path.hasPrefix("/") ? path : home + "/" + path }

    /// The corpus named `name` in the workspace's database.
    public static func corpusRecord(named name: String, home: String) throws -> IngestedCorpus {
        guard let corpus = try TrackerDB(home: home).corpus(named: name) else {
            throw SessionError.noCorpus(name: name, home: home)
        }
        return corpus
    }

    /// Throws a clear error when a corpus file (tokenizer, shard) is not there (on a cluster: not
    /// on this node's filesystems, or mounted elsewhere).
    static func requireOnThisNode(_ path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            throw SessionError.corpusFileMissing(path: path, host: ProcessInfo.processInfo.hostName)
        }
    }
}

/// The JSON summary of `tracker train --format json`.
public struct TrainSummary: Codable, Sendable {
    public var runDirectory: String
    public var steps: Int
    public var parameters: Int
    /// Nil when nothing was trained (`complete`).
    public var finalTrainLoss: Double?
    public var valLoss: Double?
    public var valPerplexity: Double?
    public var valBitsPerByte: Double?
    /// Nil when nothing was trained (`complete`).
    public var tokensPerSecond: Double?
    public var mfu: Double?
    public var peakFlops: Double?
    /// OpenBLAS's build line and kernel family (`BLAS.configuration`): MFU depends on it.
    public var blas: String?
    /// Set when OPENBLAS_CORETYPE holds this AVX-512 CPU to narrower kernels (`BLAS.kernelAdvice`).
    public var blasAdvice: String?
    public var peakMemoryBytes: Int64
    public var seconds: Double
    public var checkpoints: [String]
    /// Final task accuracy (`task/...`) and length-generalisation (`lengen/...`) metrics.
    public var evaluation: [String: Double]?
    public var model: ModelConfig
    /// Why an ASHA sweep stopped the run early (nil when it ran all its steps).
    public var pruned: String? = nil
    /// Set when the run was already complete: its checkpoint is its last step, so nothing was
    /// trained, evaluated or written (the numbers of that run are in its metrics).
    public var complete: String? = nil

    public init(runDirectory: String, model: LanguageModel, outcome: TrainingOutcome) {
        self.runDirectory = runDirectory
        steps = outcome.steps
        parameters = model.parameterCount
        finalTrainLoss = outcome.finalTrainLoss
        valLoss = outcome.finalVal?.loss
        valPerplexity = outcome.finalVal?.perplexity
        valBitsPerByte = outcome.finalVal?.bitsPerByte
        tokensPerSecond = outcome.tokensPerSecond
        mfu = outcome.mfu
        peakFlops = outcome.peakFlops
        blas = BLAS.configuration
        blasAdvice = BLAS.kernelAdvice()
        peakMemoryBytes = ProcessStats.peakRSSBytes()
        seconds = outcome.seconds
        checkpoints = outcome.checkpoints
        evaluation = outcome.finalExtra
        self.model = model.config
    }

    /// The summary of a run that had nothing left to train: its checkpoint at `step`, the last.
    public init(complete runDirectory: String, step: Int, checkpoint: String, model: LanguageModel) {
        self.runDirectory = runDirectory
        steps = step
        parameters = model.parameterCount
        blas = BLAS.configuration
        peakMemoryBytes = ProcessStats.peakRSSBytes()
        seconds = 0
        checkpoints = [checkpoint]
        self.model = model.config
        complete = "nothing left to train: the run is complete at step \(step)"
    }

    /// The text summary `tracker train` prints.
    public var text: String {
        if let complete {
            return [complete, "  run         \(runDirectory)", "  checkpoint  \(checkpoints.last ?? "")"]
                .joined(separator: "\n")
        }
        var lines = [
            "trained \(Format.count(Int64(parameters))) parameters for \(steps) steps in \(Format.duration(seconds))"
        ]
        lines.append(String(format: "  train loss  %.4f", finalTrainLoss ?? .nan))
        if let valLoss {
            var s = String(format: "  val loss    %.4f  ppl %.2f", valLoss, valPerplexity ?? .nan)
            if let valBitsPerByte { s += String(format: "  bits/byte %.4f", valBitsPerByte) }
            lines.append(s)
        }
        var speed = "  speed       \(Format.count(Int64(tokensPerSecond ?? 0))) tokens/s"
        if let mfu, let peakFlops {
            speed += String(format: ", MFU %.1f%% of %.1f GFLOP/s sgemm", mfu * 100, peakFlops / 1e9)
        }
        lines.append(speed)
        if let blas { lines.append("  blas        \(blas)") }
        if let blasAdvice { lines.append("  note        \(blasAdvice)") }
        for key in (evaluation ?? [:]).keys.sorted() where !key.contains("[") {
            lines.append(String(format: "  %@  %.4f", key as NSString, evaluation![key]!))
        }
        lines.append("  memory      \(Format.bytes(peakMemoryBytes)) peak")
        lines.append("  run         \(runDirectory)")
        if let last = checkpoints.last { lines.append("  checkpoint  \(last)") }
        if let pruned { lines.append("  \(pruned)") }
        return lines.joined(separator: "\n")
    }
}

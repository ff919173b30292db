// The whole run around `Trainer.trainStep`: metrics every log_every steps, evaluation every
// eval_every steps and at the end, checkpoints every checkpoint_every steps and at the end, a
// divergence check, and the summary numbers (throughput, MFU, final losses).
import Basics
import Foundation

/// What a finished run reports.
public struct TrainingOutcome: Sendable, Codable, Equatable {
    public var steps: Int
    /// Loss of the last step.
    public var finalTrainLoss: Double
    /// The final evaluation, when there was a validation split.
    public var finalVal: EvalResult?
    /// Training tokens per second over all steps after the first (the first pays page faults).
    public var tokensPerSecond: Double
    /// Model FLOPs utilisation against `peakFlops`, when known.
    public var mfu: Double?
    public var peakFlops: Double?
    /// Wall-clock seconds of the whole loop, evaluations and checkpoints included.
    public var seconds: Double
    public var checkpoints: [String]
    /// The final length-generalisation and task metrics (`lengen/...`, `task/...`), when evaluated.
    public var finalExtra: [String: Double]? = nil
}

public final class TrainingLoop {
    public let trainer: Trainer
    public let validation: EvalWindows?
    public let tokenByteLengths: [Int32]?
    /// Batches for the final evaluation; 0 means every validation window.
    public var finalEvalBatches = 0
    public var sink: MetricSink?
    /// Where checkpoints go; nil writes none.
    public var checkpointDirectory: String?
    /// Added to every checkpoint's metadata (e.g. the resolved run config).
    public var checkpointMetadata: [String: String] = [:]
    /// FLOP/s that MFU is measured against.
    public var peakFlops: Double?
    /// Called after each checkpoint is complete on disk, with its weights path and step.
    public var onCheckpoint: ((String, Int) throws -> Void)?
    /// Length generalisation on the validation shards: at the end, and at eval steps when
    /// `lengthAtEvalSteps`.
    public var lengthEvaluation: LengthEvaluator?
    public var lengthAtEvalSteps = false
    /// Synthetic-task accuracy by position bucket: at eval steps and at the end.
    public var taskEvaluation: TaskEvaluator?
    /// Receives notes such as length factors skipped because their window does not fit.
    public var onNote: ((String) -> Void)?
    /// Polled after every step; when it returns true (a SIGINT/SIGTERM arrived), the loop writes a
    /// checkpoint and throws `TrainingError.interrupted`, so the run can be resumed from there.
    public var shouldStop: (() -> Bool)?
    /// Polled before every step; when it returns true (an ASHA sweep pruned the run), the run
    /// ends there: the loop writes a checkpoint of that step (unless it has one) and returns its
    /// outcome, without the final evaluation.
    public var shouldEnd: (() -> Bool)?

    public init(trainer: Trainer, validation: EvalWindows?, tokenByteLengths: [Int32]?) {
        self.trainer = trainer
        self.validation = validation
        self.tokenByteLengths = tokenByteLengths
    }

    /// Trains until `trainer.config.steps` (continuing from `trainer.step` after a resume).
    public func run() throws -> TrainingOutcome {
        let config = trainer.config
        let start = DispatchTime.now()
        let flopsPerToken = trainer.model.flopsPerToken
        var checkpoints: [String] = []
        var last: StepStats?
        var steadyTokens = 0
        var steadySeconds = 0.0
        var windowTokens = 0
        var windowSeconds = 0.0
        let firstStep = trainer.step
        var checkpointedStep = -1
        func outcome(_ finalVal: EvalResult?, _ extra: [String: Double]) -> TrainingOutcome {
            let tps = Double(steadyTokens) / max(steadySeconds, 1e-9)
            return TrainingOutcome(
                steps: trainer.step, finalTrainLoss: last?.loss ?? .nan, finalVal: finalVal,
                tokensPerSecond: tps, mfu: peakFlops.map { flopsPerToken * tps / $0 }, peakFlops: peakFlops,
                seconds: secondsSince(start), checkpoints: checkpoints, finalExtra: extra.isEmpty ? nil : extra)
        }
        do {
            while trainer.step < config.steps {
                if shouldEnd?() == true {
                    if let dir = checkpointDirectory, checkpointedStep != trainer.step, trainer.step != firstStep {
                        checkpoints.append(try checkpoint(dir))
                    }
                    sink?.finish(error: nil)
                    return outcome(nil, [:])
                }
                let s = trainer.trainStep()
                last = s
                if s.step > firstStep + 1 || config.steps - firstStep == 1 {
                    steadyTokens += s.tokens
                    steadySeconds += s.seconds
                }
                windowTokens += s.tokens
                windowSeconds += s.seconds
                guard s.loss.isFinite else { throw TrainingError.diverged(step: s.step, loss: s.loss) }
                let isLast = s.step == config.steps
                if s.step % config.logEvery == 0 || isLast {
                    let tps = Double(windowTokens) / max(windowSeconds, 1e-9)
                    var m = [
                        MetricKey.trainLoss: s.loss, MetricKey.trainLR: s.lr, MetricKey.trainGradNorm: s.gradNorm,
                        MetricKey.tokensPerSecond: tps,
                    ]
                    if let peakFlops { m[MetricKey.trainMFU] = flopsPerToken * tps / peakFlops }
                    sink?.log(step: s.step, metrics: m)
                    windowTokens = 0
                    windowSeconds = 0
                }
                if !isLast, config.evalEvery > 0, s.step % config.evalEvery == 0 {
                    evaluateDuringTraining(step: s.step)
                }
                if let dir = checkpointDirectory, !isLast, config.checkpointEvery > 0,
                    s.step % config.checkpointEvery == 0
                {
                    checkpoints.append(try checkpoint(dir))
                    checkpointedStep = s.step
                }
                if !isLast, shouldStop?() == true {
                    var saved: String?
                    if let dir = checkpointDirectory {
                        saved = checkpointedStep == s.step ? checkpoints.last : try checkpoint(dir)
                    }
                    throw TrainingError.interrupted(step: s.step, checkpoint: saved)
                }
            }
            var finalVal: EvalResult?
            if let validation {
                let batches = finalEvalBatches > 0 ? finalEvalBatches : Int.max
                let r = trainer.evaluate(validation, batches: batches, tokenByteLengths: tokenByteLengths)
                sink?.log(step: trainer.step, metrics: r.metrics())
                finalVal = r
            }
            let extra = extraMetrics(final: true)
            if !extra.isEmpty { sink?.log(step: trainer.step, metrics: extra) }
            if let dir = checkpointDirectory { checkpoints.append(try checkpoint(dir)) }
            sink?.finish(error: nil)
            return outcome(finalVal, extra)
        } catch {
            sink?.finish(error: error)
            throw error
        }
    }

    /// The evaluations of an eval_every step: validation loss, then task (and length) metrics.
    private func evaluateDuringTraining(step: Int) {
        if let validation {
            let r = trainer.evaluate(
                validation, batches: trainer.config.evalBatches, tokenByteLengths: tokenByteLengths)
            sink?.log(step: step, metrics: r.metrics())
        }
        let m = extraMetrics(final: false)
        if !m.isEmpty { sink?.log(step: step, metrics: m) }
    }

    /// Task metrics, and length metrics at the end (or every eval step when asked for).
    func extraMetrics(final: Bool) -> [String: Double] {
        var m: [String: Double] = [:]
        if let taskEvaluation { m.merge(taskEvaluation.metrics(trainer)) { a, _ in a } }
        if let lengthEvaluation, final || lengthAtEvalSteps {
            let (lengths, skipped) = lengthEvaluation.metrics(trainer)
            m.merge(lengths) { a, _ in a }
            if final {
                for s in skipped { onNote?("length evaluation: skipped \(s.factor)x: \(s.reason)") }
            }
        }
        return m
    }

    private func checkpoint(_ directory: String) throws -> String {
        let path = try trainer.saveCheckpoint(directory: directory, metadata: checkpointMetadata)
        // Metrics first: once the checkpoint is recorded, a resume starts after it and does not
        // log its steps again.
        sink?.flush()
        try onCheckpoint?(path, trainer.step)
        return path
    }
}

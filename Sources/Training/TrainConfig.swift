// The optimisation settings of one run ([train] in a run's TOML file): steps, batch, AdamW,
// the learning-rate schedule, clipping, evaluation and checkpoint cadence. Missing keys take the
// defaults below (decodeIfPresent: synthesized Codable would ignore them), unknown keys are an
// error that lists the valid ones, and `validate()` checks every range in one place.
import Basics
import Foundation

public struct TrainConfig: Codable, Sendable, Equatable {
    /// Optimizer steps.
    public var steps = 1000
    /// Sequences per micro-batch (split across the worker threads).
    public var batch = 8
    /// Micro-batches summed into one optimizer step.
    public var gradAccum = 1
    /// Peak learning rate, reached at the end of warm-up.
    public var lr = 3e-3
    /// Learning-rate floor at the end of the cosine decay.
    public var minLR = 3e-4
    /// Linear warm-up steps.
    public var warmup = 50
    /// Step where the cosine reaches `minLR` (nanoGPT's lr_decay_iters); 0 means `steps`.
    public var decaySteps = 0
    /// AdamW decoupled weight decay, applied to tensors marked `decay` only.
    public var weightDecay = 0.01
    public var beta1 = 0.9
    public var beta2 = 0.95
    public var eps = 1e-8
    /// Clip the global gradient norm to this value; 0 disables clipping.
    public var gradClip = 1.0
    /// Seeds the data order (model initialisation has its own `init_seed`).
    public var seed: UInt64 = 1337
    /// Evaluate on the validation shards every this many steps; 0 means only at the end.
    public var evalEvery = 100
    /// Batches of `batch` x `context` tokens per periodic evaluation.
    public var evalBatches = 10
    /// Write a checkpoint every this many steps; 0 means only at the end.
    public var checkpointEvery = 0
    /// Report train metrics every this many steps.
    public var logEvery = 10
    /// Worker threads that split each micro-batch (each with its own activations and gradients).
    public var threads = 2

    public init() {}

    /// The step where the cosine ends.
    public var resolvedDecaySteps: Int { decaySteps > 0 ? decaySteps : steps }

    /// The learning-rate schedule these settings describe.
    public var schedule: LRSchedule {
        LRSchedule(maxLR: lr, minLR: minLR, warmup: warmup, decaySteps: resolvedDecaySteps)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case steps, batch
        case gradAccum = "grad_accum"
        case lr
        case minLR = "min_lr"
        case warmup
        case decaySteps = "decay_steps"
        case weightDecay = "weight_decay"
        case beta1, beta2, eps
        case gradClip = "grad_clip"
        case seed
        case evalEvery = "eval_every"
        case evalBatches = "eval_batches"
        case checkpointEvery = "checkpoint_every"
        case logEvery = "log_every"
        case threads
    }

    /// Every key [train] accepts.
    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public init(from decoder: any Swift.Decoder) throws {
        try ConfigKeys.check(decoder, valid: Self.keys, section: "train")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainConfig()
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? d.steps
        batch = try c.decodeIfPresent(Int.self, forKey: .batch) ?? d.batch
        gradAccum = try c.decodeIfPresent(Int.self, forKey: .gradAccum) ?? d.gradAccum
        lr = try c.decodeIfPresent(Double.self, forKey: .lr) ?? d.lr
        minLR = try c.decodeIfPresent(Double.self, forKey: .minLR) ?? d.minLR
        warmup = try c.decodeIfPresent(Int.self, forKey: .warmup) ?? d.warmup
        decaySteps = try c.decodeIfPresent(Int.self, forKey: .decaySteps) ?? d.decaySteps
        weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? d.weightDecay
        beta1 = try c.decodeIfPresent(Double.self, forKey: .beta1) ?? d.beta1
        beta2 = try c.decodeIfPresent(Double.self, forKey: .beta2) ?? d.beta2
        eps = try c.decodeIfPresent(Double.self, forKey: .eps) ?? d.eps
        gradClip = try c.decodeIfPresent(Double.self, forKey: .gradClip) ?? d.gradClip
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? d.evalEvery
        evalBatches = try c.decodeIfPresent(Int.self, forKey: .evalBatches) ?? d.evalBatches
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? d.checkpointEvery
        logEvery = try c.decodeIfPresent(Int.self, forKey: .logEvery) ?? d.logEvery
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? d.threads
    }

    /// Checks every range; the error names the key and what would be accepted.
    public func validate() throws {
        func bad(_ key: String, _ value: Any, _ hint: String) -> TrainingError {
            .invalidConfig(key: "train.\(key)", value: "\(value)", hint: hint)
        }
        // Upper bounds keep every count computed from these (tokens per step, steps x tokens)
        // far from overflow; memory is checked separately, against what the machine has.
        let counts = 1...1_000_000_000_000
        if !counts.contains(steps) { throw bad("steps", steps, "train for 1 to 10^12 steps") }
        if !(1...65_536).contains(batch) {
            throw bad("batch", batch, "use 1 to 65,536 sequences per micro-batch (grad_accum for more)")
        }
        if !(1...1_048_576).contains(gradAccum) {
            throw bad("grad_accum", gradAccum, "use 1 (no accumulation) to 1,048,576 micro-batches")
        }
        if !(lr > 0 && lr < 1) { throw bad("lr", lr, "use a learning rate in (0, 1), e.g. 3e-3") }
        if !(minLR >= 0 && minLR <= lr) { throw bad("min_lr", minLR, "use a floor in [0, lr] (\(lr))") }
        if !(0...counts.upperBound).contains(warmup) { throw bad("warmup", warmup, "use 0 for no warm-up") }
        if !(0...counts.upperBound).contains(decaySteps) {
            throw bad("decay_steps", decaySteps, "use 0 to decay over all steps")
        }
        if decaySteps > 0 && decaySteps <= warmup {
            throw bad("decay_steps", decaySteps, "must be above warmup (\(warmup))")
        }
        if !(weightDecay >= 0 && weightDecay < 1) {
            throw bad("weight_decay", weightDecay, "use a value in [0, 1), e.g. 0.01")
        }
        if !(beta1 >= 0 && beta1 < 1) { throw bad("beta1", beta1, "use a value in [0, 1), e.g. 0.9") }
        if !(beta2 >= 0 && beta2 < 1) { throw bad("beta2", beta2, "use a value in [0, 1), e.g. 0.95") }
        if !(eps > 0 && eps < 1) { throw bad("eps", eps, "use a small positive value, e.g. 1e-8") }
        if !(gradClip >= 0) { throw bad("grad_clip", gradClip, "use 0 to disable clipping, or e.g. 1.0") }
        if !(0...counts.upperBound).contains(evalEvery) {
            throw bad("eval_every", evalEvery, "use 0 to evaluate only at the end")
        }
        if !(1...1_048_576).contains(evalBatches) {
            throw bad("eval_batches", evalBatches, "evaluate on 1 to 1,048,576 batches")
        }
        if !(0...counts.upperBound).contains(checkpointEvery) {
            throw bad("checkpoint_every", checkpointEvery, "use 0 to checkpoint only at the end")
        }
        if !counts.contains(logEvery) { throw bad("log_every", logEvery, "log at least every step (1)") }
        if !(1...64).contains(threads) { throw bad("threads", threads, "use 1 to 64 threads (2 on 2 cores)") }
    }
}

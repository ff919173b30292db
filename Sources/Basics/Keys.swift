// The names runs are stored and compared under, spelled once: metric keys (`split/name`, logged
// by training, filtered and charted by reports) and the config keys that reports, sweeps and
// status read by name (dotted paths into a run's config, as stored in runParam).

/// Metric keys. Length-generalisation and task metrics are families: a prefix, then the length
/// factor (and a position bucket), e.g. `lengen/loss/4x` or `task/acc/2x/[L,2L)`.
public enum MetricKey {
    public static let trainLoss = "train/loss"
    public static let trainLR = "train/lr"
    public static let trainGradNorm = "train/gradNorm"
    public static let tokensPerSecond = "train/tokensPerSecond"
    public static let trainMFU = "train/mfu"
    public static let valLoss = "val/loss"
    public static let valPerplexity = "val/ppl"
    public static let valBPB = "val/bpb"
    /// Loss by position at lengths beyond training (`lengen/loss/<factor>x[/<bucket>]`).
    public static let lengenLoss = "lengen/loss"
    /// Loss by absolute position in power-of-two buckets at the longest evaluated length
    /// (`lengen/pos/<factor>x/[2^k,2^(k+1))`, and `[0,1)`): the points of a loss-against-position curve.
    public static let lengenPosition = "lengen/pos"
    /// Task accuracy and loss (`task/acc/<factor>[/<bucket>]`, `task/loss/<factor>`).
    public static let taskAccuracy = "task/acc"
    public static let taskLoss = "task/loss"
    /// Task accuracy by absolute position in power-of-two buckets at the longest evaluated length
    /// (`task/pos/<factor>x/[2^k,2^(k+1))`), e.g. a sliding window's accuracy past its reach.
    public static let taskPosition = "task/pos"
    /// The split part of the family keys above, which comparisons show as one table per family.
    public static let familyPrefixes = ["lengen", "task"]
}

/// Config keys read by name outside the config types themselves.
public enum ConfigKey {
    /// The attention variant, the parameter every comparison is about.
    public static let attentionVariant = "model.attention.variant"
    /// The training seed (data order and evaluation episodes): a sweep's `seeds` set it by default.
    public static let seed = "train.seed"
    /// The seed of the model's initialisation.
    public static let initSeed = "model.init_seed"
    /// The keys that are "the seed" of a run: a sweep's `seed_key` lists them so that its seeds vary
    /// the whole run; reports and the dashboard group runs over them (mean ± std over seeds).
    public static let seedKeys = [seed, initSeed]
    public static let steps = "train.steps"
    /// What a step costs in tokens: batch x grad_accum x context.
    public static let batch = "train.batch"
    public static let gradAccum = "train.grad_accum"
    public static let context = "model.context"
    /// Options of the attention variant and of the schedule: which of them a run has follows from
    /// its variant (or schedule), so a resolved config holds each variant's own set.
    public static let optionPrefixes = ["model.attention.", "model.schedule."]
}

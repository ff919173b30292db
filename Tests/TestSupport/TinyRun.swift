// The tiny model and training schedule of the tests that run tracker end to end (the CLI tests'
// experiment files and the scheduler's chaos test): one source, so that a config key renamed or
// a default changed is changed for all of them at once.

/// The [model], [train] and [eval] tables of a tiny run: 1 layer, 2 heads, 16 channels, context
/// 16, `steps` steps of batch 4 on one thread, a checkpoint every `checkpointEvery` steps, one
/// metric point a step, no periodic evaluation, one final validation batch. `seed` sets
/// train.seed when given (a sweep's seeds set it otherwise).
public func tinyRunTables(steps: Int, checkpointEvery: Int, seed: Int? = nil) -> String {
    """
    [model]
    layers = 1
    heads = 2
    channels = 16
    context = 16

    [train]
    steps = \(steps)
    batch = 4
    warmup = 2
    eval_every = 0
    checkpoint_every = \(checkpointEvery)
    log_every = 1
    threads = 1
    \(seed.map { "seed = \($0)" } ?? "")

    [eval]
    final_batches = 1
    """
}

// Batches (B, T) of a synthetic task (shared/spec/attention.md §2.3), the task counterpart of
// `DataLoader`. Episodic tasks (T1, S1): row b of batch k is a fresh episode whose generator is
// seeded from (seed, k, b), so every batch is a pure function of the seed and its index.
// Streaming tasks (T2): row b is one endless stream of units (programs) seeded from (seed, b),
// and batch k holds its tokens [kT, (k+1)T), so consecutive batches continue each row's stream
// (the Transformer-XL / staircase segment layout). The state is the seed and the batch count;
// restoring replays the streams up to that batch. It is the same `DataLoaderState` a corpus
// loader keeps, so checkpoints store one kind of loader position.
import Basics

/// One batch: inputs and targets are (B, T) row-major; target -1 means no loss.
public struct TaskBatch: Sendable, Equatable {
    public var inputs: [Int32]
    public var targets: [Int32]
}

public final class TaskLoader: @unchecked Sendable {
    public let task: any SyntheticTask
    public let B: Int
    public let T: Int
    public private(set) var state: DataLoaderState
    /// Streaming tasks: per row, the generator and the generated tokens not yet handed out.
    private var streams: [(rng: SplitMix64, pending: TaskSequence)] = []

    public init(task: any SyntheticTask, batch B: Int, time T: Int, seed: UInt64) {
        precondition(B > 0 && T > 0)
        self.task = task
        self.B = B
        self.T = T
        state = DataLoaderState(seed: seed, batches: 0)
        resetStreams()
    }

    /// A loader for evaluation: the same task from a seed derived from the run's seed, so its
    /// episodes are fixed across evaluations and independent of the training batches.
    public static func evaluation(task: any SyntheticTask, batch B: Int, time T: Int, seed: UInt64)
        -> TaskLoader
    {
        TaskLoader(task: task, batch: B, time: T, seed: mix(seed, 0x5EED_E7A1_0000_0001))
    }

    public var vocabSize: Int { task.vocabSize }

    /// Continues from a saved state (same task, B and T).
    public func restore(_ s: DataLoaderState) {
        state = DataLoaderState(seed: s.seed, batches: 0)
        resetStreams()
        if task.isStreaming {
            var inputs = [Int32](repeating: 0, count: B * T)
            var targets = inputs
            for _ in 0..<s.batches { fillStreams(&inputs, &targets) }
        }
        state.batches = s.batches
    }

    /// Fills the next batch: inputs and targets are (B, T) each.
    public func next(inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) {
        let batch = nextBatch()
        batch.inputs.withUnsafeBufferPointer { inputs.update(from: $0.baseAddress!, count: B * T) }
        batch.targets.withUnsafeBufferPointer {
            targets.update(from: $0.baseAddress!, count: B * T)
        }
    }

    public func nextBatch() -> TaskBatch {
        var inputs = [Int32](repeating: 0, count: B * T)
        var targets = [Int32](repeating: -1, count: B * T)
        if task.isStreaming {
            fillStreams(&inputs, &targets)
        } else {
            for b in 0..<B {
                var rng = Self.generator(seed: state.seed, batch: state.batches, row: b)
                let episode = task.generate(length: T, rng: &rng)
                precondition(
                    episode.count == T, "\(task.name) made \(episode.count) tokens, not \(T)")
                for t in 0..<T {
                    inputs[b * T + t] = episode.inputs[t]
                    targets[b * T + t] = episode.targets[t]
                }
            }
        }
        state.batches += 1
        return TaskBatch(inputs: inputs, targets: targets)
    }

    /// The generator of episode row `b` of batch `k`.
    static func generator(seed: UInt64, batch k: Int, row b: Int) -> SplitMix64 {
        var g = SplitMix64(
            seed: mix(mix(seed, UInt64(truncatingIfNeeded: k)), UInt64(truncatingIfNeeded: b)))
        _ = g.next()
        return g
    }

    private static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var g = SplitMix64(seed: a ^ (b &* 0xD1B5_4A32_D192_ED03))
        return g.next()
    }

    private func resetStreams() {
        guard task.isStreaming else { return }
        streams = (0..<B).map { b in
            (Self.generator(seed: state.seed, batch: -1, row: b), TaskSequence())
        }
    }

    private func fillStreams(_ inputs: inout [Int32], _ targets: inout [Int32]) {
        for b in 0..<B {
            while streams[b].pending.count < T {
                let unit = task.generate(length: T, rng: &streams[b].rng)
                streams[b].pending.inputs += unit.inputs
                streams[b].pending.targets += unit.targets
            }
            for t in 0..<T {
                inputs[b * T + t] = streams[b].pending.inputs[t]
                targets[b * T + t] = streams[b].pending.targets[t]
            }
            streams[b].pending.inputs.removeFirst(T)
            streams[b].pending.targets.removeFirst(T)
        }
    }
}

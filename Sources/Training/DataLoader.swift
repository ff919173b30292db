// Batches of token windows from memory-mapped shards (Shards.ShardReader, llm.c's format).
// A window is T+1 consecutive tokens of one shard: inputs are its first T tokens, targets the
// last T (the one-token shift of next-token prediction).
//
// Training windows start at uniformly random positions (nanoGPT's get_batch). Batch k is a pure
// function of (seed, k): its generator is seeded from both, so the loader's whole state is the
// count of batches drawn and resuming from a checkpoint replays exactly the same batches.
// Evaluation windows are the validation shards cut into consecutive non-overlapping windows, in
// order, so every evaluation sees the same tokens.
import Basics
import Shards

/// The resumable state of a `DataLoader`: its seed and how many batches it has produced.
public struct DataLoaderState: Codable, Sendable, Equatable {
    public var seed: UInt64
    public var batches: Int
    public init(seed: UInt64, batches: Int) {
        self.seed = seed
        self.batches = batches
    }
}

/// Random training windows, B per batch, each T+1 tokens long.
public final class DataLoader: @unchecked Sendable {
    public let shards: [ShardReader]
    public let B: Int
    public let T: Int
    public private(set) var state: DataLoaderState
    /// starts[i] = number of window starts in shards 0..<i; the last entry is the total.
    private let starts: [Int]
    private var window: [Int32]

    public init(shards: [ShardReader], batch B: Int, time T: Int, seed: UInt64) throws {
        precondition(B > 0 && T > 0)
        self.shards = shards
        self.B = B
        self.T = T
        state = DataLoaderState(seed: seed, batches: 0)
        var s = [0]
        for shard in shards { s.append(s.last! + max(0, shard.tokenCount - T)) }
        starts = s
        window = [Int32](repeating: 0, count: T + 1)
        guard s.last! > 0 else {
            throw TrainingError.notEnoughTokens(
                split: "train", tokens: shards.map(\.tokenCount).max() ?? 0, needed: T + 1)
        }
    }

    /// Number of distinct window positions across all shards.
    public var windowCount: Int { starts.last! }

    /// Continues from a saved state (same shards, B and T).
    public func restore(_ s: DataLoaderState) { state = s }

    /// The generator of batch `k`, seeded from the run seed and the batch index.
    static func generator(seed: UInt64, batch k: Int) -> SplitMix64 {
        var g = SplitMix64(seed: seed ^ (UInt64(truncatingIfNeeded: k) &* 0xD1B5_4A32_D192_ED03))
        _ = g.next()
        return g
    }

    /// A number in [0, n) from 64 random bits (multiply-high: deterministic, bias below 2^-40).
    @inline(__always) static func bounded(_ bits: UInt64, _ n: Int) -> Int {
        Int(bits.multipliedFullWidth(by: UInt64(n)).high)
    }

    /// The global start index of row `b` of batch `k`, for tests and for `next`.
    public func windowStart(batch k: Int, row b: Int) -> (shard: Int, offset: Int) {
        var g = Self.generator(seed: state.seed, batch: k)
        var u = 0
        for _ in 0...b { u = Self.bounded(g.next(), windowCount) }
        return locate(u)
    }

    private func locate(_ u: Int) -> (shard: Int, offset: Int) {
        var lo = 0
        var hi = shards.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= u { lo = mid } else { hi = mid - 1 }
        }
        return (lo, u - starts[lo])
    }

    /// Fills the next batch: inputs and targets are (B, T) each.
    public func next(inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) {
        var g = Self.generator(seed: state.seed, batch: state.batches)
        window.withUnsafeMutableBufferPointer { w in
            for b in 0..<B {
                let (s, offset) = locate(Self.bounded(g.next(), windowCount))
                shards[s].copy(from: offset, count: T + 1, into: w.baseAddress!)
                (inputs + b * T).update(from: w.baseAddress!, count: T)
                (targets + b * T).update(from: w.baseAddress! + 1, count: T)
            }
        }
        state.batches += 1
    }
}

/// The validation shards as consecutive windows of T+1 tokens (overlapping by one token, so
/// every token after the first of a shard is a target exactly once).
public struct EvalWindows: Sendable {
    public let shards: [ShardReader]
    public let T: Int
    /// windowsBefore[i] = windows in shards 0..<i; the last entry is the total.
    private let windowsBefore: [Int]

    public init(shards: [ShardReader], time T: Int) throws {
        self.shards = shards
        self.T = T
        var w = [0]
        for shard in shards { w.append(w.last! + max(0, (shard.tokenCount - 1) / T)) }
        windowsBefore = w
        guard w.last! > 0 else {
            throw TrainingError.notEnoughTokens(
                split: "val", tokens: shards.map(\.tokenCount).max() ?? 0, needed: T + 1)
        }
    }

    public var count: Int { windowsBefore.last! }

    /// Copies window `j` into inputs[0..<T] and targets[0..<T].
    public func fill(window j: Int, inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) {
        precondition(j >= 0 && j < count)
        var s = 0
        while windowsBefore[s + 1] <= j { s += 1 }
        let start = (j - windowsBefore[s]) * T
        shards[s].copy(from: start, count: T, into: inputs)
        shards[s].copy(from: start + 1, count: T, into: targets)
    }

    /// Copies the windows of batch `batch` (`B` rows of T tokens each) into inputs and targets;
    /// rows past the last window are padding (inputs 0, targets -1, which no loss counts).
    public func fill(
        batch: Int, rows B: Int, inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>
    ) {
        for r in 0..<B {
            let j = batch * B + r
            let x = inputs + r * T
            let y = targets + r * T
            if j < count {
                fill(window: j, inputs: x, targets: y)
            } else {
                x.update(repeating: 0, count: T)
                y.update(repeating: -1, count: T)
            }
        }
    }
}

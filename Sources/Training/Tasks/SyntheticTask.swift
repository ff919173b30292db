// Synthetic tasks that replace shards as a run's dataset (shared/spec/attention.md §2.3):
// T1 streaming cyclic random walk, S1 MQRAR-tiny, T2 mini variable tracking. A task generates
// token sequences with per-position targets (-1 = no loss); `TaskLoader` cuts them into batches.
// Every draw comes from a `Basics.SplitMix64`, through the two helpers below, so a task's data is a
// pure function of its seed on every platform and toolchain.
import Basics

/// One generated sequence: model inputs and the target of each position (-1: no loss there).
public struct TaskSequence: Sendable, Equatable {
    public var inputs: [Int32]
    public var targets: [Int32]

    public init(inputs: [Int32] = [], targets: [Int32] = []) {
        self.inputs = inputs
        self.targets = targets
    }

    public var count: Int { inputs.count }

    mutating func append(_ input: Int32, target: Int32 = -1) {
        inputs.append(input)
        targets.append(target)
    }
}

/// A generator of one synthetic task. Targets are token ids of the same vocabulary as the inputs
/// (so a tied LM head can predict them), aligned with the input position that predicts them.
public protocol SyntheticTask: Sendable {
    /// Registry key in run configs (`[data] task = "t1"`).
    static var name: String { get }
    /// Token names by id (for display); the vocabulary size is their count.
    var vocabulary: [String] { get }
    /// Episodic tasks make every batch row a fresh episode of exactly `length` tokens. Streaming
    /// tasks return one unit (a program) per call, and rows are cut from their concatenation.
    var isStreaming: Bool { get }
    /// The next episode (`length` tokens) or, for streaming tasks, the next unit (any length).
    func generate(length: Int, rng: inout SplitMix64) -> TaskSequence
}

extension SyntheticTask {
    public var name: String { Self.name }
    public var vocabSize: Int { vocabulary.count }

    /// Renders tokens by name, e.g. for a sample in the console.
    public func render(_ tokens: some Sequence<Int32>) -> String {
        tokens.map { $0 >= 0 && Int($0) < vocabulary.count ? vocabulary[Int($0)] : "?" }
            .joined(separator: " ")
    }
}

/// A uniform integer in [0, n), from the high half of a 64x64-bit product (bias below 2^-40).
@inline(__always) func uniformBelow(_ n: Int, _ rng: inout SplitMix64) -> Int {
    precondition(n > 0)
    return Int(rng.next().multipliedFullWidth(by: UInt64(n)).high)
}

/// A uniform Double in [0, 1) from the top 53 bits.
@inline(__always) func uniformUnit(_ rng: inout SplitMix64) -> Double {
    Double(rng.next() >> 11) * 0x1p-53
}

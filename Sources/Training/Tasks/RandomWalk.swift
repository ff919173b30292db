// Task T1, the streaming cyclic random walk (shared/spec/attention.md §2.3, T1): K positions on a
// cycle, moves d_t i.i.d. uniform over the allowed steps ({-1, 0, +1} = L, S, R), p_{-1} = 0 and
// p_t = (p_{t-1} + d_t) mod K. Input x_t is the move, label y_t = p_t, loss at every position.
// The spec's fallbacks are options: moves "SR" (a counter mod K) and a smaller K.
import Basics

public struct RandomWalkTask: SyntheticTask {
    public static let name = "t1"
    /// K, the number of positions on the cycle.
    public let positions: Int
    /// The steps a move may take, drawn uniformly: a subset of {-1, 0, +1}.
    public let steps: [Int]

    /// Move tokens L, S, R are ids 0, 1, 2 (step + 1); position p is id 3 + p.
    public static let moveNames = ["L", "S", "R"]

    /// `moves` is a string over "LSR", e.g. "LSR" (the spec) or "SR" (the first fallback).
    public init(positions: Int = 5, moves: String = "LSR") throws {
        guard positions >= 2 else {
            throw TrainingError.invalidConfig(
                key: "data.positions", value: "\(positions)",
                hint: "use at least 2 positions (K = 5)")
        }
        let steps = Self.moveNames.indices.filter { moves.contains(Self.moveNames[$0]) }.map {
            $0 - 1
        }
        guard !steps.isEmpty, moves.allSatisfy({ "LSR".contains($0) }) else {
            throw TrainingError.invalidConfig(
                key: "data.moves", value: moves,
                hint: "use letters from \"LSR\", e.g. \"LSR\" or \"SR\"")
        }
        self.positions = positions
        self.steps = steps
    }

    public var vocabulary: [String] { Self.moveNames + (0..<positions).map { "\($0)" } }
    public var isStreaming: Bool { false }

    public static func moveToken(step: Int) -> Int32 { Int32(step + 1) }
    public static func step(ofToken token: Int32) -> Int { Int(token) - 1 }
    public static func positionToken(_ p: Int) -> Int32 { Int32(3 + p) }
    public static func position(ofToken token: Int32) -> Int { Int(token) - 3 }

    public func generate(length T: Int, rng: inout SplitMix64) -> TaskSequence {
        var seq = TaskSequence()
        seq.inputs.reserveCapacity(T)
        seq.targets.reserveCapacity(T)
        var p = 0
        for _ in 0..<T {
            let d = steps[uniformBelow(steps.count, &rng)]
            p = (p + d + positions) % positions
            seq.append(Self.moveToken(step: d), target: Self.positionToken(p))
        }
        return seq
    }
}

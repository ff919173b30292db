// Metrics by position bucket (shared/spec/attention.md §2.3: "report the metrics by position
// bucket [0,L), [L,2L), [2L,4L), [4L,8L)", L = the training length). Pure functions of the
// per-position predictions (argmax), targets and losses, shared by the evaluator and the tasks.
// Keys follow the tracker's convention: `task/acc/<factor>x/[0,L)` for accuracy and
// `lengen/loss/<factor>x/[L,2L)` for loss, where factor = evaluated length / L.
// A second scheme, powers of two of the absolute position ([0,1), [1,2), [2,4), ... [256,512)),
// gives enough points to draw loss against position on a log axis (`lengen/pos/<factor>x/[a,b)`).
import Basics

/// Sums and counts per bucket; positions beyond the last bucket and targets of -1 are left out.
public struct PositionBuckets: Sendable, Equatable {
    /// How positions are bucketed.
    public enum Scheme: Sendable, Equatable {
        /// The spec's four buckets relative to the training length L: [0,L) .. [4L,8L).
        case trainLength
        /// Powers of two of the absolute position: [0,1), [1,2), [2,4), ... up to `upTo` positions.
        case powersOfTwo(upTo: Int)
    }

    /// The bucket names of the spec's scheme, in order.
    public static let names = ["[0,L)", "[L,2L)", "[2L,4L)", "[4L,8L)"]

    /// The training length L.
    public let trainLength: Int
    public let scheme: Scheme
    /// This scheme's bucket names, in order.
    public let bucketNames: [String]
    public private(set) var sums: [Double]
    public private(set) var counts: [Int]

    public init(trainLength L: Int, scheme: Scheme = .trainLength) {
        precondition(L > 0)
        trainLength = L
        self.scheme = scheme
        switch scheme {
        case .trainLength: bucketNames = Self.names
        case .powersOfTwo(let T):
            precondition(T > 0)
            bucketNames = (0...Self.powerOfTwoBucket(of: T - 1)).map { i in
                let r = Self.powerOfTwoRange(i)
                return "[\(r.lowerBound),\(r.upperBound))"
            }
        }
        sums = [Double](repeating: 0, count: bucketNames.count)
        counts = [Int](repeating: 0, count: bucketNames.count)
    }

    /// The position range of power-of-two bucket `i`: [0,1), [1,2), [2,4), [4,8), ...
    public static func powerOfTwoRange(_ i: Int) -> Range<Int> {
        i == 0 ? 0..<1 : (1 << (i - 1))..<(1 << i)
    }

    /// The power-of-two bucket of position t: 0 for t = 0, else 1 + floor(log2 t).
    public static func powerOfTwoBucket(of t: Int) -> Int {
        precondition(t >= 0)
        return t == 0 ? 0 : Int.bitWidth - t.leadingZeroBitCount
    }

    /// This scheme's bucket of position t, or nil beyond the last bucket.
    func index(of t: Int) -> Int? {
        switch scheme {
        case .trainLength: return Self.bucket(of: t, trainLength: trainLength)
        case .powersOfTwo:
            let i = Self.powerOfTwoBucket(of: t)
            return i < bucketNames.count ? i : nil
        }
    }

    /// The position range of bucket `i`: [0, L), [L, 2L), [2L, 4L), [4L, 8L).
    public static func range(_ i: Int, trainLength L: Int) -> Range<Int> {
        i == 0 ? 0..<L : (L << (i - 1))..<(L << i)
    }

    /// The bucket of position t (0-based within its row), or nil at or beyond 8L.
    public static func bucket(of t: Int, trainLength L: Int) -> Int? {
        precondition(t >= 0 && L > 0)
        if t < L { return 0 }
        var i = 1
        while i < names.count {
            if t < L << i { return i }
            i += 1
        }
        return nil
    }

    /// "1x", "4x", "8x" for evaluated lengths that are multiples of L, else e.g. "2.5x".
    public static func factorLabel(length T: Int, trainLength L: Int) -> String {
        if T % L == 0 { return "\(T / L)x" }
        let f = (Double(T) / Double(L) * 100).rounded() / 100
        return "\(f)x"
    }

    /// Counts argmax predictions equal to their target. predictions, targets are (B, T).
    public mutating func addAccuracy(predictions: [Int32], targets: [Int32], time T: Int) {
        precondition(predictions.count == targets.count && targets.count % T == 0)
        for (n, target) in targets.enumerated() where target >= 0 {
            guard let i = index(of: n % T) else { continue }
            sums[i] += predictions[n] == target ? 1 : 0
            counts[i] += 1
        }
    }

    /// Sums per-position losses where the target is not -1. losses, targets are (B, T).
    public mutating func addLosses(_ losses: [Float], targets: [Int32], time T: Int) {
        precondition(losses.count == targets.count && targets.count % T == 0)
        for (n, target) in targets.enumerated() where target >= 0 {
            guard let i = index(of: n % T) else { continue }
            sums[i] += Double(losses[n])
            counts[i] += 1
        }
    }

    /// The mean of each non-empty bucket, keyed `<prefix>/<factor>/<bucket>`.
    public func metrics(prefix: String, length T: Int) -> [String: Double] {
        let factor = Self.factorLabel(length: T, trainLength: trainLength)
        var out: [String: Double] = [:]
        for i in bucketNames.indices where counts[i] > 0 {
            out["\(prefix)/\(factor)/\(bucketNames[i])"] = sums[i] / Double(counts[i])
        }
        return out
    }

    /// `task/acc/<factor>x/<bucket>` accuracies of one evaluation at length T.
    public static func accuracyMetrics(
        predictions: [Int32], targets: [Int32], time T: Int, trainLength L: Int
    ) -> [String: Double] {
        var b = PositionBuckets(trainLength: L)
        b.addAccuracy(predictions: predictions, targets: targets, time: T)
        return b.metrics(prefix: MetricKey.taskAccuracy, length: T)
    }

    /// `lengen/loss/<factor>x/<bucket>` mean losses of one evaluation at length T.
    public static func lossMetrics(
        losses: [Float], targets: [Int32], time T: Int, trainLength L: Int
    )
        -> [String: Double]
    {
        var b = PositionBuckets(trainLength: L)
        b.addLosses(losses, targets: targets, time: T)
        return b.metrics(prefix: MetricKey.lengenLoss, length: T)
    }

    /// The argmax of each row of logits (N, V), first index on ties.
    public static func argmax(logits: [Float], vocab V: Int) -> [Int32] {
        precondition(V > 0 && logits.count % V == 0)
        return (0..<logits.count / V).map { n in
            var best = 0
            for v in 1..<V where logits[n * V + v] > logits[n * V + best] { best = v }
            return Int32(best)
        }
    }
}

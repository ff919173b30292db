// Length generalisation on a corpus (shared/spec/attention.md §2.3: "report the metrics by
// position bucket [0,L), [L,2L), [2L,4L), [4L,8L)"): the model trained on windows of L tokens is
// run on validation windows of f*L tokens for each factor f (1, 2, 4, 8 by default), and the
// per-position losses are averaged by bucket, logged as `lengen/loss/<f>x/<bucket>` plus the
// whole window's `lengen/loss/<f>x`; the longest factor's losses are also averaged in power-of-two
// position buckets (`lengen/pos/<f>x/[a,b)`), the points of a loss-against-position curve. A factor whose window does not fit the validation shards is
// skipped and named in `skipped` (the caller prints a note). Windows are the first `batches`
// batches of B consecutive non-overlapping windows, so every evaluation sees the same tokens.
import Basics
import Foundation
import Model
import Shards

/// One factor's result.
public struct LengthResult: Sendable, Equatable {
    public var factor: Int
    public var length: Int
    /// Mean NLL per bucket (sums and counts).
    public var buckets: PositionBuckets
    /// Mean NLL per power-of-two position bucket (the longest factor only).
    public var positions: PositionBuckets?
    /// Targets and summed NLL over the whole windows.
    public var tokens = 0
    public var nll = 0.0

    public var loss: Double { tokens > 0 ? nll / Double(tokens) : .nan }

    public func metrics() -> [String: Double] {
        var m = buckets.metrics(prefix: MetricKey.lengenLoss, length: length)
        if let positions { m.merge(positions.metrics(prefix: MetricKey.lengenPosition, length: length)) { a, _ in a } }
        if tokens > 0 { m["\(MetricKey.lengenLoss)/\(factor)x"] = loss }
        return m
    }
}

public struct LengthEvaluator: Sendable {
    public let shards: [ShardReader]
    /// The training window length L.
    public let trainLength: Int
    public let factors: [Int]
    /// Batches of B windows per factor.
    public let batches: Int

    public init(shards: [ShardReader], trainLength: Int, factors: [Int], batches: Int) {
        precondition(trainLength > 0 && batches > 0 && factors.allSatisfy { $0 > 0 })
        self.shards = shards
        self.trainLength = trainLength
        self.factors = factors
        self.batches = batches
    }

    /// Results of the factors that fit, and the factors skipped with the reason.
    public func evaluate(_ trainer: Trainer) -> (results: [LengthResult], skipped: [(factor: Int, reason: String)]) {
        var results: [LengthResult] = []
        var skipped: [(Int, String)] = []
        var fitting: [(factor: Int, windows: EvalWindows)] = []
        for f in factors {
            let T = f * trainLength
            do {
                fitting.append((f, try EvalWindows(shards: shards, time: T)))
            } catch {
                let longest = shards.map(\.tokenCount).max() ?? 0
                skipped.append(
                    (f, "a window of \(T) tokens does not fit the validation shards (longest \(longest) tokens)"))
            }
        }
        // Loss by power-of-two position at the longest factor that fits.
        let longest = fitting.map(\.factor).max()
        for (f, windows) in fitting {
            results.append(evaluate(trainer, windows: windows, factor: f, byPosition: f == longest))
        }
        return (results, skipped)
    }

    public func metrics(_ trainer: Trainer) -> (metrics: [String: Double], skipped: [(factor: Int, reason: String)]) {
        let (results, skipped) = evaluate(trainer)
        var m: [String: Double] = [:]
        for r in results { m.merge(r.metrics()) { a, _ in a } }
        return (m, skipped)
    }

    func evaluate(_ trainer: Trainer, windows: EvalWindows, factor f: Int, byPosition: Bool) -> LengthResult {
        let model = trainer.model
        let B = trainer.B
        let rows = trainer.rows
        let T = windows.T
        let workspaces = trainer.evaluationWorkspaces(time: T)
        let inputs = UnsafeMutableBufferPointer<Int32>.allocate(capacity: B * T)
        let targets = UnsafeMutableBufferPointer<Int32>.allocate(capacity: B * T)
        let partial = UnsafeMutableBufferPointer<[Float]>.allocate(capacity: rows.count)
        partial.initialize(repeating: [])
        defer {
            inputs.deallocate()
            targets.deallocate()
            partial.deallocate()
        }
        var result = LengthResult(factor: f, length: T, buckets: PositionBuckets(trainLength: trainLength))
        if byPosition {
            result.positions = PositionBuckets(trainLength: trainLength, scheme: .powersOfTwo(upTo: T))
        }
        let n = min(batches, (windows.count + B - 1) / B)
        for batch in 0..<n {
            windows.fill(batch: batch, rows: B, inputs: inputs.baseAddress!, targets: targets.baseAddress!)
            trainer.pool.run { w in
                let r = rows[w]
                let ws = workspaces[w].value
                _ = model.evaluate(
                    ws, tokens: inputs.baseAddress! + r.lowerBound * T, targets: targets.baseAddress! + r.lowerBound * T
                )
                partial[w] = Array(ws.losses)
            }
            for (w, r) in rows.enumerated() {
                let y = Array(targets[(r.lowerBound * T)..<(r.upperBound * T)])
                result.buckets.addLosses(partial[w], targets: y, time: T)
                result.positions?.addLosses(partial[w], targets: y, time: T)
                for i in y.indices where y[i] >= 0 {
                    result.tokens += 1
                    result.nll += Double(partial[w][i])
                }
            }
        }
        return result
    }
}

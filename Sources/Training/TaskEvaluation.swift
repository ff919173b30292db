// Task accuracy by position bucket for synthetic tasks (shared/spec/attention.md §2.3): at each
// evaluation length, `episodes` fresh rows from `TaskLoader.evaluation` (a seed derived from the
// run's, so every evaluation sees the same episodes), run through the model's schedule (plain,
// staircase or ladder: all take any row length, beyond the training context too). Predictions are
// the argmax of the logits the model's own final norm and LM head give on `Workspace.states`.
// Metrics per length T, with factor f = T / L (L = training row length):
//   task/acc/<f>x/<bucket>   accuracy of the targeted positions in bucket [0,L) .. [4L,8L)
//   task/acc/<f>x            accuracy over every targeted position
//   task/loss/<f>x           mean NLL over every targeted position
//   lengen/loss/<f>x/<bucket> mean NLL by bucket
//   task/pos/<f>x/[a,b)       accuracy by power-of-two position bucket (the longest length only)
//   lengen/pos/<f>x/[a,b)     mean NLL by power-of-two position bucket (the longest length only)
// Streaming tasks (T2) are evaluated the same way: each row is the start of a fresh stream.
import Basics
import Foundation
import Kernels
import Model

/// One evaluation length's sums.
public struct TaskLengthResult: Sendable, Equatable {
    public var length: Int
    public var accuracy: PositionBuckets
    public var loss: PositionBuckets
    /// Accuracy and NLL by power-of-two position bucket (the longest evaluated length only).
    public var accuracyPositions: PositionBuckets?
    public var positions: PositionBuckets?
    /// Targeted positions, correct predictions and summed NLL over the whole rows.
    public var targets = 0
    public var correct = 0
    public var nll = 0.0

    public var overallAccuracy: Double { targets > 0 ? Double(correct) / Double(targets) : .nan }
    public var overallLoss: Double { targets > 0 ? nll / Double(targets) : .nan }

    public func metrics() -> [String: Double] {
        let factor = PositionBuckets.factorLabel(length: length, trainLength: accuracy.trainLength)
        var m = accuracy.metrics(prefix: MetricKey.taskAccuracy, length: length)
        m.merge(loss.metrics(prefix: MetricKey.lengenLoss, length: length)) { a, _ in a }
        if let positions { m.merge(positions.metrics(prefix: MetricKey.lengenPosition, length: length)) { a, _ in a } }
        if let accuracyPositions {
            m.merge(accuracyPositions.metrics(prefix: MetricKey.taskPosition, length: length)) { a, _ in a }
        }
        if targets > 0 {
            m["\(MetricKey.taskAccuracy)/\(factor)"] = overallAccuracy
            m["\(MetricKey.taskLoss)/\(factor)"] = overallLoss
        }
        return m
    }
}

/// Evaluates a trainer's model on a synthetic task at several row lengths.
public struct TaskEvaluator: Sendable {
    public let task: any SyntheticTask
    /// The training row length L (buckets and factors are relative to it).
    public let trainLength: Int
    public let lengths: [Int]
    public let episodes: Int
    /// Seeds the evaluation episodes (through `TaskLoader.evaluation`).
    public let seed: UInt64

    public init(task: any SyntheticTask, trainLength: Int, lengths: [Int], episodes: Int, seed: UInt64) {
        precondition(trainLength > 0 && episodes > 0 && lengths.allSatisfy { $0 > 0 })
        self.task = task
        self.trainLength = trainLength
        self.lengths = lengths
        self.episodes = episodes
        self.seed = seed
    }

    /// Every length's metrics in one dictionary.
    public func metrics(_ trainer: Trainer) -> [String: Double] {
        var m: [String: Double] = [:]
        for r in evaluate(trainer) { m.merge(r.metrics()) { a, _ in a } }
        return m
    }

    public func evaluate(_ trainer: Trainer) -> [TaskLengthResult] {
        lengths.map { evaluate(trainer, length: $0) }
    }

    /// `episodes` rows of `length` tokens in batches of the trainer's B rows, split over its workers.
    public func evaluate(_ trainer: Trainer, length T: Int) -> TaskLengthResult {
        let model = trainer.model
        let B = trainer.B
        let rows = trainer.rows
        let loader = TaskLoader.evaluation(task: task, batch: B, time: T, seed: seed)
        let workspaces = trainer.evaluationWorkspaces(time: T)
        let head = HeadWeights(model)
        let partial = UnsafeMutableBufferPointer<Outputs>.allocate(capacity: rows.count)
        partial.initialize(repeating: Outputs())
        defer { partial.deallocate() }
        let inputs = UnsafeMutableBufferPointer<Int32>.allocate(capacity: B * T)
        let targets = UnsafeMutableBufferPointer<Int32>.allocate(capacity: B * T)
        defer {
            inputs.deallocate()
            targets.deallocate()
        }
        var total = TaskLengthResult(
            length: T, accuracy: PositionBuckets(trainLength: trainLength),
            loss: PositionBuckets(trainLength: trainLength))
        if T == lengths.max() {
            total.positions = PositionBuckets(trainLength: trainLength, scheme: .powersOfTwo(upTo: T))
            total.accuracyPositions = total.positions
        }
        var done = 0
        while done < episodes {
            loader.next(inputs: inputs.baseAddress!, targets: targets.baseAddress!)
            let used = min(B, episodes - done)
            if used < B { (targets.baseAddress! + used * T).update(repeating: -1, count: (B - used) * T) }
            trainer.pool.run { w in
                let r = rows[w]
                let ws = workspaces[w].value
                let x = inputs.baseAddress! + r.lowerBound * T
                let y = targets.baseAddress! + r.lowerBound * T
                _ = model.evaluate(ws, tokens: x, targets: y)
                let n = r.count * T
                partial[w] = Outputs(
                    targets: Array(UnsafeBufferPointer(start: y, count: n)),
                    predictions: head.argmax(states: ws.states, rows: n), losses: Array(ws.losses))
            }
            for o in partial {
                total.accuracy.addAccuracy(predictions: o.predictions, targets: o.targets, time: T)
                total.loss.addLosses(o.losses, targets: o.targets, time: T)
                total.positions?.addLosses(o.losses, targets: o.targets, time: T)
                total.accuracyPositions?.addAccuracy(predictions: o.predictions, targets: o.targets, time: T)
                for i in o.targets.indices where o.targets[i] >= 0 {
                    total.targets += 1
                    total.correct += o.predictions[i] == o.targets[i] ? 1 : 0
                    total.nll += Double(o.losses[i])
                }
            }
            done += used
        }
        return total
    }

    /// One worker's rows of one batch.
    struct Outputs {
        var targets: [Int32] = []
        var predictions: [Int32] = []
        var losses: [Float] = []
    }
}

/// The model's final norm and LM head, applied to output states to get argmax predictions.
struct HeadWeights: @unchecked Sendable {
    let model: LanguageModel
    let normWeight: UnsafePointer<Float>
    let normBias: UnsafePointer<Float>?
    let head: UnsafePointer<Float>

    init(_ model: LanguageModel) {
        self.model = model
        let base = UnsafePointer(model.parameters.baseAddress!)
        func tensor(_ name: String) -> UnsafePointer<Float>? {
            model.tensors.first { $0.name == name }.map { base + $0.offset }
        }
        normWeight = tensor("norm_f.weight")!
        normBias = tensor("norm_f.bias")
        head = tensor("lm_head") ?? tensor("wte")!
    }

    /// argmax over the vocabulary of head(norm(states[i])) for rows i in 0..<rows.
    func argmax(states: UnsafeBufferPointer<Float>, rows n: Int) -> [Int32] {
        let C = model.config.channels
        let V = model.config.vocabSize
        let normed = UnsafeMutablePointer<Float>.allocate(capacity: n * C)
        let stats = UnsafeMutablePointer<Float>.allocate(capacity: 2 * n)
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: n * V)
        defer {
            normed.deallocate()
            stats.deallocate()
            logits.deallocate()
        }
        if let normBias {
            layerNormForward(
                out: normed, mean: stats, rstd: stats + n, inp: states.baseAddress!, weight: normWeight,
                bias: normBias, BT: n, C: C)
        } else {
            rmsNormForward(out: normed, rstd: stats, inp: states.baseAddress!, weight: normWeight, BT: n, C: C)
        }
        matmulForward(out: logits, inp: normed, weight: head, bias: nil, BT: n, C: C, OC: V)
        return (0..<n).map { i in
            let row = logits + i * V
            var best = 0
            for v in 1..<V where row[v] > row[best] { best = v }
            return Int32(best)
        }
    }
}

// One optimizer step at a time, llm.c's train loop split over persistent worker threads:
//   for each of grad_accum micro-batches (B, T):
//       worker w runs forward + backward on rows [B*w/W, B*(w+1)/W) into its own gradient buffer
//   sum the workers' gradients (weighted by their share of rows) and zero all but the first,
//   clip by global norm, AdamW with the scheduled learning rate, zeroing the first as it goes.
// Each worker owns a Workspace (activations) and a gradient arena and calls single-threaded BLAS,
// so both cores stay busy without OpenBLAS's thread hand-offs on small matrices. Every reduction
// runs in a fixed order over fixed ranges, so a step is a deterministic function of the
// parameters, the optimizer state and the batch index, and resuming reproduces it bit for bit.
import Basics
import Foundation
import Kernels
import Model

/// What one optimizer step measured.
public struct StepStats: Sendable, Equatable {
    /// The step just taken (1 = the first update).
    public var step: Int
    /// Mean training loss over the step's B * T * grad_accum tokens.
    public var loss: Double
    public var lr: Double
    /// Global gradient norm before clipping.
    public var gradNorm: Double
    public var tokens: Int
    public var seconds: Double
}

/// Something that produces training batches, resumably: shard windows (`DataLoader`) or a
/// synthetic task's loader.
public protocol BatchSource: AnyObject {
    var B: Int { get }
    var T: Int { get }
    /// Fills inputs and targets, (B, T) each; target -1 means no loss at that position.
    func next(inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>)
    /// Seed and batches drawn: all a checkpoint needs to continue the same stream.
    var position: DataLoaderState { get }
    func seek(to position: DataLoaderState)
}

extension DataLoader: BatchSource {
    public var position: DataLoaderState { state }
    public func seek(to position: DataLoaderState) { restore(position) }
}

public final class Trainer: @unchecked Sendable {
    public let model: LanguageModel
    public let config: TrainConfig
    public let source: BatchSource
    public let optimizer: AdamW
    /// Optimizer steps taken so far.
    public internal(set) var step = 0
    public var B: Int { source.B }
    public var T: Int { source.T }

    let pool: WorkerPool
    /// Rows of each micro-batch handled by each worker.
    let rows: [Range<Int>]
    /// Parameter index range each worker reduces and updates.
    let paramRanges: [Range<Int>]
    let workspaces: [WorkspaceBox]
    let grads: [UnsafeMutableBufferPointer<Float>]
    let inputs: UnsafeMutableBufferPointer<Int32>
    let targets: UnsafeMutableBufferPointer<Int32>

    /// Sets BLAS to one thread per worker; `config.threads` workers (at most B).
    public init(model: LanguageModel, config: TrainConfig, source: BatchSource) throws {
        try config.validate()
        guard source.T <= model.config.context else {
            throw TrainingError.invalidConfig(
                key: "model.context", value: "\(model.config.context)",
                hint: "the data windows are \(source.T) tokens long; raise context to at least that")
        }
        self.model = model
        self.config = config
        self.source = source
        let W = min(config.threads, source.B)
        let P = model.parameterCount
        rows = (0..<W).map { w in (source.B * w / W)..<(source.B * (w + 1) / W) }
        paramRanges = (0..<W).map { w in (P * w / W)..<(P * (w + 1) / W) }
        BLAS.setThreads(1)
        workspaces = rows.map { WorkspaceBox(model.makeWorkspace(batch: $0.count, time: source.T)) }
        grads = (0..<W).map { _ in LargeFloats.zeros(P) }
        inputs = .allocate(capacity: source.B * source.T)
        targets = .allocate(capacity: source.B * source.T)
        inputs.initialize(repeating: 0)
        targets.initialize(repeating: -1)
        optimizer = AdamW(
            count: P,
            segments: model.tensors.map { ParameterSegment(offset: $0.offset, count: $0.count, decay: $0.decay) },
            settings: AdamWSettings(
                beta1: config.beta1, beta2: config.beta2, eps: config.eps, weightDecay: config.weightDecay))
        pool = WorkerPool(threads: W)
    }

    /// Workspaces for evaluating windows of `time` tokens on the workers. At the training length
    /// they are the training ones (evaluations run between steps, and validation always used
    /// them): a run's length and task evaluations at 1x used to make and fault in new ones at
    /// every evaluation.
    func evaluationWorkspaces(time: Int) -> [WorkspaceBox] {
        time == T ? workspaces : rows.map { WorkspaceBox(model.makeWorkspace(batch: $0.count, time: time)) }
    }

    deinit {
        for g in grads { LargeFloats.deallocate(g.baseAddress) }
        inputs.deallocate()
        targets.deallocate()
    }

    /// Worker threads splitting each micro-batch.
    public var workerCount: Int { rows.count }

    /// Tokens consumed by one optimizer step.
    public var tokensPerStep: Int { B * T * config.gradAccum }

    /// Takes one optimizer step: grad_accum micro-batches, clip, AdamW.
    @discardableResult
    public func trainStep() -> StepStats {
        let start = DispatchTime.now()
        let W = rows.count
        let losses = UnsafeMutableBufferPointer<Double>.allocate(capacity: W)
        defer { losses.deallocate() }
        var loss = 0.0
        let T = self.T
        for _ in 0..<config.gradAccum {
            source.next(inputs: inputs.baseAddress!, targets: targets.baseAddress!)
            pool.run { w in
                let r = rows[w]
                let ws = workspaces[w].value
                losses[w] = Double(
                    model.forwardBackward(
                        ws, tokens: inputs.baseAddress! + r.lowerBound * T,
                        targets: targets.baseAddress! + r.lowerBound * T, grads: grads[w].baseAddress!))
            }
            for w in 0..<W { loss += losses[w] * Double(rows[w].count) / Double(B) }
        }
        loss /= Double(config.gradAccum)

        // Sum the workers' gradients into grads[0]: each holds d(mean loss of its rows), so the
        // weight rows_w / (B * grad_accum) makes the sum d(mean loss of the whole step).
        let weights = rows.map { Float(Double($0.count) / Double(B * config.gradAccum)) }
        let partial = UnsafeMutableBufferPointer<Double>.allocate(capacity: W)
        defer { partial.deallocate() }
        pool.run { w in
            partial[w] = sumGradients(grads, weights: weights, range: paramRanges[w])
        }
        let norm = partial.reduce(0, +).squareRoot()
        let clip = config.gradClip > 0 && norm > config.gradClip ? Float(config.gradClip / (norm + 1e-6)) : 1
        let lr = config.schedule.lr(step: step)
        pool.run { w in
            optimizer.updateAndClear(
                params: model.parameters.baseAddress!, grads: grads[0].baseAddress!, range: paramRanges[w],
                lr: lr, gradScale: clip)
        }
        optimizer.finishStep()
        step += 1
        return StepStats(
            step: step, loss: loss, lr: lr, gradNorm: norm, tokens: tokensPerStep, seconds: secondsSince(start))
    }
}

/// grads[0][range] = sum over k of weights[k] * grads[k][range] (k = 0 first), and grads[k][range]
/// = 0 for k >= 1, in one pass; returns the sum of squares of the result. Squares add up in Float
/// lanes over blocks of 1024 and the blocks in Double, in a fixed order: deterministic, and within
/// about 1e-7 of an all-Double sum.
func sumGradients(_ grads: [UnsafeMutableBufferPointer<Float>], weights: [Float], range: Range<Int>) -> Double {
    let g0 = grads[0].baseAddress!
    let w0 = weights[0]
    let rest = grads.dropFirst().map { $0.baseAddress! }
    let restWeights = Array(weights.dropFirst())
    var sumSq = 0.0
    var i = range.lowerBound
    while i < range.upperBound {
        let end = min(i + 1024, range.upperBound)
        var acc = Vec8()
        while i + 8 <= end {
            var g = load8(g0 + i) * w0
            for k in rest.indices {
                g += load8(rest[k] + i) * restWeights[k]
                store8(Vec8(), rest[k] + i)
            }
            store8(g, g0 + i)
            acc += g * g
            i += 8
        }
        var tail: Float = 0
        while i < end {
            var g = g0[i] * w0
            for k in rest.indices {
                g += rest[k][i] * restWeights[k]
                rest[k][i] = 0
            }
            g0[i] = g
            tail += g * g
            i += 1
        }
        sumSq += Double(acc.sum()) + Double(tail)
    }
    return sumSq
}

/// Lets a model workspace be used from a worker thread (each worker touches only its own).
final class WorkspaceBox: @unchecked Sendable {
    let value: Workspace
    init(_ value: Workspace) { self.value = value }
}

extension TaskLoader: BatchSource {
    public var position: DataLoaderState { state }
    public func seek(to position: DataLoaderState) { restore(position) }
}

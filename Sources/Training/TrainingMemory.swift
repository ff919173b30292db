// A training run's memory, estimated before anything is allocated (parameters, their gradient
// per worker thread, AdamW's two moments, every thread's workspace, the longest evaluation's
// workspaces and a checkpoint's copy of the parameters), and the check that refuses a run that
// cannot fit in what the machine has left, with what to change.
import Basics
import Model

public struct TrainingMemory: Sendable, Equatable {
    public var parameterBytes: Int64
    public var gradientBytes: Int64
    public var optimizerBytes: Int64
    public var workspaceBytes: Int64
    public var evaluationBytes: Int64
    public var total: Int64 { parameterBytes + gradientBytes + optimizerBytes + workspaceBytes + evaluationBytes }

    /// The estimate for `train` on `model` with windows of `time` tokens; `evaluationTimes` are
    /// the window lengths the evaluations run at (their workspaces live beside the trainer's).
    public init(model: ModelConfig, train: TrainConfig, time T: Int, evaluationTimes: [Int] = []) throws {
        try train.validate()
        let footprint = try ModelFootprint(model)
        let threads = min(train.threads, train.batch)
        let rows = (0..<threads).map { w in train.batch * (w + 1) / threads - train.batch * w / threads }
        func workspaces(_ time: Int) -> Int64 {
            rows.reduce(Int64(0)) { $0 + 4 * Int64(footprint.workspaceFloats(batch: $1, time: time)) }
        }
        let P = 4 * Int64(footprint.parameters)
        parameterBytes = 2 * P  // the arena, and a checkpoint's copy while it is written
        gradientBytes = Int64(threads) * P
        optimizerBytes = 2 * P
        workspaceBytes = workspaces(T) + 8 * Int64(train.batch * T)
        evaluationBytes = evaluationTimes.map { workspaces($0) + 8 * Int64(train.batch * $0) }.max() ?? 0
    }

    /// Throws `TrainingError.notEnoughMemory` when the estimate exceeds `available` (by default
    /// what the machine and the process's limits leave now).
    public func check(available: MemoryAvailable? = MemoryAvailable.current()) throws {
        guard let available, total > available.bytes else { return }
        throw TrainingError.notEnoughMemory(
            needed: total, available: available.bytes, limit: available.source, breakdown: breakdown)
    }

    /// "parameters 1.2 GB, gradients 2.4 GB, ...", the parts in the order they are allocated.
    public var breakdown: String {
        [
            ("parameters", parameterBytes), ("gradients", gradientBytes), ("AdamW moments", optimizerBytes),
            ("activations", workspaceBytes), ("evaluation", evaluationBytes),
        ].filter { $0.1 > 0 }.map { "\($0.0) \(Format.bytes($0.1))" }.joined(separator: ", ")
    }
}

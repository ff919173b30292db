// Generation under the staircase (attention.md §1c): token t's pass-N state needs the N rows that
// contain t's chunk, restricted to chunks <= chunk(t). Completed chunks are committed to a stream
// state (their trailing rows' per-layer inputs and cache), so each new token re-runs only its
// partial chunk: N core applications over at most N*C tokens plus the cache.
import Kernels

final class StaircaseGenerator: TokenGenerator {
    let model: LanguageModel
    let schedule: Staircase
    let maxTokens: Int
    private(set) var position = 0
    private let state = ScheduleState(batch: 1)
    private let chunk: Int
    private var pending: [Int32] = []
    /// Head workspaces by pending length, sharing one set of row workspaces.
    private var workspaces: [Int: Workspace] = [:]
    private let buffers = StaircaseBuffers()
    private let ln: UnsafeMutablePointer<Float>, logits: UnsafeMutablePointer<Float>
    private let stats = UnsafeMutablePointer<Float>.allocate(capacity: 2)

    init(model: LanguageModel, schedule: Staircase, maxTokens: Int) {
        precondition(maxTokens >= 1, "a generator needs maxTokens >= 1")
        (self.model, self.schedule, self.maxTokens) = (model, schedule, maxTokens)
        chunk = schedule.chunk == 0 ? maxTokens : schedule.chunk
        ln = .allocate(capacity: model.config.channels)
        logits = .allocate(capacity: model.config.vocabSize)
        stats.initialize(repeating: 0, count: 2)
    }

    deinit {
        ln.deallocate()
        logits.deallocate()
        stats.deallocate()
    }

    func reset() {
        position = 0
        pending = []
        state.reset()
    }

    func next(token: Int32) -> UnsafeBufferPointer<Float> {
        precondition(
            position < maxTokens,
            "generator is full (\(maxTokens) tokens); call reset() or make a larger one")
        pending.append(token)
        position += 1
        let T = pending.count
        let ws =
            workspaces[T]
            ?? schedule.makeWorkspace(model, batch: 1, time: T)
        workspaces[T] = ws
        ws.scheduleStorage = buffers
        _ = pending.withUnsafeBufferPointer {
            schedule.run(
                model, ws, tokens: $0.baseAddress!, targets: nil, gradients: false, state: state,
                commit: T == chunk)
        }
        if T == chunk { pending = [] }
        let (C, V) = (model.config.channels, model.config.vocabSize)
        model.normForward(
            ln, stats, stats + 1, ws.p(ws.final) + (T - 1) * C, model.layout.normFWeight,
            model.layout.normFBias, 1)
        matmulForward(
            out: logits, inp: ln, weight: model.w(model.layout.lmHead), bias: nil, BT: 1, C: C,
            OC: V)
        return UnsafeBufferPointer(start: logits, count: V)
    }
}

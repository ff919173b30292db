// Staircase attention as a schedule (attention.md §1c, architecture.md §3.5): the same L-layer
// core applied in rows. Chunk c holds tokens [cC, (c+1)C); row r holds chunks max(0, r-N+1) ...
// min(r, n-1), oldest first; chunk r enters as embeddings, older chunks as the previous row's
// final-layer outputs (backward tokens, no extra norm or projection); after row r the oldest
// chunk r-N+1 has had N passes and its output is its output state, which alone goes through the
// final norm and head (loss on pass-N states only). The ladder is the one-chunk case (C >= T).
// Backward (BPTT through all rows of the call): rows in reverse; a row's output gradient is the
// loss gradient of its finishing chunk plus the next row's input gradient for its other chunks;
// its input gradient splits into backward tokens (to the previous row) and embeddings.
// Cache (Fig. 1b/1c, "our definition"): a finished chunk stays as keys/values, at layer l its
// layer-l inputs from its finishing row. Within one call gradients flow through cached chunks
// back to their finishing row (so N=1 + global cache is exactly the plain transformer, values and
// gradients); memory from earlier calls (cache and trailing rows) is detached.
import Attention
import Basics
import Kernels

public struct Staircase: Schedule {
    public static let name = "staircase"

    public enum Cache: Sendable, Equatable {
        case none
        case global
        /// The k most recently finished chunks (0 = none).
        case chunks(Int)
    }

    /// Chunk size C (forward step); 0 = the whole call is one chunk (the ladder).
    public let chunk: Int
    /// Recurrent steps N: passes of every chunk through the core.
    public let steps: Int
    public let cache: Cache
    public var passes: Int { steps }

    public var options: [String: ConfigValue] {
        let cached: ConfigValue =
            switch cache {
            case .none: .string("none")
            case .global: .string("global")
            case .chunks(let k): .int(k)
            }
        return ["chunk": .int(chunk), "steps": .int(steps), "cache": cached]
    }

    /// Options: `chunk` (C, default 64), `steps` (N, default 2), `cache` ("none" | "global" | k).
    public init(options: [String: ConfigValue], config: ModelConfig) throws {
        func fail(_ name: String, _ message: String) -> ModelError {
            .invalidConfig(field: "schedule.\(name)", message: message)
        }
        func int(_ name: String, _ value: Int) throws -> Int {
            switch options[name] {
            case nil: return value
            case .int(let v) where v >= 1: return v
            case let other?: throw fail(name, "must be a positive integer (got \(other))")
            }
        }
        let chunk = try int("chunk", 64)
        let steps = try int("steps", 2)
        var cache = Cache.none
        switch options["cache"] {
        case nil, .string("none"): cache = .none
        case .string("global"): cache = .global
        case .int(let k) where k >= 0: cache = k == 0 ? .none : .chunks(k)
        case let other?:
            throw fail(
                "cache", "must be \"none\", \"global\" or a number of chunks >= 0 (got \(other))")
        }
        for name in options.keys.sorted() where !["chunk", "steps", "cache"].contains(name) {
            throw fail(name, "unknown staircase option; known: cache, chunk, steps")
        }
        self.init(chunk: chunk, steps: steps, cache: cache)
    }

    public init(chunk: Int, steps: Int, cache: Cache = .none) {
        precondition(chunk >= 0 && steps >= 1, "staircase needs chunk >= 0 and steps >= 1")
        (self.chunk, self.steps, self.cache) = (chunk, steps, cache)
    }

    /// A head-only workspace (final norm, LM head, loss over the whole call); the rows get
    /// workspaces of their own on first use.
    public func makeWorkspace(_ model: LanguageModel, batch: Int, time: Int) -> Workspace {
        Workspace(
            config: model.config, variant: model.attention, batch: batch, time: time, layers: 0)
    }

    /// The head-only workspace plus the row workspaces a call over `time` tokens grows to: one
    /// per row (n + N - 1 rows for n chunks), each over at most N chunks plus its cached memory
    /// (rounded up to a power of two, as `StaircaseBuffers.row` grows it), and each row's extra
    /// arena of (L + 1) residual inputs and L memory inputs.
    public func workspaceFloats(_ config: ModelConfig, variant: any AttentionVariant, batch: Int, time: Int) -> Int {
        let head = WorkspaceLayout(config: config, variant: variant, batch: batch, time: time, layers: 0).floatCount
        let C = chunk == 0 ? time : chunk
        let n = (time + C - 1) / C
        let span = min(time, steps * C)
        var memory = cache == .none ? 0 : time
        if memory > 0 { memory = 1 << (Int.bitWidth - (memory - 1).leadingZeroBitCount) }
        let row = WorkspaceLayout(config: config, variant: variant, batch: batch, time: span, memory: memory)
        let L = config.layers
        let extra = (L + 1) * batch * span * config.channels + L * batch * memory * config.channels
        return head + (n + steps - 1) * (row.floatCount + extra)
    }

    /// N core applications per token over a span of at most N*C tokens, one head.
    public func flopsPerToken(_ model: LanguageModel) -> Double {
        let T = model.config.context
        let span = chunk == 0 ? T : min(T, steps * chunk)
        let f = model.plainFlops(span: span)
        return Double(steps) * f.core + f.head
    }

    public func forward(
        _ model: LanguageModel, _ ws: Workspace, tokens: UnsafePointer<Int32>,
        targets: UnsafePointer<Int32>?, gradients: Bool, state: ScheduleState?
    ) -> Float {
        run(
            model, ws, tokens: tokens, targets: targets, gradients: gradients, state: state,
            commit: state != nil)
    }

    /// The rows over tokens (B, ws.time), continuing `state`'s streams; with commit the state is
    /// advanced past these tokens (they must then be whole chunks).
    func run(
        _ model: LanguageModel, _ ws: Workspace, tokens: UnsafePointer<Int32>,
        targets: UnsafePointer<Int32>?, gradients: Bool, state: ScheduleState?, commit: Bool
    ) -> Float {
        let (B, T, D) = (ws.batch, ws.time, model.config.channels)
        let C = chunk == 0 ? T : chunk
        let P = state?.position ?? 0
        precondition(P % C == 0, "a stream continues at a chunk boundary (position \(P), C \(C))")
        precondition(!commit || T % C == 0, "segments of a stream must be whole chunks of \(C)")
        model.checkTokens(tokens, count: B * T)
        ws.tokens.update(from: tokens, count: B * T)
        let buffers = ws.scheduleStorage as? StaircaseBuffers ?? StaircaseBuffers()
        ws.scheduleStorage = buffers
        let stream = state?.storage as? StaircaseStream ?? StaircaseStream()
        let n = (T + C - 1) / C
        let N = steps
        buffers.plans = plan(T: T, C: C, g0: P / C, stream: stream)
        (buffers.chunk, buffers.chunks, buffers.position) = (C, n, P)
        let wte = model.w(model.layout.wte)
        for (r, plan) in buffers.plans.enumerated() {
            let row = buffers.row(
                r, model, batch: B, time: min(T, N * C), memory: plan.memoryTokens)
            let x = row.ws.p(row.ws.resid[0])
            let Tr = plan.length
            if r > 0 {
                let prev = buffers.plans[r - 1]
                let out = buffers.rows[r - 1].ws
                copyRows(
                    B, plan.backward, D, from: out.p(out.final), prev.length,
                    plan.start - prev.start, to: x, Tr, 0)
            }
            if plan.hasForward {
                let size = min(C, T - r * C)
                for b in 0..<B {
                    embeddingForward(
                        out: x + (b * Tr + plan.backward) * D, tokens: tokens + b * T + r * C,
                        wte: wte, BT: size, C: D)
                }
            }
            gatherMemory(plan, into: row, buffers: buffers, stream: stream, batch: B, channels: D)
            model.coreForward(
                row.ws, time: Tr, pos0: P + plan.start, memory: memory(plan, row))
            let c = r - N + 1
            if c >= 0 && c < n {
                copyRows(
                    B, min(C, T - c * C), D, from: row.ws.p(row.ws.final), Tr, 0,
                    to: ws.p(ws.final), T, c * C)
            }
        }
        if let state, commit {
            self.commit(stream, buffers: buffers, batch: B, channels: D)
            state.storage = stream
            state.position += T
        }
        return model.headForward(ws, targets: targets, gradients: gradients)
    }

    func memory(_ plan: RowPlan, _ row: StaircaseRow) -> CoreMemory? {
        guard plan.memoryTokens > 0 else { return nil }
        return CoreMemory(
            tokens: plan.memoryTokens, layers: (0..<row.layers).map { UnsafePointer(row.memIn($0)) }
        )
    }

    public func backward(
        _ model: LanguageModel, _ ws: Workspace, grads: UnsafeMutablePointer<Float>
    ) {
        let buffers = ws.scheduleStorage as! StaircaseBuffers
        let (B, T, D, L) = (ws.batch, ws.time, model.config.channels, model.config.layers)
        let C = buffers.chunk
        let n = buffers.chunks
        let N = steps
        let plans = buffers.plans
        model.headBackward(ws, grads: grads)
        for r in plans.indices { buffers.rows[r].zeroExtras() }
        for c in 0..<n {  // the loss gradient of each chunk's pass-N state, in its finishing row
            copyRows(
                B, min(C, T - c * C), D, from: ws.p(ws.dresid), T, c * C,
                to: buffers.rows[c + N - 1].extra(L), plans[c + N - 1].length, 0)
        }
        let dwte = grads + model.layout.wte
        for r in plans.indices.reversed() {
            let plan = plans[r]
            let row = buffers.rows[r]
            let Tr = plan.length
            let dx = row.ws.p(row.ws.dresid)
            dx.update(from: row.extra(L), count: B * Tr * D)
            model.coreBackward(
                row.ws, time: Tr, pos0: buffers.position + plan.start, memory: memory(plan, row),
                grads: grads, extra: { l in UnsafePointer(row.extra(l)) })
            if r > 0 {  // backward tokens: to the previous row's outputs
                let prev = plans[r - 1]
                addRows(
                    B, plan.backward, D, from: dx, Tr, 0,
                    to: buffers.rows[r - 1].extra(L), prev.length, plan.start - prev.start)
            }
            if plan.hasForward {
                let size = min(C, T - r * C)
                for b in 0..<B {
                    embeddingBackward(
                        dwte: dwte, dout: dx + (b * Tr + plan.backward) * D,
                        tokens: ws.tokens + b * T + r * C, BT: size, C: D)
                }
            }
            for (source, offset, tokens) in plan.memory {  // cached chunks of this call
                guard case .localChunk(let c) = source else { continue }
                for l in 0..<L {
                    addRows(
                        B, tokens, D, from: row.ws.p(row.ws.dMemory[l]), plan.memoryTokens,
                        offset, to: buffers.rows[c + N - 1].extra(l), plans[c + N - 1].length, 0)
                }
            }
        }
    }

    public func makeGenerator(_ model: LanguageModel, maxTokens: Int) -> any TokenGenerator {
        StaircaseGenerator(model: model, schedule: self, maxTokens: maxTokens)
    }
}

/// The ladder (attention.md §1c): the core applied `steps` times to the whole sequence, i.e. a
/// staircase whose single chunk is the whole call. Option: `steps` (N, default 2).
public struct Ladder: Schedule {
    public static let name = "ladder"
    public let staircase: Staircase
    public var passes: Int { staircase.steps }
    public var options: [String: ConfigValue] { ["steps": .int(staircase.steps)] }

    public init(options: [String: ConfigValue], config: ModelConfig) throws {
        if let name = options.keys.sorted().first(where: { $0 != "steps" }) {
            throw ModelError.invalidConfig(
                field: "schedule.\(name)", message: "unknown ladder option; known: steps")
        }
        let s = try Staircase(options: options, config: config)
        staircase = Staircase(chunk: 0, steps: s.steps)
    }

    public func makeWorkspace(_ model: LanguageModel, batch: Int, time: Int) -> Workspace {
        staircase.makeWorkspace(model, batch: batch, time: time)
    }
    public func workspaceFloats(_ config: ModelConfig, variant: any AttentionVariant, batch: Int, time: Int) -> Int {
        staircase.workspaceFloats(config, variant: variant, batch: batch, time: time)
    }
    public func flopsPerToken(_ model: LanguageModel) -> Double {
        staircase.flopsPerToken(model)
    }
    public func forward(
        _ model: LanguageModel, _ ws: Workspace, tokens: UnsafePointer<Int32>,
        targets: UnsafePointer<Int32>?, gradients: Bool, state: ScheduleState?
    ) -> Float {
        staircase.forward(
            model, ws, tokens: tokens, targets: targets, gradients: gradients, state: state)
    }
    public func backward(
        _ model: LanguageModel, _ ws: Workspace, grads: UnsafeMutablePointer<Float>
    ) {
        staircase.backward(model, ws, grads: grads)
    }
    public func makeGenerator(_ model: LanguageModel, maxTokens: Int) -> any TokenGenerator {
        staircase.makeGenerator(model, maxTokens: maxTokens)
    }
}

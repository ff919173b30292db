// The staircase's bookkeeping (attention.md §1c): which chunks each row holds, where its memory
// comes from, the per-thread row workspaces, and the stream carried across segments.
// Memory of a row, oldest first and contiguous in time with the row's first token:
//   - cached chunks (cache "global" or k): finished chunks with their layer-l inputs from the
//     row where they finished; from this call (gradients flow back to that row) or from earlier
//     calls (detached);
//   - for the first N-1 rows of a call continuing a stream: the previous calls' part of the same
//     whole-stream row (the trailing rows' per-layer inputs, detached), so a stream processed in
//     segments has exactly the values of one pass over the whole stream.
import Kernels

/// Where a run of memory tokens comes from.
enum MemorySource {
    case streamChunk(Int)  // index into StaircaseStream.cache
    case localChunk(Int)  // chunk of this call; its layer inputs are in its finishing row
    case streamRow(Int)  // index into StaircaseStream.trailing
}

/// One row of one call: local chunks lo...hi over tokens start ..< start+length.
struct RowPlan {
    var lo: Int, hi: Int
    var start: Int, length: Int
    /// Tokens at the row's front that are backward tokens (last row's outputs).
    var backward: Int
    /// Whether chunk hi enters as embeddings in this row.
    var hasForward: Bool
    var memory: [(source: MemorySource, offset: Int, tokens: Int)] = []
    var memoryTokens = 0
}

/// A finished chunk kept for the cache: per layer (B, tokens, C) inputs in its finishing row.
struct CachedChunk {
    var chunk: Int  // global chunk index
    var tokens: Int
    var layers: [[Float]]
}

/// The part of a whole-stream row that earlier calls computed: chunks firstChunk ..< the next
/// call's first chunk, per layer (B, tokens, C).
struct TrailingRow {
    var firstChunk: Int
    var tokens: Int
    var layers: [[Float]]
}

/// What a ScheduleState holds for the staircase.
final class StaircaseStream {
    var cache: [CachedChunk] = []
    /// Whole-stream rows g0, g0+1, ... (g0 = the next call's first chunk); N-1 of them.
    var trailing: [TrailingRow] = []
}

/// A row's workspace plus what the staircase adds around the core: extra[l] (B, time, C), the
/// gradient of the row's layer-l inputs from outside the core (l = L: of its outputs), and
/// memIn[l] (B, memory, C), the assembled memory.
final class StaircaseRow {
    let ws: Workspace
    let layers: Int
    private let arena: UnsafeMutablePointer<Float>
    /// Floats of the extra arena (residual and memory inputs).
    let arenaCount: Int
    private let extraStride: Int, memStride: Int

    init(_ model: LanguageModel, batch: Int, time: Int, memory: Int) {
        ws = Workspace(
            config: model.config, variant: model.attention, batch: batch, time: time,
            memory: memory)
        layers = model.config.layers
        extraStride = batch * time * model.config.channels
        memStride = batch * memory * model.config.channels
        let n = (layers + 1) * extraStride + layers * memStride
        arenaCount = max(1, n)
        arena = .allocate(capacity: max(1, n))
        arena.initialize(repeating: 0, count: max(1, n))
    }

    deinit { arena.deallocate() }

    func extra(_ l: Int) -> UnsafeMutablePointer<Float> { arena + l * extraStride }
    func memIn(_ l: Int) -> UnsafeMutablePointer<Float> {
        arena + (layers + 1) * extraStride + l * memStride
    }
    func zeroExtras() { arena.update(repeating: 0, count: (layers + 1) * extraStride) }
}

/// Per-thread staircase storage, kept in Workspace.scheduleStorage: row workspaces (grown on
/// demand) and the plan of the last forward, for backward.
final class StaircaseBuffers: ScheduleStorage {
    var rows: [StaircaseRow] = []
    var floatCount: Int { rows.reduce(0) { $0 + $1.ws.floatCount + $1.arenaCount } }
    var plans: [RowPlan] = []
    var chunk = 0, chunks = 0, position = 0

    /// Row r's workspace, reallocated if it cannot hold `time` tokens and `memory` memory tokens.
    func row(_ r: Int, _ model: LanguageModel, batch: Int, time: Int, memory: Int)
        -> StaircaseRow
    {
        if r < rows.count, rows[r].ws.time >= time, rows[r].ws.memory >= memory { return rows[r] }
        var t = time
        var m = memory
        if r < rows.count { (t, m) = (max(t, rows[r].ws.time), max(m, rows[r].ws.memory)) }
        if m > 0 { m = max(m, 1 << (Int.bitWidth - (m - 1).leadingZeroBitCount)) }
        let new = StaircaseRow(model, batch: batch, time: t, memory: m)
        if r < rows.count { rows[r] = new } else { rows.append(new) }
        return new
    }
}

extension Staircase {
    /// The rows of a call over T tokens at chunk size C, starting at global chunk g0.
    func plan(T: Int, C: Int, g0: Int, stream: StaircaseStream) -> [RowPlan] {
        let n = (T + C - 1) / C
        let N = steps
        var plans: [RowPlan] = []
        for r in 0..<(n + N - 1) {
            let lo = max(0, r - N + 1)
            let hi = min(r, n - 1)
            let start = lo * C
            let end = min((hi + 1) * C, T)
            let hasForward = r < n
            var plan = RowPlan(
                lo: lo, hi: hi, start: start, length: end - start,
                backward: (hasForward ? r * C : end) - start, hasForward: hasForward)
            var sources: [(MemorySource, Int)] = []
            if cache != .none {
                let R = g0 + r
                for (i, c) in stream.cache.enumerated() where c.chunk <= R - N {
                    sources.append((.streamChunk(i), c.tokens))
                }
                if r - N >= 0 {
                    for c in 0...(r - N) { sources.append((.localChunk(c), min(C, T - c * C))) }
                }
                if case .chunks(let k) = cache { sources = Array(sources.suffix(k)) }
            }
            if r < stream.trailing.count {
                sources.append((.streamRow(r), stream.trailing[r].tokens))
            }
            for (source, tokens) in sources {
                plan.memory.append((source, plan.memoryTokens, tokens))
                plan.memoryTokens += tokens
            }
            plans.append(plan)
        }
        return plans
    }

    /// Copies row r's memory (per layer) into row.memIn.
    func gatherMemory(
        _ plan: RowPlan, into row: StaircaseRow, buffers: StaircaseBuffers,
        stream: StaircaseStream, batch B: Int, channels: Int
    ) {
        let Tm = plan.memoryTokens
        for l in 0..<row.layers {
            let dst = row.memIn(l)
            for (source, offset, tokens) in plan.memory {
                switch source {
                case .streamChunk(let i):
                    stream.cache[i].layers[l].withUnsafeBufferPointer {
                        copyRows(
                            B, tokens, channels, from: $0.baseAddress!, tokens, 0, to: dst, Tm,
                            offset)
                    }
                case .streamRow(let i):
                    stream.trailing[i].layers[l].withUnsafeBufferPointer {
                        copyRows(
                            B, tokens, channels, from: $0.baseAddress!, tokens, 0, to: dst, Tm,
                            offset)
                    }
                case .localChunk(let c):
                    let source = buffers.rows[c + steps - 1]
                    copyRows(
                        B, tokens, channels, from: source.ws.p(source.ws.resid[l]),
                        buffers.plans[c + steps - 1].length, 0, to: dst, Tm, offset)
                }
            }
        }
    }

    /// Advances the stream past a call of n full chunks: caches this call's finished chunks and
    /// keeps the trailing rows' per-layer inputs (detached copies).
    func commit(_ stream: StaircaseStream, buffers: StaircaseBuffers, batch B: Int, channels: Int) {
        let n = buffers.chunks
        let N = steps
        let C = buffers.chunk
        let g0 = buffers.position / C
        let L = buffers.rows[0].layers
        func take(_ row: StaircaseRow, _ l: Int, _ count: Int, _ length: Int) -> [Float] {
            var out = [Float](repeating: 0, count: B * count * channels)
            out.withUnsafeMutableBufferPointer {
                copyRows(
                    B, count, channels, from: row.ws.p(row.ws.resid[l]), length, 0,
                    to: $0.baseAddress!, count, 0)
            }
            return out
        }
        if cache != .none {
            for c in 0..<n {
                let row = buffers.rows[c + N - 1]
                let length = buffers.plans[c + N - 1].length
                stream.cache.append(
                    CachedChunk(
                        chunk: g0 + c, tokens: C,
                        layers: (0..<L).map { take(row, $0, C, length) }))
            }
            // rows of the next call still need chunks finished up to N-1 rows back
            if case .chunks(let k) = cache { stream.cache = Array(stream.cache.suffix(k + N - 1)) }
        }
        var trailing: [TrailingRow] = []
        for s in 0..<(N - 1) {
            let r = n + s
            let plan = buffers.plans[r]
            let row = buffers.rows[r]
            let new = (0..<L).map { take(row, $0, plan.length, plan.length) }
            guard r < stream.trailing.count else {
                trailing.append(
                    TrailingRow(firstChunk: g0 + plan.lo, tokens: plan.length, layers: new))
                continue
            }
            let old = stream.trailing[r]
            let tokens = old.tokens + plan.length
            var layers: [[Float]] = []
            for l in 0..<L {
                var joined = [Float](repeating: 0, count: B * tokens * channels)
                joined.withUnsafeMutableBufferPointer { dst in
                    old.layers[l].withUnsafeBufferPointer {
                        copyRows(
                            B, old.tokens, channels, from: $0.baseAddress!, old.tokens, 0,
                            to: dst.baseAddress!, tokens, 0)
                    }
                    new[l].withUnsafeBufferPointer {
                        copyRows(
                            B, plan.length, channels, from: $0.baseAddress!, plan.length, 0,
                            to: dst.baseAddress!, tokens, old.tokens)
                    }
                }
                layers.append(joined)
            }
            trailing.append(TrailingRow(firstChunk: old.firstChunk, tokens: tokens, layers: layers))
        }
        stream.trailing = trailing
    }
}

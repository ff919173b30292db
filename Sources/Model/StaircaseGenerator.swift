// Generation under the staircase (attention.md §1c) with a decode cache per row: while chunk g is
// generated, its tokens go through the N whole-stream rows g, g+1, ..., g+N-1 (row R holds chunks
// R-N+1 ... R, after its memory of cached chunks <= R-N). Each row is a TokenDecoder whose
// per-layer caches (the variant's decode cache: KV or recurrent state) hold the row's memory and
// its tokens so far, starting at the position of its first token (AttentionStep.pos0). A new
// token takes N decode steps of the core, row r's input being row r-1's output (row 0: the
// embedding); row g+N-1's output is the token's pass-N state, which goes through the head.
// At a chunk boundary row g is done, rows g+1 ... g+N-1 carry on as they are (their caches
// already hold the chunks they share with the stream's rows), and row g+N starts: its cache
// gets the memory chunks (cache "global" or k) from their layer inputs in their finishing rows,
// recorded as the last row ran. Same values as running the rows over the partial chunk again for
// every token (tested), at N decode steps per token instead of N passes over up to N*C tokens.
import Kernels

final class StaircaseGenerator: TokenGenerator {
    let model: LanguageModel
    let schedule: Staircase
    let maxTokens: Int
    private(set) var position = 0
    private let chunk: Int
    /// rows[r]: the whole-stream row g + r while chunk g is generated.
    private var rows: [TokenDecoder]
    /// Layer-l input of finished token t in its finishing row at (l * maxTokens + t) * C, for
    /// the memory of later rows; nil without a cache.
    private let finished: UnsafeMutablePointer<Float>?

    init(model: LanguageModel, schedule: Staircase, maxTokens: Int) {
        precondition(maxTokens >= 1, "a generator needs maxTokens >= 1")
        (self.model, self.schedule, self.maxTokens) = (model, schedule, maxTokens)
        let C = schedule.chunk == 0 ? maxTokens : schedule.chunk
        chunk = C
        let memory =
            switch schedule.cache {
            case .none: 0
            case .global: maxTokens
            case .chunks(let k): k * C
            }
        let span = min(maxTokens, schedule.steps * C + memory)
        rows = (0..<schedule.steps).map { _ in TokenDecoder(model: model, maxTokens: span) }
        if memory > 0 {
            let count = model.config.layers * maxTokens * model.config.channels
            finished = .allocate(capacity: count)
            finished!.initialize(repeating: 0, count: count)
        } else {
            finished = nil
        }
    }

    deinit { finished?.deallocate() }

    func reset() {
        position = 0
        for row in rows { row.reset(firstPosition: 0) }
    }

    func next(token: Int32) -> UnsafeBufferPointer<Float> {
        precondition(
            position < maxTokens,
            "generator is full (\(maxTokens) tokens); call reset() or make a larger one")
        let (N, C) = (schedule.steps, model.config.channels)
        if position > 0 && position % chunk == 0 { startRow(position / chunk + N - 1) }
        var tok = token
        model.checkTokens(&tok, count: 1)
        embeddingForward(out: rows[0].x, tokens: &tok, wte: model.w(model.layout.wte), BT: 1, C: C)
        for r in 0..<N {
            if r > 0 { rows[r].x.update(from: rows[r - 1].x, count: C) }
            rows[r].coreStep(
                record: r == N - 1 ? finished.map { $0 + position * C } : nil, recordStride: maxTokens * C)
        }
        position += 1
        return rows[N - 1].head()
    }

    /// Retires row R-N (done with its last chunk) and starts whole-stream row R in its decoder:
    /// its cache begins at its first memory chunk (or its own first chunk) and gets its memory.
    private func startRow(_ R: Int) {
        let N = schedule.steps
        let first =
            switch schedule.cache {
            case .none: max(0, R - N + 1)
            case .global: 0
            case .chunks(let k): max(0, R - N - k + 1)
            }
        let row = rows.removeFirst()
        row.reset(firstPosition: first * chunk)
        if let finished {
            let (C, stride) = (model.config.channels, maxTokens * model.config.channels)
            for t in (first * chunk)..<(max(0, R - N + 1) * chunk) {
                row.appendMemory { l in UnsafePointer(finished + l * stride + t * C) }
            }
        }
        rows.append(row)
    }
}

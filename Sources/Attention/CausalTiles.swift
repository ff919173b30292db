// The tile engine of the softmax family: softmax_rope, softmax_nope, alibi, forgetting and sigmoid
// (shared/spec/attention.md §1a, §1d, §1g, §1h, §1i): per query head, rows go in tiles of `tile`
// queries; one sgemm gives the tile's logits against the keys its rows see (0..<end-of-tile, or
// from the first row's window start with a sliding window, §2.3 T1, or its segment's start with
// infini's segment mask), a hook adds the variant's bias b_ij (ALiBi -m(i-j),
// FoX c_i - c_j from a Double cumsum) and optional per-row scale, a row map turns them into weights
// (softmax saving only the logsumexp, sigmoid(S + b), or rela's max(S, 0)), and one sgemm gives O. Backward
// reuses the weights if forward kept them (`TileHead.probs`, the variants' "probs_cache_mib"),
// else recomputes them tile by tile (flash-style, as SoftmaxRoPE; Dao et al., arXiv 2205.14135).
// Extra key columns (`ExtraKeys`) join the same softmax row before the causal block: attention
// sinks (the sequence's first S keys, seen by every later query with a query of their own
// rotation, sinks) or persistent memory (learned keys and values every query sees, persistent).
import Foundation
import Kernels

/// How a row of logits becomes attention weights.
enum RowMap {
    case softmax
    case sigmoid(Float)  // P = sigmoid(S + b), no normalisation
    case relu  // P = max(S, 0), no normalisation (rela)
}

/// The additive logit bias b_ij of a head.
enum LogitBias {
    case none
    case linear(Float)  // ALiBi: -m (i - j)
    case cumulative(UnsafePointer<Double>)  // FoX: c_i - c_j, c (T) in Double

    var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}

/// Keys in a row's softmax besides its causal (or windowed) keys, as the first columns of a tile.
enum ExtraKeys {
    case none
    /// Attention sinks: keys 0..<S, key s seen by every query i >= s; the causal block then starts
    /// at max(S, the window's first key).
    case sinks(Int)
    /// N persistent keys and values, seen by every query.
    case memory(Int)

    /// Columns of the extra block at most, whatever the tile.
    var count: Int {
        switch self {
        case .none: 0
        case .sinks(let n), .memory(let n): n
        }
    }
}

/// The extra columns' operands: the query rows as those columns see them (rows `ldq` apart, as
/// the head's q), their keys and values, and the factors the keys and values are used with.
struct ExtraOperands {
    var q: UnsafePointer<Float>, ldq: Int
    var k: UnsafePointer<Float>, ldk: Int
    var v: UnsafePointer<Float>, ldv: Int
    var keyScale: Float = 1, valueScale: Float = 1
}

/// Where the extra columns' gradients accumulate (+=): their query rows, keys and values.
struct ExtraGrads {
    var dq: UnsafeMutablePointer<Float>, lddq: Int
    var dk: UnsafeMutablePointer<Float>, lddk: Int
    var dv: UnsafeMutablePointer<Float>, lddv: Int
}

/// NoPE length scaling: logits of the query at position p times max(1, log(p+1) / log(T_train)).
struct LengthScale {
    var pos0: Int
    var invLogTrain: Double
    func factor(_ i: Int) -> Float { Float(max(1, log(Double(pos0 + i + 1)) * invLogTrain)) }
}

/// One head's operands; rows are `ld*` floats apart. lse (T) is used by softmax only.
struct TileHead {
    var T: Int, d: Int, dv: Int
    var q: UnsafePointer<Float>, ldq: Int
    var k: UnsafePointer<Float>, ldk: Int
    var v: UnsafePointer<Float>, ldv: Int
    var o: UnsafeMutablePointer<Float>, ldo: Int
    var lse: UnsafeMutablePointer<Float>?
    /// The operands of the kernel's extra columns (required when it has some).
    var extra: ExtraOperands? = nil
    /// Where forward keeps the weights, tile after tile (R x (i0 + R) each), for backward; nil to
    /// recompute them.
    var probs: UnsafeMutablePointer<Float>? = nil
}

/// Where one head's backward accumulates (+=). dc (T) collects d c_i for FoX.
struct TileGrads {
    var dO: UnsafePointer<Float>, lddo: Int
    var dq: UnsafeMutablePointer<Float>, lddq: Int
    var dk: UnsafeMutablePointer<Float>, lddk: Int
    var dv: UnsafeMutablePointer<Float>, lddv: Int
    var dc: UnsafeMutablePointer<Double>?
    /// Where the extra columns' gradients go (required when the kernel has some).
    var extra: ExtraGrads? = nil
}

struct TileKernel {
    var scale: Float
    var map: RowMap = .softmax
    var bias: LogitBias = .none
    var lengthScale: LengthScale? = nil
    var tile: Int
    /// Keys each query sees, itself included (sliding window); 0 = every earlier key.
    var window: Int = 0
    /// Keys in the same softmax before the causal block (sinks, persistent memory).
    var extra: ExtraKeys = .none
    /// Rows per segment when a query sees only the keys of its own segment (infini); 0 = none.
    var segment: Int = 0

    /// The first key query i sees.
    @inline(__always) func firstKey(_ i: Int) -> Int {
        if segment > 0 { return i - i % segment }
        return window > 0 ? max(0, i - window + 1) : 0
    }

    /// The first key of query i's causal block (after the sinks, which are extra columns).
    @inline(__always) func blockKey(_ i: Int) -> Int {
        if case .sinks(let S) = extra { return max(S, firstKey(i)) }
        return firstKey(i)
    }

    /// Extra columns query i sees (the first columns of its row).
    @inline(__always) func extraSeen(_ i: Int) -> Int {
        switch extra {
        case .none: 0
        case .sinks(let S): min(S, i + 1)
        case .memory(let N): N
        }
    }

    /// The columns of the tile of rows i0..<i0+R: E extra ones, then keys k0..<i0+R; N in all.
    @inline(__always) func columns(_ i0: Int, _ R: Int) -> (E: Int, k0: Int, N: Int) {
        let (E, k0) = (extraSeen(i0 + R - 1), blockKey(i0))
        return (E, k0, E + max(0, i0 + R - k0))
    }

    /// The columns query i sees in its tile's row of `c`: extra 0..<e and causal lo..<n.
    @inline(__always) func seen(_ i: Int, _ c: (E: Int, k0: Int, N: Int)) -> (e: Int, lo: Int, n: Int) {
        let lo = c.E + blockKey(i) - c.k0
        return (extraSeen(i), lo, max(lo, c.E + i + 1 - c.k0))
    }

    /// The tile's rows as at most two GEMM row blocks, each with the columns its rows need: on
    /// a plain causal tile (no extra columns, window or segment) of 16 rows or more, the first
    /// half of the rows stops at its own last key, so the masked upper right quarter of the
    /// diagonal block is never multiplied (10% of attention's sgemm work at tile 64, T 256). The
    /// columns a block leaves out are zero in P and dS; every GEMM below skips them.
    @inline(__always) func rowBlocks(_ i0: Int, _ R: Int, _ c: (E: Int, k0: Int, N: Int)) -> RowBlocks {
        guard R >= 16, c.E == 0, c.k0 == 0, window == 0, segment == 0 else {
            return RowBlocks(R: R, split: R, first: c.N, N: c.N)
        }
        return RowBlocks(R: R, split: R / 2, first: i0 + R / 2, N: c.N)
    }

    /// Floats of one head's kept weights over T queries, tile after tile.
    func keptFloats(T: Int) -> Int { causalTileFloats(T: T, tile: tile) { columns($0, $1).N } }

    /// Floats of scratch for one head: weights and dP tiles (tile, T + extra), column sums.
    static func scratchCount(tile: Int, T: Int, extra: Int = 0) -> Int {
        2 * min(tile, T) * (T + extra) + T + extra
    }

    /// S (R, N) = scale · q[i0..<i0+R] · [extra keys | k[k0..<i0+R]]ᵀ, times the row scale, plus
    /// the bias on the causal block (for the keys each row sees).
    private func logits(_ h: TileHead, _ i0: Int, _ R: Int, _ S: UnsafeMutablePointer<Float>) {
        let c = columns(i0, R)
        if c.E > 0, let x = h.extra {
            BLAS.gemm(
                transB: true, M: R, N: c.E, K: h.d, alpha: scale * x.keyScale, A: x.q + i0 * x.ldq, lda: x.ldq,
                B: x.k, ldb: x.ldk, beta: 0, C: S, ldc: c.N)
        }
        for (r0, rows, n) in rowBlocks(i0, R, c).blocks {
            BLAS.gemm(
                transB: true, M: rows, N: n - c.E, K: h.d, alpha: scale, A: h.q + (i0 + r0) * h.ldq, lda: h.ldq,
                B: h.k + c.k0 * h.ldk, ldb: h.ldk, beta: 0, C: S + r0 * c.N + c.E, ldc: c.N)
        }
        guard lengthScale != nil || !bias.isNone else { return }
        for r in 0..<R {
            let i = i0 + r
            let row = S + r * c.N
            if let lengthScale { scaleInPlace(row, c.N, by: lengthScale.factor(i)) }
            let block = row + c.E
            let n = seen(i, c).n - c.E
            switch bias {
            case .none: break
            case .linear(let m): for j in 0..<n { block[j] += m * Float(c.k0 + j - i) }
            case .cumulative(let cum):
                let ci = cum[i]
                for j in 0..<n { block[j] += Float(ci - cum[c.k0 + j]) }
            }
        }
    }

    /// Weights of rows i0..<i0+R in place on their logits, zero outside the columns each row sees.
    private func weights(
        _ h: TileHead, _ i0: Int, _ R: Int, _ S: UnsafeMutablePointer<Float>,
        recompute: Bool
    ) {
        let c = columns(i0, R)
        for r in 0..<R {
            // query i0+r sees columns 0..<e (extra) and lo..<n (causal)
            let row = S + r * c.N
            let (e, lo, n) = seen(i0 + r, c)
            let seen = row + lo
            switch map {
            case .softmax where recompute:
                let shift = h.lse![i0 + r]
                _ = expShiftSum(row, e, shift: shift) + expShiftSum(seen, n - lo, shift: shift)
            case .softmax:
                let m = max(rowMax(row, e), rowMax(seen, n - lo))
                let sum = expShiftSum(row, e, shift: m) + expShiftSum(seen, n - lo, shift: m)
                scaleInPlace(row, e, by: 1 / sum)
                scaleInPlace(seen, n - lo, by: 1 / sum)
                h.lse![i0 + r] = m + log(sum)
            case .sigmoid(let b):
                sigmoidInPlace(row, e, shift: b)
                sigmoidInPlace(seen, n - lo, shift: b)
            case .relu:
                reluInPlace(row, e)
                reluInPlace(seen, n - lo)
            }
            (row + e).update(repeating: 0, count: lo - e)
            (row + n).update(repeating: 0, count: c.N - n)
        }
    }

    // MARK: - Forward

    func forward(_ h: TileHead, scratch: UnsafeMutablePointer<Float>) {
        var kept = h.probs
        var i0 = 0
        while i0 < h.T {
            let R = min(tile, h.T - i0)
            let c = columns(i0, R)
            let S = kept ?? scratch
            kept = kept.map { $0 + R * c.N }
            logits(h, i0, R, S)
            weights(h, i0, R, S, recompute: false)
            // O[i0..<i0+R] (R, dv) = P (R, N) · [extra v | v[k0..<k0+N-E]]
            if c.E > 0, let x = h.extra {
                BLAS.gemm(
                    M: R, N: h.dv, K: c.E, alpha: x.valueScale, A: S, lda: c.N, B: x.v, ldb: x.ldv, beta: 0,
                    C: h.o + i0 * h.ldo, ldc: h.ldo)
            }
            for (r0, rows, n) in rowBlocks(i0, R, c).blocks where n > c.E {
                BLAS.gemm(
                    M: rows, N: h.dv, K: n - c.E, A: S + r0 * c.N + c.E, lda: c.N, B: h.v + c.k0 * h.ldv,
                    ldb: h.ldv, beta: c.E > 0 ? 1 : 0, C: h.o + (i0 + r0) * h.ldo, ldc: h.ldo)
            }
            i0 += R
        }
    }

    // MARK: - Backward

    /// Accumulates dq, dk, dv (and dc, and the extra columns' gradients); returns Σ dS, the
    /// gradient of a sigmoid bias b.
    @discardableResult
    func backward(_ h: TileHead, _ g: TileGrads, scratch: UnsafeMutablePointer<Float>) -> Double {
        var kept = h.probs
        let width = h.T + extra.count
        let dS = scratch + min(tile, h.T) * width
        let colSum = dS + min(tile, h.T) * width
        var db = 0.0
        var i0 = 0
        while i0 < h.T {
            let R = min(tile, h.T - i0)
            let c = columns(i0, R)
            let P = kept ?? scratch
            if let p = kept {
                kept = p + R * c.N
            } else {
                logits(h, i0, R, P)
                weights(h, i0, R, P, recompute: true)
            }
            if g.dc != nil { colSum.update(repeating: 0, count: c.N) }
            valueGrads(h, g, i0, R, c, P: P, dP: dS)
            for r in 0..<R {
                let i = i0 + r
                let p = P + r * c.N
                let ds = dS + r * c.N
                switch map {
                case .softmax:
                    // forward was: P = softmax(S) ; so dS = P (dP - D), D_i = dO_i · O_i
                    let D = dot(g.dO + i * g.lddo, h.o + i * h.ldo, h.dv)
                    softmaxBackwardRow(ds, p, D, c.N)
                case .sigmoid:
                    // forward was: P = sigmoid(S + b) ; so dS = dP P (1 - P), db = Σ dS
                    db += Double(sigmoidBackwardRow(ds, p, c.N))
                case .relu:
                    // forward was: P = max(S, 0) ; so dS = dP where P > 0, else 0
                    for j in 0..<c.N where p[j] <= 0 { ds[j] = 0 }
                }
                // forward was: S_ij += c_i - c_j (causal block) ; so dc_i += Σ_j dS_ij, dc_j -= Σ_i dS_ij
                if let dc = g.dc { dc[i] += Double(accumulateRow(colSum, ds + c.E, c.N - c.E)) }
                if let lengthScale { scaleInPlace(ds, c.N, by: lengthScale.factor(i)) }
            }
            if let dc = g.dc { for j in 0..<c.N - c.E { dc[c.k0 + j] -= Double(colSum[j]) } }
            queryKeyGrads(h, g, i0, R, c, dS: dS)
            i0 += R
        }
        return db
    }

    /// forward was: O = P [extra v | v] ; so dP (R, N) = dO [extra v | v]ᵀ and dv += Pᵀ dO.
    private func valueGrads(
        _ h: TileHead, _ g: TileGrads, _ i0: Int, _ R: Int, _ c: (E: Int, k0: Int, N: Int),
        P: UnsafePointer<Float>, dP: UnsafeMutablePointer<Float>
    ) {
        let dO = g.dO + i0 * g.lddo
        if c.E > 0, let x = h.extra, let xg = g.extra {
            BLAS.gemm(
                transB: true, M: R, N: c.E, K: h.dv, alpha: x.valueScale, A: dO, lda: g.lddo, B: x.v, ldb: x.ldv,
                beta: 0, C: dP, ldc: c.N)
            BLAS.gemm(
                transA: true, M: c.E, N: h.dv, K: R, alpha: x.valueScale, A: P, lda: c.N, B: dO, ldb: g.lddo,
                beta: 1, C: xg.dv, ldc: xg.lddv)
        }
        let blocks = rowBlocks(i0, R, c)
        for (r0, rows, n) in blocks.blocks {
            BLAS.gemm(
                transB: true, M: rows, N: n - c.E, K: h.dv, A: dO + r0 * g.lddo, lda: g.lddo, B: h.v + c.k0 * h.ldv,
                ldb: h.ldv, beta: 0, C: dP + r0 * c.N + c.E, ldc: c.N)
        }
        blocks.zeroSkipped(dP)
        // dv's keys below the first block's end get every row; the keys after it only the
        // second block's rows (the first block's P is zero there)
        for (r0, k0, k1) in blocks.keyBlocks(E: c.E) {
            BLAS.gemm(
                transA: true, M: k1 - k0, N: h.dv, K: R - r0, A: P + r0 * c.N + k0, lda: c.N, B: dO + r0 * g.lddo,
                ldb: g.lddo, beta: 1, C: g.dv + (c.k0 + k0 - c.E) * g.lddv, ldc: g.lddv)
        }
    }

    /// forward was: S = s [qx kxᵀ | q kᵀ] ; so dq += s dS k, dk += s dSᵀ q, and alike for the
    /// extra columns (with their key factor).
    private func queryKeyGrads(
        _ h: TileHead, _ g: TileGrads, _ i0: Int, _ R: Int, _ c: (E: Int, k0: Int, N: Int),
        dS: UnsafePointer<Float>
    ) {
        if c.N > c.E {
            let blocks = rowBlocks(i0, R, c)
            for (r0, rows, n) in blocks.blocks {
                BLAS.gemm(
                    M: rows, N: h.d, K: n - c.E, alpha: scale, A: dS + r0 * c.N + c.E, lda: c.N,
                    B: h.k + c.k0 * h.ldk, ldb: h.ldk, beta: 1, C: g.dq + (i0 + r0) * g.lddq, ldc: g.lddq)
            }
            for (r0, k0, k1) in blocks.keyBlocks(E: c.E) {
                BLAS.gemm(
                    transA: true, M: k1 - k0, N: h.d, K: R - r0, alpha: scale, A: dS + r0 * c.N + k0, lda: c.N,
                    B: h.q + (i0 + r0) * h.ldq, ldb: h.ldq, beta: 1, C: g.dk + (c.k0 + k0 - c.E) * g.lddk,
                    ldc: g.lddk)
            }
        }
        guard c.E > 0, let x = h.extra, let xg = g.extra else { return }
        let alpha = scale * x.keyScale
        BLAS.gemm(
            M: R, N: h.d, K: c.E, alpha: alpha, A: dS, lda: c.N, B: x.k, ldb: x.ldk,
            beta: 1, C: xg.dq + i0 * xg.lddq, ldc: xg.lddq)
        BLAS.gemm(
            transA: true, M: c.E, N: h.d, K: R, alpha: alpha, A: dS, lda: c.N,
            B: x.q + i0 * x.ldq, ldb: x.ldq, beta: 1, C: xg.dk, ldc: xg.lddk)
    }

    // MARK: - Decode

    /// out (dv) = Σ_j w_j v_j over n cached tokens, w = map(scores) with scores already biased.
    func decodeRow(
        scores: UnsafeMutablePointer<Float>, n: Int, v: UnsafePointer<Float>, ldv: Int, dv: Int,
        out: UnsafeMutablePointer<Float>
    ) {
        var norm: Float = 1
        switch map {
        case .softmax: norm = 1 / expShiftSum(scores, n, shift: rowMax(scores, n))
        case .sigmoid(let b): sigmoidInPlace(scores, n, shift: b)
        case .relu: reluInPlace(scores, n)
        }
        out.update(repeating: 0, count: dv)
        for j in 0..<n {
            let w = scores[j] * norm
            let vj = v + j * ldv
            for e in 0..<dv { out[e] += w * vj[e] }
        }
    }
}

/// A tile's R rows in at most two GEMM row blocks (`TileKernel.rowBlocks`): rows 0 ..< split use
/// columns 0 ..< first, rows split ..< R all N columns; split == R is one block.
struct RowBlocks {
    var R: Int, split: Int, first: Int, N: Int

    /// (first row, rows, columns) of each block.
    var blocks: [(Int, Int, Int)] { split < R ? [(0, split, first), (split, R - split, N)] : [(0, R, N)] }

    /// (first row, first column, end column) of the key blocks from column E on: the columns
    /// E ..< first take every row, first ..< N the second block's rows only.
    @inline(__always) func keyBlocks(E: Int) -> [(Int, Int, Int)] {
        first < N ? [(0, E, first), (split, first, N)] : [(0, E, N)]
    }

    /// Zeros the first block's rows past its columns in a (R, N) tile (what no GEMM wrote).
    @inline(__always) func zeroSkipped(_ x: UnsafeMutablePointer<Float>) {
        guard first < N else { return }
        for r in 0..<split { (x + r * N + first).update(repeating: 0, count: N - first) }
    }
}

extension TileKernel {
    /// One token's decode for every query head against a KV cache whose rows, `2 NKV hs` floats
    /// apart, hold [k (NKV*hs) | v (NKV*hs)] of positions 0..<n (the last one this token's):
    /// out_h = Σ_j map(scale q_h·k_j) v_j with query head h reading kv head h / groupSize.
    func decodeHeads(
        _ shape: AttentionShape, q: UnsafePointer<Float>, cache: UnsafePointer<Float>, n: Int,
        scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>
    ) {
        let (NKV, hs) = (shape.kvHeads, shape.headSize)
        let rowWidth = 2 * NKV * hs
        for h in 0..<shape.heads {
            let g = h / shape.groupSize
            for j in 0..<n { scores[j] = scale * dot(q + h * hs, cache + j * rowWidth + g * hs, hs) }
            decodeRow(scores: scores, n: n, v: cache + NKV * hs + g * hs, ldv: rowWidth, dv: hs, out: out + h * hs)
        }
    }
}

/// x[j] = sigmoid(x[j] + b) = 1 / (1 + e^-(x[j] + b)) for j < n; finite for any finite input.
func sigmoidInPlace(_ x: UnsafeMutablePointer<Float>, _ n: Int, shift b: Float) {
    var j = 0
    while j + 8 <= n {
        let raw = UnsafeMutableRawPointer(x + j)
        let e = vexp(-(raw.loadUnaligned(as: Vec8.self) + b))
        raw.storeBytes(of: 1 / (1 + e), as: Vec8.self)
        j += 8
    }
    while j < n {
        x[j] = 1 / (1 + fastExp(-(x[j] + b)))
        j += 1
    }
}

/// x[j] = max(x[j], 0) for j < n.
func reluInPlace(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
    for j in 0..<n { x[j] = max(x[j], 0) }
}

/// dS[j] = P[j] * (dP[j] - D) over n entries, in place on dP (P is 0 on masked entries).
func softmaxBackwardRow(
    _ dP: UnsafeMutablePointer<Float>, _ P: UnsafePointer<Float>, _ D: Float, _ n: Int
) {
    for j in 0..<n { dP[j] = P[j] * (dP[j] - D) }
}

/// dS[j] = dP[j] P[j] (1 - P[j]) in place over n entries; returns Σ dS.
func sigmoidBackwardRow(
    _ dS: UnsafeMutablePointer<Float>, _ P: UnsafePointer<Float>, _ n: Int
) -> Float {
    var j = 0
    var acc = Vec8(repeating: 0)
    while j + 8 <= n {
        let raw = UnsafeMutableRawPointer(dS + j)
        let p = UnsafeRawPointer(P + j).loadUnaligned(as: Vec8.self)
        let d = raw.loadUnaligned(as: Vec8.self) * p * (1 - p)
        raw.storeBytes(of: d, as: Vec8.self)
        acc += d
        j += 8
    }
    var sum = acc.sum()
    while j < n {
        dS[j] *= P[j] * (1 - P[j])
        sum += dS[j]
        j += 1
    }
    return sum
}

/// acc[j] += x[j] for j < n; returns Σ x.
func accumulateRow(
    _ acc: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int
) -> Float {
    var j = 0
    var sum = Vec8(repeating: 0)
    while j + 8 <= n {
        let raw = UnsafeMutableRawPointer(acc + j)
        let v = UnsafeRawPointer(x + j).loadUnaligned(as: Vec8.self)
        raw.storeBytes(of: raw.loadUnaligned(as: Vec8.self) + v, as: Vec8.self)
        sum += v
        j += 8
    }
    var total = sum.sum()
    while j < n {
        acc[j] += x[j]
        total += x[j]
        j += 1
    }
    return total
}

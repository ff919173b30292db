// The tile engine of the softmax family: softmax_rope, softmax_nope, alibi, forgetting and sigmoid
// (shared/spec/attention.md §1a, §1d, §1g, §1h, §1i): per query head, rows go in tiles of `tile`
// queries; one sgemm gives the tile's logits against the keys its rows see (0..<end-of-tile, or
// from the first row's window start with a sliding window, §2.3 T1), a hook adds the variant's bias b_ij (ALiBi -m(i-j),
// FoX c_i - c_j from a Double cumsum) and optional per-row scale, a row map turns them into weights
// (softmax saving only the logsumexp, sigmoid(S + b), or rela's max(S, 0)), and one sgemm gives O. Backward
// reuses the weights if forward kept them (`TileHead.probs`, the variants' "probs_cache_mib"),
// else recomputes them tile by tile (flash-style, as SoftmaxRoPE; Dao et al., arXiv 2205.14135).
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
}

struct TileKernel {
    var scale: Float
    var map: RowMap = .softmax
    var bias: LogitBias = .none
    var lengthScale: LengthScale? = nil
    var tile: Int
    /// Keys each query sees, itself included (sliding window); 0 = every earlier key.
    var window: Int = 0

    /// The first key query i sees.
    @inline(__always) func firstKey(_ i: Int) -> Int { window > 0 ? max(0, i - window + 1) : 0 }

    /// Floats of one head's kept weights over T queries, tile after tile.
    func keptFloats(T: Int) -> Int { causalTileFloats(T: T, tile: tile, firstKey: firstKey) }

    /// Floats of scratch for one head: weights and dP tiles (tile, T), column sums (T).
    static func scratchCount(tile: Int, T: Int) -> Int { 2 * min(tile, T) * T + T }

    /// S (R, N) = scale · q[i0..<i0+R] · k[k0..<k0+N]ᵀ, times the row scale, plus the bias (for
    /// the keys each row sees), k0 = firstKey(i0), N = i0 + R - k0.
    private func logits(_ h: TileHead, _ i0: Int, _ R: Int, _ S: UnsafeMutablePointer<Float>) {
        let k0 = firstKey(i0)
        let N = i0 + R - k0
        BLAS.gemm(
            transB: true, M: R, N: N, K: h.d, alpha: scale, A: h.q + i0 * h.ldq, lda: h.ldq,
            B: h.k + k0 * h.ldk, ldb: h.ldk, beta: 0, C: S, ldc: N)
        guard lengthScale != nil || !bias.isNone else { return }
        for r in 0..<R {
            let i = i0 + r
            let row = S + r * N
            let n = i + 1 - k0
            if let lengthScale { scaleInPlace(row, n, by: lengthScale.factor(i)) }
            switch bias {
            case .none: break
            case .linear(let m): for j in 0..<n { row[j] += m * Float(k0 + j - i) }
            case .cumulative(let c):
                let ci = c[i]
                for j in 0..<n { row[j] += Float(ci - c[k0 + j]) }
            }
        }
    }

    /// Weights of rows i0..<i0+R in place on their logits, zero outside the keys each row sees.
    private func weights(
        _ h: TileHead, _ i0: Int, _ R: Int, _ S: UnsafeMutablePointer<Float>,
        recompute: Bool
    ) {
        let k0 = firstKey(i0)
        let N = i0 + R - k0
        for r in 0..<R {
            // query i0+r sees columns lo..<n
            let row = S + r * N
            let lo = firstKey(i0 + r) - k0
            let n = i0 + r + 1 - k0
            let seen = row + lo
            switch map {
            case .softmax where recompute:
                _ = expShiftSum(seen, n - lo, shift: h.lse![i0 + r])
            case .softmax:
                let m = rowMax(seen, n - lo)
                let sum = expShiftSum(seen, n - lo, shift: m)
                scaleInPlace(seen, n - lo, by: 1 / sum)
                h.lse![i0 + r] = m + log(sum)
            case .sigmoid(let b): sigmoidInPlace(seen, n - lo, shift: b)
            case .relu: reluInPlace(seen, n - lo)
            }
            row.update(repeating: 0, count: lo)
            (row + n).update(repeating: 0, count: N - n)
        }
    }

    // MARK: - Forward

    func forward(_ h: TileHead, scratch: UnsafeMutablePointer<Float>) {
        var kept = h.probs
        var i0 = 0
        while i0 < h.T {
            let R = min(tile, h.T - i0)
            let k0 = firstKey(i0)
            let N = i0 + R - k0
            let S = kept ?? scratch
            kept = kept.map { $0 + R * N }
            logits(h, i0, R, S)
            weights(h, i0, R, S, recompute: false)
            // O[i0..<i0+R] (R, dv) = P (R, N) · v[k0..<k0+N]
            BLAS.gemm(
                M: R, N: h.dv, K: N, A: S, lda: N, B: h.v + k0 * h.ldv, ldb: h.ldv, beta: 0,
                C: h.o + i0 * h.ldo, ldc: h.ldo)
            i0 += R
        }
    }

    // MARK: - Backward

    /// Accumulates dq, dk, dv (and dc); returns Σ dS, the gradient of a sigmoid bias b.
    @discardableResult
    func backward(_ h: TileHead, _ g: TileGrads, scratch: UnsafeMutablePointer<Float>) -> Double {
        var kept = h.probs
        let dS = scratch + min(tile, h.T) * h.T
        let colSum = dS + min(tile, h.T) * h.T
        var db = 0.0
        var i0 = 0
        while i0 < h.T {
            let R = min(tile, h.T - i0)
            let k0 = firstKey(i0)
            let N = i0 + R - k0
            let P = kept ?? scratch
            if let p = kept {
                kept = p + R * N
            } else {
                logits(h, i0, R, P)
                weights(h, i0, R, P, recompute: true)
            }
            if g.dc != nil { colSum.update(repeating: 0, count: N) }
            // forward was: O = P v ; so dP (R, N) = dO vᵀ and dv += Pᵀ dO
            BLAS.gemm(
                transB: true, M: R, N: N, K: h.dv, A: g.dO + i0 * g.lddo, lda: g.lddo,
                B: h.v + k0 * h.ldv, ldb: h.ldv, beta: 0, C: dS, ldc: N)
            BLAS.gemm(
                transA: true, M: N, N: h.dv, K: R, A: P, lda: N, B: g.dO + i0 * g.lddo,
                ldb: g.lddo, beta: 1, C: g.dv + k0 * g.lddv, ldc: g.lddv)
            for r in 0..<R {
                let i = i0 + r
                let p = P + r * N
                let ds = dS + r * N
                switch map {
                case .softmax:
                    // forward was: P = softmax(S) ; so dS = P (dP - D), D_i = dO_i · O_i
                    let D = dot(g.dO + i * g.lddo, h.o + i * h.ldo, h.dv)
                    softmaxBackwardRow(ds, p, D, N)
                case .sigmoid:
                    // forward was: P = sigmoid(S + b) ; so dS = dP P (1 - P), db = Σ dS
                    db += Double(sigmoidBackwardRow(ds, p, N))
                case .relu:
                    // forward was: P = max(S, 0) ; so dS = dP where P > 0, else 0
                    for j in 0..<N where p[j] <= 0 { ds[j] = 0 }
                }
                // forward was: S_ij += c_i - c_j ; so dc_i += Σ_j dS_ij, dc_j -= Σ_i dS_ij
                if let dc = g.dc { dc[i] += Double(accumulateRow(colSum, ds, N)) }
                if let lengthScale { scaleInPlace(ds, N, by: lengthScale.factor(i)) }
            }
            if let dc = g.dc { for j in 0..<N { dc[k0 + j] -= Double(colSum[j]) } }
            // forward was: S = s q kᵀ ; so dq += s dS k and dk += s dSᵀ q
            BLAS.gemm(
                M: R, N: h.d, K: N, alpha: scale, A: dS, lda: N, B: h.k + k0 * h.ldk, ldb: h.ldk,
                beta: 1, C: g.dq + i0 * g.lddq, ldc: g.lddq)
            BLAS.gemm(
                transA: true, M: N, N: h.d, K: R, alpha: scale, A: dS, lda: N,
                B: h.q + i0 * h.ldq, ldb: h.ldq, beta: 1, C: g.dk + k0 * g.lddk, ldc: g.lddk)
            i0 += R
        }
        return db
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

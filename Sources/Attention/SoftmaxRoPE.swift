// Causal softmax attention with half-split RoPE on q and k (Vaswani et al. 2017; Su et al. 2021,
// arXiv 2104.09864), shared/spec/attention.md §1a, with MQA/GQA (§1i).
//   S = s·R(pos)q·R(pos)kᵀ (j <= i), P = softmax_j(S), O = P V, s = 1/sqrt(hs).
// Fast path, flash-style (Dao et al. 2022, arXiv 2205.14135, without the online rescaling because
// a whole causal row fits in memory): per (b, head), query rows go in tiles of `tile` rows; one
// sgemm gives the tile's scores against keys 0..<end-of-tile only (the masked upper triangle beyond
// the tile is never computed), a vectorised exp turns them into P, and one sgemm gives O. Option
// "probs_cache_mib" (default 64): when a layer's tiles of P fit in that many MiB (context 512, 2
// sequences and 8 heads take 9 MiB), forward keeps them and backward reuses them instead of
// recomputing q kᵀ and its exp (one of backward's five sgemms per tile). Otherwise only the
// per-row logsumexp is saved and backward recomputes P tile by tile, so memory beyond the tile is
// O(T) per row. The naive loop oracle lives in Tests/AttentionTests/Reference.
// Option "window" W > 0 (sliding-window attention, attention.md §2.3 T1): query i sees keys
// max(0, i-W+1) ... i only; a tile's scores then span keys from its first row's window start, so
// the cost is O(T (W + tile)) instead of O(T²).
import Basics
import Foundation
import Kernels

public struct SoftmaxRoPE: AttentionVariant {
    public static let name = "softmax_rope"
    public let shape: AttentionShape
    /// RoPE base (θ_m = base^(-2m/hs)); option "rope_base", default 10000.
    public let ropeBase: Double
    /// Query rows per BLAS tile; option "tile" (speed only, the math is unchanged), default 64.
    public let tile: Int
    /// Keys each query sees, itself included; option "window", default 0 (all earlier keys).
    public let window: Int
    /// Bytes per layer forward may spend keeping P for backward; option "probs_cache_mib".
    public let probsCacheBytes: Int

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, variant: Self.name)
        ropeBase = try reader.double("rope_base", default: 10_000)
        tile = try reader.int("tile", default: 64)
        window = try reader.int("window", default: 0)
        probsCacheBytes = try reader.probsCacheBytes(variant: Self.name)
        try reader.finish()
        guard ropeBase > 1 else {
            throw AttentionError.invalidOption(
                variant: Self.name, option: "rope_base", reason: "must be greater than 1")
        }
        guard window >= 0 else {
            throw AttentionError.invalidOption(
                variant: Self.name, option: "window", reason: "must be 0 (no window) or positive")
        }
        guard tile >= 1 else {
            throw AttentionError.invalidOption(
                variant: Self.name, option: "tile", reason: "must be positive")
        }
        guard shape.headSize % 2 == 0 else {
            throw AttentionError.invalidShape(
                "softmax_rope rotates pairs, so the head size (channels / heads = "
                    + "\(shape.headSize)) must be even"
            )
        }
        self.shape = shape
    }

    /// Offsets of the saved buffers: qr (B,T,NH,hs), kr (B,T,NKV,hs), lse (B,NH,T),
    /// cos and sin (T,hs/2), then P's tiles of every (b, head) if they fit the cache budget and
    /// the `capacity` floats allocated (`probs` is nil when backward recomputes them).
    private func savedLayout(B: Int, T: Int, capacity: Int? = nil)
        -> (kr: Int, lse: Int, cos: Int, sin: Int, probs: Int?, end: Int)
    {
        let kr = B * T * shape.heads * shape.headSize
        let lse = kr + B * T * shape.kvHeads * shape.headSize
        let cos = lse + B * shape.heads * T
        let sin = cos + T * shape.headSize / 2
        let probs = sin + T * shape.headSize / 2
        let count = B * shape.heads * probsPerHead(T: T)
        guard probsFit(count, budgetBytes: probsCacheBytes), probs + count <= capacity ?? .max else {
            return (kr, lse, cos, sin, nil, probs)
        }
        return (kr, lse, cos, sin, probs, probs + count)
    }

    /// Floats of one (b, head)'s P tiles: tile by tile, R rows of N keys each.
    func probsPerHead(T: Int) -> Int { causalTileFloats(T: T, tile: tile, firstKey: firstKey) }

    /// Whether forward keeps P for backward at this shape (speed only).
    public func cachesProbabilities(B: Int, T: Int) -> Bool { savedLayout(B: B, T: T).probs != nil }

    public func savedCount(B: Int, T: Int) -> Int { savedLayout(B: B, T: T).end }

    /// S and dP tiles (tile, T), dQr (tile, hs), dKr (T, hs).
    public func scratchCount(B: Int, T: Int) -> Int {
        2 * tile * T + tile * shape.headSize + T * shape.headSize
    }

    /// The first key query i sees.
    @inline(__always) func firstKey(_ i: Int) -> Int { window > 0 ? max(0, i - window + 1) : 0 }

    // MARK: - Forward

    public func forward(_ io: AttentionIO) {
        let (B, T, NH, NKV, hs, W) = (
            io.B, io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth
        )
        let layout = savedLayout(B: B, T: T, capacity: io.savedCapacity)
        let qr = io.saved  // (B, T, NH, hs)
        let kr = io.saved + layout.kr  // (B, T, NKV, hs)
        let cos = io.saved + layout.cos
        let sin = io.saved + layout.sin  // (T, hs/2)
        ropeTables(cos: cos, sin: sin, T: T, hs: hs, pos0: io.pos0, base: ropeBase)
        ropeForward(
            out: qr, inp: io.qkv, cos: cos, sin: sin, B: B, T: T, heads: NH, hs: hs,
            outStride: NH * hs, inpStride: W)
        ropeForward(
            out: kr, inp: io.qkv + NH * hs, cos: cos, sin: sin, B: B, T: T, heads: NKV, hs: hs,
            outStride: NKV * hs, inpStride: W)
        let scale = 1 / Float(hs).squareRoot()
        let perHead = probsPerHead(T: T)
        for b in 0..<B {
            for h in 0..<NH {
                let g = h / shape.groupSize
                let q = qr + b * T * NH * hs + h * hs  // rows NH*hs apart
                let k = kr + b * T * NKV * hs + g * hs  // rows NKV*hs apart
                let v = io.qkv + b * T * W + (NH + NKV) * hs + g * hs  // rows W apart
                let o = io.out + b * T * NH * hs + h * hs  // rows NH*hs apart
                let lse = io.saved + layout.lse + (b * NH + h) * T  // (T)
                // each tile's scores, then probabilities: kept for backward, or in scratch
                var tileP = layout.probs.map { io.saved + $0 + (b * NH + h) * perHead }
                var i0 = 0
                while i0 < T {
                    // rows i0..<i0+R see keys k0..<k0+N at most
                    let R = min(tile, T - i0)
                    let k0 = firstKey(i0)
                    let N = i0 + R - k0
                    let S = tileP ?? io.scratch
                    tileP = tileP.map { $0 + R * N }
                    // S (R,N) = s · q[i0..<i0+R] · k[k0..<k0+N]ᵀ
                    BLAS.gemm(
                        transB: true, M: R, N: N, K: hs, alpha: scale, A: q + i0 * NH * hs,
                        lda: NH * hs, B: k + k0 * NKV * hs, ldb: NKV * hs, beta: 0, C: S, ldc: N)
                    for r in 0..<R {
                        // query i0+r sees columns lo..<n
                        let row = S + r * N
                        let lo = firstKey(i0 + r) - k0
                        let n = i0 + r + 1 - k0
                        let m = rowMax(row + lo, n - lo)
                        let sum = expShiftSum(row + lo, n - lo, shift: m)
                        scaleInPlace(row + lo, n - lo, by: 1 / sum)
                        row.update(repeating: 0, count: lo)
                        (row + n).update(repeating: 0, count: N - n)
                        lse[i0 + r] = m + log(sum)
                    }
                    // O[i0..<i0+R] (R,hs) = P (R,N) · v[k0..<k0+N]
                    BLAS.gemm(
                        M: R, N: hs, K: N, A: S, lda: N, B: v + k0 * W, ldb: W, beta: 0,
                        C: o + i0 * NH * hs, ldc: NH * hs)
                    i0 += R
                }
            }
        }
    }

    // MARK: - Backward

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let (B, T, NH, NKV, hs, W) = (
            io.B, io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth
        )
        let layout = savedLayout(B: B, T: T, capacity: io.savedCapacity)
        let cos = io.saved + layout.cos
        let sin = io.saved + layout.sin
        let half = hs / 2
        let scale = 1 / Float(hs).squareRoot()
        let perHead = probsPerHead(T: T)
        let dS = io.scratch + tile * T  // (tile, T) dP, then dS in place
        let dQ = dS + tile * T  // (tile, hs) gradient of the rotated queries of one tile
        let dK = dQ + tile * hs  // (T, hs) gradient of the rotated keys of one kv head
        for b in 0..<B {
            for g in 0..<NKV {
                let k = io.saved + layout.kr + b * T * NKV * hs + g * hs
                let v = io.qkv + b * T * W + (NH + NKV) * hs + g * hs
                let dv = grads.dqkv + b * T * W + (NH + NKV) * hs + g * hs
                dK.update(repeating: 0, count: T * hs)
                for h in g * shape.groupSize..<(g + 1) * shape.groupSize {
                    let q = io.saved + b * T * NH * hs + h * hs
                    let o = io.out + b * T * NH * hs + h * hs
                    let dO = grads.dout + b * T * NH * hs + h * hs
                    let lse = io.saved + layout.lse + (b * NH + h) * T
                    var kept = layout.probs.map { io.saved + $0 + (b * NH + h) * perHead }
                    var i0 = 0
                    while i0 < T {
                        let R = min(tile, T - i0)
                        let k0 = firstKey(i0)
                        let N = i0 + R - k0
                        let P = kept ?? io.scratch  // (R,N)
                        if let p = kept {
                            kept = p + R * N
                        } else {
                            // recompute P (R,N) = exp(s q kᵀ - lse) over keys k0..<k0+N, zero
                            // where j > i or j is before the window
                            BLAS.gemm(
                                transB: true, M: R, N: N, K: hs, alpha: scale, A: q + i0 * NH * hs,
                                lda: NH * hs, B: k + k0 * NKV * hs, ldb: NKV * hs, beta: 0, C: P, ldc: N)
                            for r in 0..<R {
                                let row = P + r * N
                                let lo = firstKey(i0 + r) - k0
                                let n = i0 + r + 1 - k0
                                _ = expShiftSum(row + lo, n - lo, shift: lse[i0 + r])
                                row.update(repeating: 0, count: lo)
                                (row + n).update(repeating: 0, count: N - n)
                            }
                        }
                        // forward was: O = P v ; so dP (R,N) = dO vᵀ and dv += Pᵀ dO
                        BLAS.gemm(
                            transB: true, M: R, N: N, K: hs, A: dO + i0 * NH * hs, lda: NH * hs,
                            B: v + k0 * W, ldb: W, beta: 0, C: dS, ldc: N)
                        BLAS.gemm(
                            transA: true, M: N, N: hs, K: R, A: P, lda: N, B: dO + i0 * NH * hs,
                            ldb: NH * hs, beta: 1, C: dv + k0 * W, ldc: W)
                        // forward was: P = softmax(S) ; so dS = P (dP - D), D_i = dO_i · O_i
                        for r in 0..<R {
                            let i = i0 + r
                            let D = dot(dO + i * NH * hs, o + i * NH * hs, hs)
                            softmaxBackwardRow(dS + r * N, P + r * N, D, N)
                        }
                        // forward was: S = s q kᵀ ; so dq = s dS k and dk += s dSᵀ q
                        BLAS.gemm(
                            M: R, N: hs, K: N, alpha: scale, A: dS, lda: N, B: k + k0 * NKV * hs,
                            ldb: NKV * hs, beta: 0, C: dQ, ldc: hs)
                        BLAS.gemm(
                            transA: true, M: N, N: hs, K: R, alpha: scale, A: dS, lda: N,
                            B: q + i0 * NH * hs, ldb: NH * hs, beta: 1, C: dK + k0 * hs, ldc: hs)
                        // forward was: qr = R(pos) q
                        ropeBackward(
                            dinp: grads.dqkv + (b * T + i0) * W + h * hs, dout: dQ,
                            cos: cos + i0 * half, sin: sin + i0 * half, B: 1, T: R, heads: 1,
                            hs: hs, dinpStride: W, doutStride: hs)
                        i0 += R
                    }
                }
                // forward was: kr = R(pos) k (summed over the query heads of the group)
                ropeBackward(
                    dinp: grads.dqkv + b * T * W + NH * hs + g * hs, dout: dK, cos: cos,
                    sin: sin, B: 1, T: T, heads: 1, hs: hs, dinpStride: W, doutStride: hs)
            }
        }
    }

    // MARK: - Decode

    /// Per token: rotated k (NKV*hs) then v (NKV*hs).
    public func cacheCount(maxTokens: Int) -> Int { maxTokens * 2 * shape.kvHeads * shape.headSize }

    /// cos, sin (hs/2 each), rotated q (NH*hs), scores (maxTokens).
    public func decodeScratchCount(maxTokens: Int) -> Int {
        shape.headSize + shape.heads * shape.headSize + maxTokens
    }

    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs) = (shape.heads, shape.kvHeads, shape.headSize)
        let p = step.position
        let rowWidth = 2 * NKV * hs
        let cos = step.scratch
        let sin = cos + hs / 2
        let qr = sin + hs / 2
        let scores = qr + NH * hs
        ropeTables(cos: cos, sin: sin, T: 1, hs: hs, pos0: p, base: ropeBase)
        let row = step.cache + p * rowWidth
        ropeForward(
            out: qr, inp: step.qkv, cos: cos, sin: sin, B: 1, T: 1, heads: NH, hs: hs,
            outStride: NH * hs, inpStride: NH * hs)
        ropeForward(
            out: row, inp: step.qkv + NH * hs, cos: cos, sin: sin, B: 1, T: 1, heads: NKV,
            hs: hs, outStride: NKV * hs, inpStride: NKV * hs)
        (row + NKV * hs).update(from: step.qkv + (NH + NKV) * hs, count: NKV * hs)
        let scale = 1 / Float(hs).squareRoot()
        for h in 0..<NH {
            let g = h / shape.groupSize
            let j0 = firstKey(p)
            let n = p + 1 - j0
            for j in j0...p {
                scores[j] = scale * dot(qr + h * hs, step.cache + j * rowWidth + g * hs, hs)
            }
            let m = rowMax(scores + j0, n)
            let inv = 1 / expShiftSum(scores + j0, n, shift: m)
            let o = step.out + h * hs
            o.update(repeating: 0, count: hs)
            for j in j0...p {
                let w = scores[j] * inv
                let vj = step.cache + j * rowWidth + NKV * hs + g * hs
                for d in 0..<hs { o[d] += w * vj[d] }
            }
        }
    }
}

/// dS[j] = P[j] * (dP[j] - D) over n entries, in place on dP (P is 0 on masked entries).
func softmaxBackwardRow(
    _ dP: UnsafeMutablePointer<Float>, _ P: UnsafePointer<Float>, _ D: Float, _ n: Int
) {
    for j in 0..<n { dP[j] = P[j] * (dP[j] - D) }
}

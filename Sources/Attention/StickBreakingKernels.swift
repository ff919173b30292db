// The per-head kernels of stick-breaking attention (StickBreaking.swift, arXiv 2410.17980,
// shared/spec/attention.md §1b) on strided matrices, and the tensor-level entry point that the
// `tracker attention` command and the golden tests use ([H][T][d] arrays, any dv).
//   forward:  A_t (keys, rows) = exp(z - revcumsum_keys softplus(z)),  O = A V + rem Rv
//   backward: G = dO vᵀ, C = cumsum_keys(G A), dZ = A G - σ(z)(C + ρ rem), ρ_i = dO_i·Rv_i,
//             dq = s dZ k, dk = s dZᵀ q, dv = Aᵀ dO (+ rem dO to Rv's owner: v_i or the bias).
// Kept (probs_cache_mib): forward can keep each tile's A_t and σ_t (N, P), rem (P) and its first
// visited key, and backward then starts from them instead of recomputing the tile.
import Foundation
import Kernels

struct StickBreakingKernel {
    let d: Int, dv: Int, attendCurrent: Bool, tile: Int
    var earlyStop = true

    /// One query head's operands; rows are `*s` floats apart. rv = remainder values (rows rvs
    /// apart; rvs = 0 repeats one bias vector), nil for "none".
    struct Head {
        var q: UnsafePointer<Float>, qs: Int  // (T, d)
        var k: UnsafePointer<Float>, ks: Int  // (T, d)
        var v: UnsafePointer<Float>, vs: Int  // (T, dv)
        var rv: (UnsafePointer<Float>, Int)?  // (T, dv)
    }

    /// Gradients (+=) of one query head; drv receives rem_i dO_i (dv rows or the bias vector).
    struct Grads {
        var dout: UnsafePointer<Float>, dos: Int  // (T, dv)
        var dq: UnsafeMutablePointer<Float>, dqs: Int  // (T, d)
        var dk: UnsafeMutablePointer<Float>, dks: Int  // (T, d)
        var dv: UnsafeMutablePointer<Float>, dvs: Int  // (T, dv)
        var drv: (UnsafeMutablePointer<Float>, Int)?
    }

    /// Tile width rounded up to whole SIMD8 lane groups.
    static func lanes(_ tile: Int) -> Int { (tile + 7) / 8 * 8 }

    /// A_t, σ_t, G_t (T, P) and two (P) vectors.
    static func scratchCount(T: Int, tile: Int) -> Int { (3 * T + 2) * lanes(tile) }

    /// Floats of one kept tile of query rows i0..<i0+R: A_t and σ_t (N, P), rem (P), j0 (1).
    func keptTileFloats(i0: Int, R: Int) -> Int {
        let P = Self.lanes(tile)
        return 2 * keyCount(i0: i0, R: R) * P + P + 1
    }

    /// Floats one head keeps for backward over T queries, tile after tile.
    func keptFloats(T: Int) -> Int { causalTileSum(T: T, tile: tile) { keptTileFloats(i0: $0, R: $1) } }

    /// A kept tile at `slot` (keptTileFloats floats): A_t, σ_t, rem, then j0 as a Float (exact,
    /// keys < 2^24).
    private func keptTile(_ slot: UnsafeMutablePointer<Float>, N: Int) -> (
        At: UnsafeMutablePointer<Float>, sig: UnsafeMutablePointer<Float>, rem: UnsafeMutablePointer<Float>,
        j0: UnsafeMutablePointer<Float>
    ) {
        let P = Self.lanes(tile)
        return (slot, slot + N * P, slot + 2 * N * P, slot + 2 * N * P + P)
    }

    /// Keys query rows i0..<i0+R may see: 0..<N.
    func keyCount(i0: Int, R: Int) -> Int { i0 + R - (attendCurrent ? 0 : 1) }

    /// Keys per sgemm block when walking from the diagonal towards key 0.
    var keyBlock: Int { 2 * tile }

    /// At (N, P) = A for query rows i0..<i0+R (columns) and keys j0..<N (rows), 0 where masked;
    /// rem (P) = exp(-Σ softplus); sig (N, P) = σ(z), 0 where masked, if given. Returns j0: key
    /// blocks are visited newest first and the walk stops once every row's stick is below e^-30
    /// (the keys before j0 would add < 1e-13 of weight, below float resolution).
    func weights(
        _ x: Head, i0: Int, R: Int, P: Int, At: UnsafeMutablePointer<Float>,
        rem: UnsafeMutablePointer<Float>, sig: UnsafeMutablePointer<Float>?
    ) -> Int {
        rem.update(repeating: 0, count: P)  // running Σ_{m>=j} softplus(z_im), per row
        let lane = Vec8(0, 1, 2, 3, 4, 5, 6, 7)
        var j1 = keyCount(i0: i0, R: R)
        while j1 > 0 {
            let j0 = max(0, j1 - keyBlock)
            // At[j0..<j1] (j1-j0, R) = s k[j0..<j1] q[i0..<i0+R]ᵀ
            BLAS.gemm(
                transB: true, M: j1 - j0, N: R, K: d, alpha: 1 / Float(d).squareRoot(), A: x.k + j0 * x.ks,
                lda: x.ks, B: x.q + i0 * x.qs, ldb: x.qs, beta: 0, C: At + j0 * P, ldc: P)
            for j in stride(from: j1 - 1, through: j0, by: -1) {
                // query row r sees key j iff r >= first
                let first = j - i0 + (attendCurrent ? 0 : 1)
                let row = At + j * P
                for c in stride(from: 0, to: P, by: 8) {
                    let z = loadVec(row + c)
                    let (sp, y) = softplus(z)
                    if first <= c {  // every row of this lane group sees key j
                        let acc = loadVec(rem + c) + sp
                        storeVec(vexp(z - acc), row + c)
                        storeVec(acc, rem + c)
                        if let sig { storeVec(sigmoid(z, y), sig + j * P + c) }
                        continue
                    }
                    let masked = lane + Float(c) .< Float(first)
                    let acc = loadVec(rem + c) + sp.replacing(with: 0, where: masked)
                    storeVec(vexp(z - acc).replacing(with: 0, where: masked), row + c)
                    storeVec(acc, rem + c)
                    if let sig { storeVec(sigmoid(z, y).replacing(with: 0, where: masked), sig + j * P + c) }
                }
            }
            j1 = j0
            if earlyStop && (0..<R).allSatisfy({ rem[$0] > 30 }) { break }
        }
        for c in stride(from: 0, to: P, by: 8) { storeVec(vexp(-loadVec(rem + c)), rem + c) }
        return j1
    }

    // MARK: - Forward

    /// out (T, dv), rows os apart; keeps every tile's weights at `kept` (keptFloats(T:)) if given.
    func forward(
        _ x: Head, out: UnsafeMutablePointer<Float>, os: Int, T: Int,
        scratch: UnsafeMutablePointer<Float>, kept: UnsafeMutablePointer<Float>? = nil
    ) {
        let P = Self.lanes(tile)
        var slot = kept
        for i0 in stride(from: 0, to: T, by: tile) {
            let R = min(tile, T - i0)
            let N = keyCount(i0: i0, R: R)
            var (At, sig, rem) = (scratch, UnsafeMutablePointer<Float>?.none, scratch + 3 * T * P)
            let j0: Int
            if let s = slot {
                let k = keptTile(s, N: N)
                (At, sig, rem) = (k.At, k.sig, k.rem)
                j0 = weights(x, i0: i0, R: R, P: P, At: At, rem: rem, sig: sig)
                k.j0.pointee = Float(j0)
                slot = s + keptTileFloats(i0: i0, R: R)
            } else {
                j0 = weights(x, i0: i0, R: R, P: P, At: At, rem: rem, sig: nil)
            }
            if N > 0 {
                // O[i0..<i0+R] (R, dv) = Aᵀ (R, N-j0) v[j0..<N]
                BLAS.gemm(
                    transA: true, M: R, N: dv, K: N - j0, A: At + j0 * P, lda: P, B: x.v + j0 * x.vs,
                    ldb: x.vs, beta: 0, C: out + i0 * os, ldc: os)
            } else {
                for r in 0..<R { (out + (i0 + r) * os).update(repeating: 0, count: dv) }
            }
            guard let (rv, rvs) = x.rv else { continue }
            for r in 0..<R {
                let o = out + (i0 + r) * os
                let src = rv + (i0 + r) * rvs
                for e in 0..<dv { o[e] += rem[r] * src[e] }
            }
        }
    }

    // MARK: - Backward

    /// Accumulates into g after `forward` with the same operands (and the same `kept`: its tiles
    /// are read instead of recomputed).
    func backward(
        _ x: Head, _ g: Grads, T: Int, scratch: UnsafeMutablePointer<Float>, kept: UnsafeMutablePointer<Float>? = nil
    ) {
        let P = Self.lanes(tile)
        let scale = 1 / Float(d).squareRoot()
        let dZ = scratch + 2 * T * P  // (T, P), after the recomputed A_t and σ_t
        let acc = dZ + T * P
        let rho = acc + P  // (P) each
        var slot = kept
        for i0 in stride(from: 0, to: T, by: tile) {
            let R = min(tile, T - i0)
            let N = keyCount(i0: i0, R: R)
            let dO = g.dout + i0 * g.dos
            var (At, sig, rem) = (scratch, scratch + T * P, acc)
            let j0: Int
            if let s = slot {
                let k = keptTile(s, N: N)
                (At, sig, rem) = (k.At, k.sig, k.rem)
                j0 = Int(k.j0.pointee)
                slot = s + keptTileFloats(i0: i0, R: R)
            } else {
                j0 = weights(x, i0: i0, R: R, P: P, At: At, rem: rem, sig: sig)
            }
            let M = N - j0
            // forward was: o_i += rem_i Rv_i ; so ρ_i = rem_i dO_i·Rv_i and dRv_i += rem_i dO_i
            for r in 0..<R {
                rho[r] = 0
                guard let (rv, rvs) = x.rv, let (drv, drvs) = g.drv else { continue }
                rho[r] = rem[r] * dot(dO + r * g.dos, rv + (i0 + r) * rvs, dv)
                let dst = drv + (i0 + r) * drvs
                for e in 0..<dv { dst[e] += rem[r] * dO[r * g.dos + e] }
            }
            guard N > 0 else { continue }
            // forward was: O = Aᵀ v (keys j0..<N) ; so G_t (M, R) = v dOᵀ and dv += A_t dO
            BLAS.gemm(
                transB: true, M: M, N: R, K: dv, A: x.v + j0 * x.vs, lda: x.vs, B: dO, ldb: g.dos, beta: 0,
                C: dZ + j0 * P, ldc: P)
            BLAS.gemm(
                M: M, N: dv, K: R, A: At + j0 * P, lda: P, B: dO, ldb: g.dos, beta: 1, C: g.dv + j0 * g.dvs,
                ldc: g.dvs)
            // forward was: log A = z - revcumsum softplus(z) ; so dZ = A G - σ (C + ρ), C = cumsum(G A)
            for c in stride(from: 0, to: P, by: 8) { storeVec(Vec8(repeating: 0), acc + c) }
            for j in j0..<N {
                for c in stride(from: 0, to: P, by: 8) {
                    let a = loadVec(At + j * P + c)
                    let gv = loadVec(dZ + j * P + c)
                    let C = loadVec(acc + c) + a * gv
                    storeVec(C, acc + c)
                    storeVec(a * gv - loadVec(sig + j * P + c) * (C + loadVec(rho + c)), dZ + j * P + c)
                }
            }
            // forward was: z = s k qᵀ ; so dq += s dZᵀ k and dk += s dZ q
            BLAS.gemm(
                transA: true, M: R, N: d, K: M, alpha: scale, A: dZ + j0 * P, lda: P, B: x.k + j0 * x.ks,
                ldb: x.ks, beta: 1, C: g.dq + i0 * g.dqs, ldc: g.dqs)
            BLAS.gemm(
                M: M, N: d, K: R, alpha: scale, A: dZ + j0 * P, lda: P, B: x.q + i0 * x.qs, ldb: x.qs,
                beta: 1, C: g.dk + j0 * g.dks, ldc: g.dks)
        }
    }
}

@inline(__always) private func loadVec(_ p: UnsafePointer<Float>) -> Vec8 {
    UnsafeRawPointer(p).loadUnaligned(as: Vec8.self)
}

@inline(__always) private func storeVec(_ v: Vec8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec8.self)
}

/// (softplus(z), y = e^-|z|) lane-wise: softplus = max(z, 0) + log1p(y), with
/// log1p(y) = 2 atanh(y/(2+y)), an odd series in t = y/(2+y) <= 1/3 to t^15 (relative error
/// ~1e-8, no cancellation for small y).
@inline(__always) private func softplus(_ z: Vec8) -> (Vec8, Vec8) {
    let negative = z .< 0
    let y = vexp((-z).replacing(with: z, where: negative))
    let t = y / (2 + y)
    let t2 = t * t
    var p = Vec8(repeating: 1.0 / 15)
    p = p * t2 + 1.0 / 13
    p = p * t2 + 1.0 / 11
    p = p * t2 + 1.0 / 9
    p = p * t2 + 1.0 / 7
    p = p * t2 + 1.0 / 5
    p = p * t2 + 1.0 / 3
    p = p * t2 + 1
    return (z.replacing(with: 0, where: negative) + 2 * t * p, y)
}

/// σ(z) from y = e^-|z|: 1/(1+y) for z >= 0, y/(1+y) otherwise.
@inline(__always) private func sigmoid(_ z: Vec8, _ y: Vec8) -> Vec8 {
    let inv = 1 / (1 + y)
    return inv.replacing(with: y * inv, where: z .< 0)
}

extension StickBreaking {
    /// Gradients of sum(out * dout) from `compute`; dremainderBias is empty unless mode "bias".
    public struct Result: Sendable {
        public var out: [Float], dq: [Float], dk: [Float], dv: [Float], dremainderBias: [Float]
    }

    /// The whole map on plain tensors: q [H][T][d], k [Hkv][T][d], v [Hkv][T][dv],
    /// remainderBias [H][dv] ("bias" mode), dout [H][T][dv] (nil: forward only, gradients empty).
    public static func compute(
        q: [Float], k: [Float], v: [Float], remainderBias: [Float] = [], dout: [Float]?,
        heads H: Int, kvHeads: Int, T: Int, d: Int, dv: Int, remainder: Remainder, attendCurrent: Bool,
        tile: Int, earlyStop: Bool
    ) -> Result {
        precondition(kvHeads >= 1 && H % kvHeads == 0 && tile >= 1, "kvHeads must divide heads")
        precondition(q.count == H * T * d && k.count == kvHeads * T * d && v.count == kvHeads * T * dv)
        precondition(remainder != .bias || remainderBias.count == H * dv, "remainderBias is [H][dv]")
        let kernel = StickBreakingKernel(d: d, dv: dv, attendCurrent: attendCurrent, tile: tile, earlyStop: earlyStop)
        var r = Result(out: .init(repeating: 0, count: H * T * dv), dq: [], dk: [], dv: [], dremainderBias: [])
        if dout != nil {
            (r.dq, r.dk, r.dv) = (
                .init(repeating: 0, count: q.count), .init(repeating: 0, count: k.count),
                .init(repeating: 0, count: v.count)
            )
            r.dremainderBias = .init(repeating: 0, count: remainder == .bias ? H * dv : 0)
        }
        var scratch = [Float](repeating: 0, count: StickBreakingKernel.scratchCount(T: T, tile: tile))
        q.withUnsafeBufferPointer { q in
            k.withUnsafeBufferPointer { k in
                v.withUnsafeBufferPointer { v in
                    remainderBias.withUnsafeBufferPointer { rb in
                        scratch.withUnsafeMutableBufferPointer { s in
                            for h in 0..<H {
                                let g = h / (H / kvHeads)
                                let vg = v.baseAddress! + g * T * dv
                                let rv: (UnsafePointer<Float>, Int)? =
                                    switch remainder {
                                    case .current: (vg, dv)
                                    case .bias: (rb.baseAddress! + h * dv, 0)
                                    case .none: nil
                                    }
                                let head = StickBreakingKernel.Head(
                                    q: q.baseAddress! + h * T * d, qs: d,
                                    k: k.baseAddress! + g * T * d, ks: d, v: vg, vs: dv, rv: rv)
                                r.out.withUnsafeMutableBufferPointer {
                                    kernel.forward(
                                        head, out: $0.baseAddress! + h * T * dv, os: dv, T: T, scratch: s.baseAddress!)
                                }
                                guard let dout else { continue }
                                dout.withUnsafeBufferPointer { dO in
                                    r.dq.withUnsafeMutableBufferPointer { dq in
                                        r.dk.withUnsafeMutableBufferPointer { dk in
                                            r.dv.withUnsafeMutableBufferPointer { dvv in
                                                r.dremainderBias.withUnsafeMutableBufferPointer { db in
                                                    let drv: (UnsafeMutablePointer<Float>, Int)? =
                                                        switch remainder {
                                                        case .current: (dvv.baseAddress! + g * T * dv, dv)
                                                        case .bias: (db.baseAddress! + h * dv, 0)
                                                        case .none: nil
                                                        }
                                                    let grads = StickBreakingKernel.Grads(
                                                        dout: dO.baseAddress! + h * T * dv, dos: dv,
                                                        dq: dq.baseAddress! + h * T * d, dqs: d,
                                                        dk: dk.baseAddress! + g * T * d, dks: d,
                                                        dv: dvv.baseAddress! + g * T * dv, dvs: dv,
                                                        drv: drv)
                                                    kernel.backward(head, grads, T: T, scratch: s.baseAddress!)
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return r
    }

    /// Debug view of the fast path's weights for one head: A (T, T) row-major (query i, key j)
    /// and rem (T), from the same tiled kernel the forward uses.
    public static func weights(
        q: [Float], k: [Float], T: Int, d: Int, attendCurrent: Bool = false,
        tile: Int = 64
    ) -> (A: [Float], rem: [Float]) {
        let kernel = StickBreakingKernel(d: d, dv: 1, attendCurrent: attendCurrent, tile: tile)
        let P = StickBreakingKernel.lanes(tile)
        var A = [Float](repeating: 0, count: T * T)
        var rem = [Float](repeating: 0, count: T)
        var At = [Float](repeating: 0, count: T * P)
        var remTile = [Float](repeating: 0, count: P)
        q.withUnsafeBufferPointer { q in
            k.withUnsafeBufferPointer { k in
                let head = StickBreakingKernel.Head(
                    q: q.baseAddress!, qs: d, k: k.baseAddress!, ks: d,
                    v: k.baseAddress!, vs: d, rv: nil)
                for i0 in stride(from: 0, to: T, by: tile) {
                    let R = min(tile, T - i0)
                    let N = kernel.keyCount(i0: i0, R: R)
                    let j0 = kernel.weights(head, i0: i0, R: R, P: P, At: &At, rem: &remTile, sig: nil)
                    for r in 0..<R {
                        rem[i0 + r] = remTile[r]
                        for j in j0..<N { A[(i0 + r) * T + j] = At[j * P + r] }
                    }
                }
            }
        }
        return (A, rem)
    }
}

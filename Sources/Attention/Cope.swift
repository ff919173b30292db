// Contextual Position Encoding, CoPE (Golovneva, Wang, Weston, Sukhbaatar 2024, arXiv 2405.18719;
// code: facebookresearch/RAM projects/cope/src/cope/context_position.py), with MQA/GQA (§1i: the
// gates use the query head's q with the shared k). Per query head h, s = 1/sqrt(hs), j <= i:
//   z_ij = s q_i·k_j,  g_ij = sigmoid(z_ij),  p_ij = min(Σ_{m=j..i} g_im, P),
//   L_in = s q_i·e_h[n] for n = 0...P (once per row: O(T P hs), one sgemm per row tile),
//   a_ij = z_ij + (1 - w) L_i[f] + w L_i[f+1],  f = floor(p_ij), w = p_ij - f,
//   O = softmax_j(a) V.
// Choices: the scale s on the gates and on both logit terms, as the paper's code by default
// (`cope_nodiv` off: (q·k + q·e[p]) / sqrt(hs)); positions clamped at P = option max_position,
// so e_h has P + 1 rows (the code's npos = P + 1). The code's default is the context (npos =
// block size + 1); ours is min(context, 64): no row a position can never reach, and at long
// contexts the table, the q·e sgemm and the gate work stay small. e ("pos_emb" (NH, P+1, hs)) is
// per query head (the code shares one table across a layer's heads) and starts at 0 as there,
// so a fresh layer is NoPE softmax. The code interpolates between floor and ceil; we use floor and
// floor + 1 (the same value; at the measure-zero integer p it takes the right-hand slope where the
// code's is 0). The gates of a row are summed from the diagonal back and stop once p reaches P:
// the keys before sit at P, whose gates get no gradient (exactly as clamping gives), so the gate
// work per row is O(min(i, P / mean gate)), the content logits O(i hs).
// Training: row tiles like the tile engine (CausalTiles.swift), one sgemm each for the tile's
// q kᵀ, q eᵀ and P V; only the logsumexp is saved, backward recomputes the tile. Backward per
// row: da = A (dA - D); dL_i[f] += (1-w) da, dL_i[f+1] += w da; dp_ij = da (L_i[f+1] - L_i[f])
// below P; dg_im = Σ_{j<=m} dp_ij; dz = da + dg g (1 - g); then dq = s dZ k + s dL e,
// dk = s dZᵀ q, de = s dLᵀ q. Decode: a KV cache; each new query recomputes its row's gates
// against every cached key (the positions depend on the query), O(t hs + P hs) per head and token.
import Basics
import Foundation
import Kernels

public struct Cope: AttentionVariant {
    public static let name = "cope"
    public let shape: AttentionShape
    /// Option "max_position": the largest position P (positions are clamped to it).
    public let maxPosition: Int
    /// Query rows per tile; option "tile" (speed only).
    public let tile: Int

    static let maxPositionOption = AttentionOption(
        "max_position", default: { min($0.context, 64) }, defaultText: "min(context, 64)",
        range: .atLeast(1, "must be positive"),
        doc: "largest contextual position P (positions are clamped to it; pos_emb has P + 1 rows per head)")

    public static let options: [any AttentionOptionInfo] = [maxPositionOption, CommonOptions.tile]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        maxPosition = try reader.read(Self.maxPositionOption, shape: shape)
        tile = try reader.read(CommonOptions.tile, shape: shape)
        try reader.finish()
        self.shape = shape
    }

    /// "pos_emb" (NH, P + 1, hs): the position embeddings e_h[n] of each query head.
    public var parameters: [TensorSpec] {
        [TensorSpec(name: "pos_emb", shape: [shape.heads, maxPosition + 1, shape.headSize])]
    }

    /// Zeros, as the paper's code: a fresh layer attends like NoPE softmax.
    public func initialize(params: UnsafeMutablePointer<Float>, rng: inout SplitMix64) {
        params.update(repeating: 0, count: parameterCount)
    }

    private var kernel: CopeKernel {
        CopeKernel(d: shape.headSize, dv: shape.headSize, P: maxPosition, tile: tile)
    }

    /// The logsumexp of every row, (B, NH, T).
    public func savedCount(B: Int, T: Int) -> Int { B * shape.heads * T }

    public func scratchCount(B: Int, T: Int) -> Int { kernel.scratchCount(T: T) }

    /// Head (b, h) of a layer call: q, k, v inside qkv (rows W apart), out rows NH*hs apart.
    private func head(_ io: AttentionIO, b: Int, h: Int) -> TileHead {
        let (T, NH, NKV, hs, W) = (io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        let g = h / shape.groupSize
        let row = io.qkv + b * T * W
        return TileHead(
            T: T, d: hs, dv: hs, q: row + h * hs, ldq: W, k: row + (NH + g) * hs, ldk: W,
            v: row + (NH + NKV + g) * hs, ldv: W, o: io.out + b * T * NH * hs + h * hs, ldo: NH * hs,
            lse: io.saved + (b * NH + h) * T)
    }

    private var embeddingCount: Int { (maxPosition + 1) * shape.headSize }

    public func forward(_ io: AttentionIO) {
        for b in 0..<io.B {
            for h in 0..<shape.heads {
                kernel.forward(head(io, b: b, h: h), e: io.params + h * embeddingCount, scratch: io.scratch)
            }
        }
    }

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let (T, NH, NKV, hs, W) = (io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        for b in 0..<io.B {
            let drow = grads.dqkv + b * T * W
            for h in 0..<NH {
                let g = h / shape.groupSize
                let tg = TileGrads(
                    dO: grads.dout + b * T * NH * hs + h * hs, lddo: NH * hs, dq: drow + h * hs, lddq: W,
                    dk: drow + (NH + g) * hs, lddk: W, dv: drow + (NH + NKV + g) * hs, lddv: W, dc: nil)
                kernel.backward(
                    head(io, b: b, h: h), tg, e: io.params + h * embeddingCount,
                    de: grads.dparams + h * embeddingCount, scratch: io.scratch)
            }
        }
    }

    /// The same kernel on head-major tensors; the embeddings as "pos_emb" [H][P+1][d] (output
    /// "dpos_emb").
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        let (H, d) = (call.H, call.d)
        let e = try call.required(
            "pos_emb", [H, maxPosition + 1, d], "cope (its position embeddings e_h[0...max_position])")
        let r = Self.compute(
            q: call.q, k: call.k, v: call.v, posEmb: e, dout: call.dout, heads: H, kvHeads: call.Hkv, T: call.T,
            d: d, dv: call.dv, maxPosition: maxPosition, tile: tile)
        var out = call.output(AttentionCoreResult(out: r.out, dq: r.dq, dk: r.dk, dv: r.dv))
        out.add("dpos_emb", [H, maxPosition + 1, d], r.dposEmb)
        return out
    }

    // MARK: - Decode

    /// Per token: k, v (NKV*hs each).
    public func cacheCount(maxTokens: Int) -> Int { maxTokens * 2 * shape.kvHeads * shape.headSize }

    /// storeQKV's (cos, sin, q, scores), then the row's gates and positions (maxTokens each) and
    /// its position logits (P + 1).
    public func decodeScratchCount(maxTokens: Int) -> Int {
        AttentionStep.qkvScratchCount(shape, maxTokens: maxTokens) + 2 * maxTokens + maxPosition + 1
    }

    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs, P) = (shape.heads, shape.kvHeads, shape.headSize, maxPosition)
        let n = step.position + 1
        let width = 2 * NKV * hs
        let (q, scores) = step.storeQKV(shape, row: step.cache + step.position * width, ropeBase: nil)
        let gates = scores + n
        let positions = gates + n
        let L = positions + n
        let k = kernel
        for h in 0..<NH {
            let g = h / shape.groupSize
            let qh = q + h * hs
            for j in 0..<n { scores[j] = k.scale * dot(qh, step.cache + j * width + g * hs, hs) }
            let e = step.params + h * embeddingCount
            for m in 0...P { L[m] = k.scale * dot(qh, e + m * hs, hs) }
            _ = k.contextualLogits(scores, n: n, L: L, gates: gates, positions: positions)
            TileKernel(scale: k.scale, tile: tile).decodeRow(
                scores: scores, n: n, v: step.cache + NKV * hs + g * hs, ldv: width, dv: hs, out: step.out + h * hs)
        }
    }
}

/// CoPE's per-head kernels on strided matrices, in row tiles of `tile` queries.
struct CopeKernel {
    let d: Int, dv: Int, P: Int, tile: Int
    var scale: Float { 1 / Float(d).squareRoot() }

    /// Floats of scratch: logits and dlogits tiles (R, T), position logits and their gradient
    /// (R, P + 1), a row's gates and positions (T each); R = min(tile, T).
    func scratchCount(T: Int) -> Int { 2 * min(tile, T) * (T + P + 1) + 2 * T }

    /// The scratch as `scratchCount` lays it out: S, dS, L, dL, gates, positions.
    private func carve(_ scratch: UnsafeMutablePointer<Float>, T: Int) -> (
        S: UnsafeMutablePointer<Float>, dS: UnsafeMutablePointer<Float>, L: UnsafeMutablePointer<Float>,
        dL: UnsafeMutablePointer<Float>, gates: UnsafeMutablePointer<Float>, positions: UnsafeMutablePointer<Float>
    ) {
        let R = min(tile, T)
        let L = scratch + 2 * R * T
        let gates = L + 2 * R * (P + 1)
        return (scratch, scratch + R * T, L, L + R * (P + 1), gates, gates + T)
    }

    /// Row logits in place over n keys: z_j -> a_j = z_j + L interpolated at p_j, p_j =
    /// min(Σ_{m=j}^{n-1} sigmoid(z_m), P) (summed in Double, rounded to Float once). Keeps sigmoid(z_j) and p_j for j >= the returned
    /// first key below P; the keys before it sit at P.
    func contextualLogits(
        _ z: UnsafeMutablePointer<Float>, n: Int, L: UnsafePointer<Float>, gates: UnsafeMutablePointer<Float>,
        positions: UnsafeMutablePointer<Float>
    ) -> Int {
        let top = Float(P)
        var acc = 0.0  // summed in Double (hundreds of gates), used rounded to Float
        var j = n - 1
        while j >= 0 {
            let g = 1 / (1 + fastExp(-z[j]))
            acc += Double(g)
            let p = Float(acc)
            if p >= top { break }
            (gates[j], positions[j]) = (g, p)
            let f = Int(p)
            z[j] += L[f] + (p - Float(f)) * (L[f + 1] - L[f])
            j -= 1
        }
        if j >= 0 { for m in 0...j { z[m] += L[P] } }
        return j + 1
    }

    /// S (R, N) = s q[i0..<i0+R] k[0..<N]ᵀ and L (R, P+1) = s q[i0..<i0+R] eᵀ, N = i0 + R.
    private func logits(
        _ h: TileHead, e: UnsafePointer<Float>, _ i0: Int, _ R: Int, S: UnsafeMutablePointer<Float>,
        L: UnsafeMutablePointer<Float>
    ) {
        let N = i0 + R
        BLAS.gemm(
            transB: true, M: R, N: N, K: d, alpha: scale, A: h.q + i0 * h.ldq, lda: h.ldq, B: h.k, ldb: h.ldk,
            beta: 0, C: S, ldc: N)
        BLAS.gemm(
            transB: true, M: R, N: P + 1, K: d, alpha: scale, A: h.q + i0 * h.ldq, lda: h.ldq, B: e, ldb: d,
            beta: 0, C: L, ldc: P + 1)
    }

    /// Turns row r's logits (query i0 + r) into its softmax weights in place, zero past the
    /// diagonal; writes lse (forward) or uses it (recompute). Returns the first key below P.
    private func weights(
        _ h: TileHead, _ i0: Int, _ r: Int, N: Int, S: UnsafeMutablePointer<Float>, L: UnsafePointer<Float>,
        gates: UnsafeMutablePointer<Float>, positions: UnsafeMutablePointer<Float>, recompute: Bool
    ) -> Int {
        let i = i0 + r
        let row = S + r * N
        let first = contextualLogits(row, n: i + 1, L: L + r * (P + 1), gates: gates, positions: positions)
        if recompute {
            _ = expShiftSum(row, i + 1, shift: h.lse![i])
        } else {
            let m = rowMax(row, i + 1)
            let sum = expShiftSum(row, i + 1, shift: m)
            scaleInPlace(row, i + 1, by: 1 / sum)
            h.lse![i] = m + log(sum)
        }
        (row + i + 1).update(repeating: 0, count: N - i - 1)
        return first
    }

    func forward(_ h: TileHead, e: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let (S, _, L, _, gates, positions) = carve(scratch, T: h.T)
        var i0 = 0
        while i0 < h.T {
            let R = min(tile, h.T - i0)
            let N = i0 + R
            logits(h, e: e, i0, R, S: S, L: L)
            for r in 0..<R {
                _ = weights(h, i0, r, N: N, S: S, L: L, gates: gates, positions: positions, recompute: false)
            }
            // O[i0..<i0+R] (R, dv) = A (R, N) · v[0..<N]
            BLAS.gemm(
                M: R, N: dv, K: N, A: S, lda: N, B: h.v, ldb: h.ldv, beta: 0, C: h.o + i0 * h.ldo, ldc: h.ldo)
            i0 += R
        }
    }

    /// Accumulates dq, dk, dv into g and de (P + 1, d) after `forward` (h.o and h.lse intact).
    func backward(
        _ h: TileHead, _ g: TileGrads, e: UnsafePointer<Float>, de: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>
    ) {
        let (S, dS, L, dL, gates, positions) = carve(scratch, T: h.T)
        var i0 = 0
        while i0 < h.T {
            let R = min(tile, h.T - i0)
            let N = i0 + R
            logits(h, e: e, i0, R, S: S, L: L)
            // forward was: O = A v ; so dA (R, N) = dO vᵀ
            BLAS.gemm(
                transB: true, M: R, N: N, K: dv, A: g.dO + i0 * g.lddo, lda: g.lddo, B: h.v, ldb: h.ldv, beta: 0,
                C: dS, ldc: N)
            dL.update(repeating: 0, count: R * (P + 1))
            for r in 0..<R {
                let first = weights(h, i0, r, N: N, S: S, L: L, gates: gates, positions: positions, recompute: true)
                rowBackward(
                    h, g, i: i0 + r, first: first, A: S + r * N, dS: dS + r * N, N: N, L: L + r * (P + 1),
                    dL: dL + r * (P + 1), gates: gates, positions: positions)
            }
            let dO = g.dO + i0 * g.lddo
            let q = h.q + i0 * h.ldq
            // dv[0..<N] += Aᵀ dO
            BLAS.gemm(
                transA: true, M: N, N: dv, K: R, A: S, lda: N, B: dO, ldb: g.lddo, beta: 1, C: g.dv, ldc: g.lddv)
            // forward was: z = s q kᵀ, L = s q eᵀ ; so dq += s dZ k + s dL e, dk += s dZᵀ q, de += s dLᵀ q
            BLAS.gemm(
                M: R, N: d, K: N, alpha: scale, A: dS, lda: N, B: h.k, ldb: h.ldk, beta: 1, C: g.dq + i0 * g.lddq,
                ldc: g.lddq)
            BLAS.gemm(
                M: R, N: d, K: P + 1, alpha: scale, A: dL, lda: P + 1, B: e, ldb: d, beta: 1,
                C: g.dq + i0 * g.lddq, ldc: g.lddq)
            BLAS.gemm(
                transA: true, M: N, N: d, K: R, alpha: scale, A: dS, lda: N, B: q, ldb: h.ldq, beta: 1, C: g.dk,
                ldc: g.lddk)
            BLAS.gemm(
                transA: true, M: P + 1, N: d, K: R, alpha: scale, A: dL, lda: P + 1, B: q, ldb: h.ldq, beta: 1,
                C: de, ldc: d)
            i0 += R
        }
    }

    /// Row i: dA in dS (N) -> dz; dL (P + 1) accumulates the position logits' gradient.
    private func rowBackward(
        _ h: TileHead, _ g: TileGrads, i: Int, first: Int, A: UnsafePointer<Float>, dS: UnsafeMutablePointer<Float>,
        N: Int, L: UnsafePointer<Float>, dL: UnsafeMutablePointer<Float>, gates: UnsafePointer<Float>,
        positions: UnsafePointer<Float>
    ) {
        // forward was: A = softmax(a) ; so da = A (dA - D), D_i = dO_i · O_i
        softmaxBackwardRow(dS, A, dot(g.dO + i * g.lddo, h.o + i * h.ldo, dv), i + 1)
        (dS + i + 1).update(repeating: 0, count: N - i - 1)
        // forward was: a_j = z_j + L[P] for the keys at P
        for j in 0..<first { dL[P] += dS[j] }
        // forward was: a_j = z_j + (1 - w) L[f] + w L[f+1], p_j = Σ_{m=j..i} g_m ; so
        // dp_j = da_j (L[f+1] - L[f]), dg_m = Σ_{j<=m} dp_j, dz_m = da_m + dg_m g_m (1 - g_m)
        var dg: Float = 0
        for j in first..<(i + 1) {
            let da = dS[j]
            let p = positions[j]
            let f = Int(p)
            let w = p - Float(f)
            dL[f] += (1 - w) * da
            dL[f + 1] += w * da
            dg += da * (L[f + 1] - L[f])
            dS[j] = da + dg * gates[j] * (1 - gates[j])
        }
    }
}

extension Cope {
    /// Output and gradients of sum(out * dout) from `compute`.
    public struct Result: Sendable {
        public var out: [Float], dq: [Float], dk: [Float], dv: [Float], dposEmb: [Float]
    }

    /// The whole map on head-major tensors: q [H][T][d], k [Hkv][T][d], v [Hkv][T][dv],
    /// posEmb [H][P+1][d], dout [H][T][dv] (nil: forward only, gradients empty).
    public static func compute(
        q: [Float], k: [Float], v: [Float], posEmb: [Float], dout: [Float]?, heads H: Int, kvHeads: Int, T: Int,
        d: Int, dv: Int, maxPosition P: Int, tile: Int = 64
    ) -> Result {
        precondition(kvHeads >= 1 && H % kvHeads == 0, "kvHeads must divide heads")
        precondition(q.count == H * T * d && k.count == kvHeads * T * d && v.count == kvHeads * T * dv)
        precondition(posEmb.count == H * (P + 1) * d)
        let kernel = CopeKernel(d: d, dv: dv, P: P, tile: tile)
        let buffers = CoreBuffers()
        defer { buffers.free() }
        let (qp, kp, vp, e) = (buffers.copy(q), buffers.copy(k), buffers.copy(v), buffers.copy(posEmb))
        let out = buffers.zeros(H * T * dv)
        let lse = buffers.zeros(T)
        let scratch = buffers.zeros(kernel.scratchCount(T: T))
        let dO = dout.map { buffers.copy($0) }
        let (dq, dk, dvv, de) = (
            buffers.zeros(q.count), buffers.zeros(k.count), buffers.zeros(v.count), buffers.zeros(posEmb.count)
        )
        let E = (P + 1) * d
        for h in 0..<H {
            let g = h / (H / kvHeads)
            let head = TileHead(
                T: T, d: d, dv: dv, q: qp + h * T * d, ldq: d, k: kp + g * T * d, ldk: d, v: vp + g * T * dv, ldv: dv,
                o: out + h * T * dv, ldo: dv, lse: lse)
            kernel.forward(head, e: e + h * E, scratch: scratch)
            guard let dO else { continue }
            let grads = TileGrads(
                dO: dO + h * T * dv, lddo: dv, dq: dq + h * T * d, lddq: d, dk: dk + g * T * d, lddk: d,
                dv: dvv + g * T * dv, lddv: dv, dc: nil)
            kernel.backward(head, grads, e: e + h * E, de: de + h * E, scratch: scratch)
        }
        func array(_ p: UnsafeMutablePointer<Float>, _ n: Int) -> [Float] {
            dout == nil ? [] : Array(UnsafeBufferPointer(start: p, count: n))
        }
        return Result(
            out: Array(UnsafeBufferPointer(start: out, count: H * T * dv)), dq: array(dq, q.count),
            dk: array(dk, k.count), dv: array(dvv, v.count), dposEmb: array(de, posEmb.count))
    }
}

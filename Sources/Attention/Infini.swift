// Infini-attention (Munkhdalai, Faruqui, Gopal 2024, "Leave No Context Behind: Efficient Infinite
// Context Transformers with Infini-attention", arXiv 2404.07143), with MQA/GQA (§1i). Per segment
// s of L = `segment` tokens, a causal softmax over the segment's own keys (A_local) is mixed with
// a retrieval from a compressive memory of the earlier segments (σ = elu + 1, as linear):
//   M_s = M_{s-1} + σ(K_s)ᵀ V_s,  z_s = z_{s-1} + Σ_t σ(k_t),
//   A_mem = σ(Q_s) M_{s-1} / (σ(Q_s) z_{s-1} + ε)   (0 in the first segment: the memory is empty),
//   option delta_rule: M_s = M_{s-1} + σ(K_s)ᵀ (V_s - σ(K_s) M_{s-1} / (σ(K_s) z_{s-1} + ε)),
//   out = sigmoid(β_h) A_mem + (1 - sigmoid(β_h)) A_local,  β = "gate.beta" [NH], init 0.
// Choices the paper leaves open: ε = 1e-6 in both denominators (as linear); the local softmax
// scaled by 1/√hs and no positional encoding (NoPE: the paper names none); segments counted from
// the sequence's first token (io.pos0 and a decode cache's pos0 do not move them); with kv heads
// the memory (M, z) belongs to the kv head and every query head of its group reads it; the delta
// rule changes M only (z is updated as without it); the delta term of the first segment is 0
// (nothing to retrieve from an empty memory).
// Training: the local part is the tile engine with a segment mask (TileKernel.segment: query i's
// first key is its segment's first token). The memory works on [V | 1], so one gemm per segment
// updates M̂ = [M | z] (hs, hs + 1) and one gives σ(Q) M̂, numerator and denominator together; the
// states entering every segment are saved, and backward carries dM̂ through a reverse sweep
// (σ and its chain rule are LinearCore's).
// Decode: the current segment's k, v rows and M̂ per kv head; at a segment boundary the finished
// segment is folded into M̂. Per token O(L hs + hs²) time, O(L + hs²) memory per kv head.
import Basics
import Foundation
import Kernels

public struct Infini: AttentionVariant {
    public static let name = "infini"
    public let shape: AttentionShape
    /// Option "segment": tokens per segment.
    public let segment: Int
    /// Option "delta_rule".
    public let deltaRule: Bool
    /// Query rows per BLAS tile; option "tile" (speed only).
    public let tile: Int
    /// Option "probs_cache_mib" (speed only), in bytes.
    public let probsCacheBytes: Int

    static let segmentOption = AttentionOption(
        "segment", default: 64, range: .atLeast(1, "must be positive"),
        doc: "tokens per segment: the local softmax sees its own segment, the memory the earlier ones")
    static let deltaRuleOption = AttentionOption(
        "delta_rule", default: false,
        doc: "update the memory with the delta rule (store only what it does not retrieve already)")

    public static let options: [any AttentionOptionInfo] = [
        segmentOption, deltaRuleOption, CommonOptions.tile, CommonOptions.probsCacheMiB,
    ]

    public init(options: [String: ConfigValue], shape: AttentionShape) throws {
        var reader = OptionReader(options, for: Self.self)
        segment = try reader.read(Self.segmentOption, shape: shape)
        deltaRule = try reader.read(Self.deltaRuleOption, shape: shape)
        tile = try reader.read(CommonOptions.tile, shape: shape)
        probsCacheBytes = try reader.probsCacheBytes(shape: shape)
        try reader.finish()
        self.shape = shape
    }

    /// gate.beta (NH), 0 at init (sigmoid 0.5).
    public var parameters: [TensorSpec] {
        var layout = LayoutBuilder()
        layout.add("gate.beta", [shape.heads])
        return layout.tensors
    }

    private var driver: HeadDriver {
        HeadDriver(shape: shape, tile: tile, probsCacheBytes: probsCacheBytes, segment: segment)
    }

    private var kernel: TileKernel {
        TileKernel(scale: 1 / Float(shape.headSize).squareRoot(), tile: tile, segment: segment)
    }

    var memory: InfiniMemory {
        InfiniMemory(H: shape.heads, Hkv: shape.kvHeads, d: shape.headSize, segment: segment, deltaRule: deltaRule)
    }

    /// Saved: lse (B, NH, T) at 0, A_local and A_mem (B, T, NH*hs), the memory's denominators
    /// (B, NH, T), the states entering each segment (B, NKV, segments, hs (hs + 1)), then the kept
    /// weights.
    private func savedLayout(B: Int, T: Int) -> (local: Int, mem: Int, den: Int, states: Int, end: Int) {
        let n = B * T * shape.outWidth
        let local = B * shape.heads * T
        let den = local + 2 * n
        let states = den + B * shape.heads * T
        return (local, local + n, den, states, states + B * memory.statesCount(T: T))
    }

    public func savedCount(B: Int, T: Int) -> Int { savedLayout(B: B, T: T).end + driver.probsCount(B: B, T: T) }

    /// The scaled dout (B, T, NH*hs), then the tiles' or the memory's scratch.
    public func scratchCount(B: Int, T: Int) -> Int {
        B * T * shape.outWidth + max(driver.scratchCount(T: T, rope: false), memory.scratchCount(T: T))
    }

    /// sigmoid(β_h).
    @inline(__always) private func gate(_ params: UnsafePointer<Float>, _ h: Int) -> Float {
        1 / (1 + exp(-params[h]))
    }

    /// The memory's rows of sequence b.
    private func sequence(_ io: AttentionIO, _ b: Int) -> InfiniMemory.Sequence {
        let (T, NH, NKV, hs, W) = (io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        let l = savedLayout(B: io.B, T: T)
        let row = io.qkv + b * T * W
        return InfiniMemory.Sequence(
            T: T, q: HeadRows(row, head: hs, row: W), k: HeadRows(row + NH * hs, head: hs, row: W),
            v: HeadRows(row + (NH + NKV) * hs, head: hs, row: W),
            mem: MutableHeadRows(io.saved + l.mem + b * T * NH * hs, head: hs, row: NH * hs),
            den: io.saved + l.den + b * NH * T, states: io.saved + l.states + b * memory.statesCount(T: T))
    }

    /// io with out at the saved A_local and the scratch after the scaled dout.
    private func localIO(_ io: AttentionIO) -> AttentionIO {
        var local = io
        local.out = io.saved + savedLayout(B: io.B, T: io.T).local
        local.scratch = io.scratch + io.B * io.T * shape.outWidth
        return local
    }

    public func forward(_ io: AttentionIO) {
        let (B, T, NH, hs) = (io.B, io.T, shape.heads, shape.headSize)
        let l = savedLayout(B: B, T: T)
        let kernel = self.kernel
        driver.forward(localIO(io), lse: io.saved, rope: nil, probs: driver.probs(io, at: l.end)) { _, _ in kernel }
        for b in 0..<B { memory.forward(sequence(io, b), scratch: localIO(io).scratch) }
        for r in 0..<B * T {
            for h in 0..<NH {
                let g = gate(io.params, h)
                let at = r * NH * hs + h * hs
                let (o, mem, local) = (io.out + at, io.saved + l.mem + at, io.saved + l.local + at)
                for c in 0..<hs { o[c] = g * mem[c] + (1 - g) * local[c] }
            }
        }
    }

    public func backward(_ io: AttentionIO, _ grads: AttentionGrads) {
        let (B, T, NH, NKV, hs, W) = (io.B, io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        let l = savedLayout(B: B, T: T)
        let scaled = io.scratch
        // forward was: out = g A_mem + (1 - g) A_local, g = sigmoid(β) ; so dβ = g (1 - g) Σ dout·(A_mem - A_local)
        for r in 0..<B * T {
            for h in 0..<NH {
                let g = gate(io.params, h)
                let at = r * NH * hs + h * hs
                let (dO, mem, local) = (grads.dout + at, io.saved + l.mem + at, io.saved + l.local + at)
                var acc: Float = 0
                for c in 0..<hs {
                    acc += dO[c] * (mem[c] - local[c])
                    scaled[at + c] = (1 - g) * dO[c]
                }
                grads.dparams[h] += g * (1 - g) * acc
            }
        }
        var localGrads = grads
        localGrads.dout = UnsafePointer(scaled)
        let kernel = self.kernel
        driver.backward(localIO(io), localGrads, lse: io.saved, rope: nil, probs: driver.probs(io, at: l.end)) { _, _ in
            kernel
        }
        for r in 0..<B * T {
            for h in 0..<NH {
                let (g, at) = (gate(io.params, h), r * NH * hs + h * hs)
                for c in 0..<hs { scaled[at + c] = g * grads.dout[at + c] }
            }
        }
        for b in 0..<B {
            let d = grads.dqkv + b * T * W
            memory.backward(
                sequence(io, b), dmem: HeadRows(scaled + b * T * NH * hs, head: hs, row: NH * hs),
                dq: MutableHeadRows(d, head: hs, row: W), dk: MutableHeadRows(d + NH * hs, head: hs, row: W),
                dv: MutableHeadRows(d + (NH + NKV) * hs, head: hs, row: W), scratch: localIO(io).scratch)
        }
    }

    // MARK: - Tensor interface

    /// The training path on head-major tensors (v as wide as q and k), with "gate.beta" [H];
    /// outputs "out", and with dout "dq", "dk", "dv", "dgate.beta".
    public func runTensors(_ call: inout TensorCall) throws -> TensorOutput {
        let (H, Hkv, T, d, C, W) = (call.H, call.Hkv, call.T, call.d, call.C, shape.qkvWidth)
        guard call.dv == d else {
            throw TensorCall.error("infini needs v as wide as q and k (d = \(d), dv = \(call.dv))")
        }
        let beta = try call.required("gate.beta", [H], "infini's memory gate")
        // qkv, x, out, params, saved, scratch, dqkv, dx, dparams, dout
        let sizes = [
            T * W, T * C, T * H * d, H, savedCount(B: 1, T: T), scratchCount(B: 1, T: T), T * W, T * C, H, T * H * d,
        ]
        let arena = Arena(sizes)
        defer { arena.free() }
        let p = arena.parts
        p[3].update(from: beta, count: H)
        // head-major (heads, T, d) <-> the fused rows (T, W) at column offset `col` of head 0
        func pack(_ src: [Float], heads: Int, col: Int, into dst: UnsafeMutablePointer<Float>, width: Int) {
            for h in 0..<heads {
                for t in 0..<T { for c in 0..<d { dst[t * width + col + h * d + c] = src[(h * T + t) * d + c] } }
            }
        }
        func unpack(_ src: UnsafePointer<Float>, heads: Int, col: Int, width: Int) -> [Float] {
            var out = [Float](repeating: 0, count: heads * T * d)
            for h in 0..<heads {
                for t in 0..<T { for c in 0..<d { out[(h * T + t) * d + c] = src[t * width + col + h * d + c] } }
            }
            return out
        }
        pack(call.q, heads: H, col: 0, into: p[0], width: W)
        pack(call.k, heads: Hkv, col: H * d, into: p[0], width: W)
        pack(call.v, heads: Hkv, col: (H + Hkv) * d, into: p[0], width: W)
        let io = AttentionIO(
            B: 1, T: T, qkv: p[0], x: p[1], out: p[2], params: p[3], saved: p[4], scratch: p[5])
        forward(io)
        var core = AttentionCoreResult(out: unpack(p[2], heads: H, col: 0, width: H * d))
        guard let dout = call.dout else { return call.output(core) }
        pack(dout, heads: H, col: 0, into: p[9], width: H * d)
        backward(io, AttentionGrads(dout: p[9], dqkv: p[6], dx: p[7], dparams: p[8]))
        core.dq = unpack(p[6], heads: H, col: 0, width: W)
        core.dk = unpack(p[6], heads: Hkv, col: H * d, width: W)
        core.dv = unpack(p[6], heads: Hkv, col: (H + Hkv) * d, width: W)
        var out = call.output(core)
        out.add("dgate.beta", [H], Array(UnsafeBufferPointer(start: p[8], count: H)))
        return out
    }

    // MARK: - Decode

    private var rowWidth: Int { 2 * shape.kvHeads * shape.headSize }

    /// M̂ (hs, hs + 1) per kv head, then the current segment's rows [k | v] (NKV*hs each).
    public func cacheCount(maxTokens: Int) -> Int {
        shape.kvHeads * memory.stateCount + min(segment, maxTokens) * rowWidth
    }

    /// storeQKV's (scores for one segment), the memory's work for one segment, σ(q) M̂ (hs + 1).
    public func decodeScratchCount(maxTokens: Int) -> Int {
        AttentionStep.qkvScratchCount(shape, maxTokens: segment) + memory.scratchCount(T: segment) + shape.headSize + 1
    }

    public func decode(_ step: AttentionStep) {
        let (NH, NKV, hs, L) = (shape.heads, shape.kvHeads, shape.headSize, segment)
        let (p, memory) = (step.position, self.memory)
        let rows = step.cache + NKV * memory.stateCount
        let work = step.scratch + AttentionStep.qkvScratchCount(shape, maxTokens: L)
        let retrieved = work + memory.scratchCount(T: L)
        if p == 0 { step.cache.update(repeating: 0, count: NKV * memory.stateCount) }
        if p % L == 0 && p > 0 {  // the finished segment p / L - 1 goes into the memory
            for g in 0..<NKV {
                memory.fold(
                    k: HeadRows(rows, head: hs, row: rowWidth), v: HeadRows(rows + NKV * hs, head: hs, row: rowWidth),
                    g: g, n: L, delta: deltaRule && p / L > 1, state: step.cache + g * memory.stateCount,
                    scratch: work)
            }
        }
        let (q, scores) = step.storeQKV(shape, row: rows + p % L * rowWidth, ropeBase: nil)
        kernel.decodeHeads(shape, q: q, cache: rows, n: p % L + 1, scores: scores, out: step.out)
        for h in 0..<NH {
            let (g, o) = (gate(step.params, h), step.out + h * hs)
            guard p >= L else {
                for c in 0..<hs { o[c] *= 1 - g }
                continue
            }
            let state = step.cache + h / shape.groupSize * memory.stateCount
            memory.retrieveRow(q + h * hs, state: state, into: retrieved, scratch: work)
            for c in 0..<hs { o[c] = g * retrieved[c] + (1 - g) * o[c] }
        }
    }
}

/// Infini-attention's compressive memory over the heads of one sequence (Infini.swift's header).
struct InfiniMemory {
    let H: Int, Hkv: Int, d: Int, segment: Int, deltaRule: Bool

    /// Columns of [V | 1] and of a state M̂ = [M | z].
    var width: Int { d + 1 }
    /// Floats of one state M̂ (d, d + 1).
    var stateCount: Int { d * width }
    func segments(T: Int) -> Int { (T + segment - 1) / segment }
    /// Floats of the states entering every segment, per sequence.
    func statesCount(T: Int) -> Int { Hkv * segments(T: T) * stateCount }

    /// σ and its chain rule.
    private var phi: LinearCore { LinearCore(H: H, Hkv: Hkv, d: d, dv: d, chunk: 1) }

    struct Sequence {
        var T: Int
        var q: HeadRows, k: HeadRows, v: HeadRows
        /// A_mem rows (written by forward).
        var mem: MutableHeadRows
        /// Denominators σ(q)·z + ε (H, T); the states entering each segment (Hkv, segments, d (d+1)).
        var den: UnsafeMutablePointer<Float>, states: UnsafeMutablePointer<Float>
    }

    /// σ(k) (T, d), [v | 1] (T, d+1), σ(q) (T, d), U, R (L, d+1), dσ(k), dσ(q) (T, d), dU, dR
    /// (L, d+1), dM̂, then dM̂ of every segment's retrieval.
    private struct Work {
        var fk, v1, fq, U, R, dfk, dfq, dU, dR, dM, dMs: UnsafeMutablePointer<Float>
        init(_ p: UnsafeMutablePointer<Float>, T: Int, d: Int, L: Int) {
            var at = p
            func take(_ count: Int) -> UnsafeMutablePointer<Float> {
                defer { at += count }
                return at
            }
            (fk, v1, fq, U, R) = (take(T * d), take(T * (d + 1)), take(T * d), take(L * (d + 1)), take(L * (d + 1)))
            (dfk, dfq, dU, dR, dM) = (take(T * d), take(T * d), take(L * (d + 1)), take(L * (d + 1)), take(d * (d + 1)))
            dMs = at
        }
    }

    func scratchCount(T: Int) -> Int {
        4 * T * d + T * width + 4 * segment * width + (segments(T: T) + 1) * stateCount
    }

    private func work(_ scratch: UnsafeMutablePointer<Float>, T: Int) -> Work { Work(scratch, T: T, d: d, L: segment) }

    /// σ(k) and [v | 1] of kv head g, T rows.
    private func prepareKV(k: HeadRows, v: HeadRows, g: Int, T: Int, _ w: Work) {
        phi.phiRows(k.at(g), stride: k.row, T: T, into: w.fk)
        for t in 0..<T {
            (w.v1 + t * width).update(from: v.at(g) + t * v.row, count: d)
            w.v1[t * width + d] = 1
        }
    }

    /// The values U (n, d+1) rows c0..<c0+n write into the memory: [v | 1], with the delta rule
    /// minus [σ(k) M / (σ(k) z + ε) | 0] (R = σ(k) M̂ kept in w.R); M̂ is the state before them.
    private func values(_ w: Work, c0: Int, n: Int, delta: Bool, state: UnsafePointer<Float>) -> UnsafePointer<Float> {
        guard delta else { return UnsafePointer(w.v1 + c0 * width) }
        BLAS.gemm(M: n, N: width, K: d, A: w.fk + c0 * d, lda: d, B: state, ldb: width, beta: 0, C: w.R, ldc: width)
        for i in 0..<n {
            let (r, u, v) = (w.R + i * width, w.U + i * width, w.v1 + (c0 + i) * width)
            let D = r[d] + Linear.epsilon
            for c in 0..<d { u[c] = v[c] - r[c] / D }
            u[d] = 1
        }
        return UnsafePointer(w.U)
    }

    /// next += σ(K)ᵀ U of rows c0..<c0+n (state is M̂ before them; next may be state itself).
    private func fold(
        _ w: Work, c0: Int, n: Int, delta: Bool, state: UnsafePointer<Float>, into next: UnsafeMutablePointer<Float>
    ) {
        let U = values(w, c0: c0, n: n, delta: delta, state: state)
        BLAS.gemm(
            transA: true, M: d, N: width, K: n, A: w.fk + c0 * d, lda: d, B: U, ldb: width, beta: 1, C: next,
            ldc: width)
    }

    /// Decode: folds n rows of kv head g into its state in place.
    func fold(
        k: HeadRows, v: HeadRows, g: Int, n: Int, delta: Bool, state: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>
    ) {
        let w = work(scratch, T: n)
        prepareKV(k: k, v: v, g: g, T: n, w)
        fold(w, c0: 0, n: n, delta: delta, state: state, into: state)
    }

    /// Decode: out (d) = σ(q) M / (σ(q) z + ε); out needs d + 1 floats.
    func retrieveRow(
        _ q: UnsafePointer<Float>, state: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>
    ) {
        phi.phiRows(q, stride: d, T: 1, into: scratch)
        BLAS.gemm(M: 1, N: width, K: d, A: scratch, lda: d, B: state, ldb: width, beta: 0, C: out, ldc: width)
        let D = out[d] + Linear.epsilon
        for c in 0..<d { out[c] /= D }
    }

    private func rows(_ seg: Int, T: Int) -> (c0: Int, n: Int) { (seg * segment, min(segment, T - seg * segment)) }

    func forward(_ s: Sequence, scratch: UnsafeMutablePointer<Float>) {
        let (T, w, nS) = (s.T, work(scratch, T: s.T), segments(T: s.T))
        for g in 0..<Hkv {
            prepareKV(k: s.k, v: s.v, g: g, T: T, w)
            let states = s.states + g * nS * stateCount
            states.update(repeating: 0, count: stateCount)
            for seg in 0..<nS - 1 {
                let (c0, n) = rows(seg, T: T)
                let next = states + (seg + 1) * stateCount
                next.update(from: states + seg * stateCount, count: stateCount)
                fold(w, c0: c0, n: n, delta: deltaRule && seg > 0, state: states + seg * stateCount, into: next)
            }
            for h in g * (H / Hkv)..<(g + 1) * (H / Hkv) {
                phi.phiRows(s.q.at(h), stride: s.q.row, T: T, into: w.fq)
                for seg in 0..<nS {
                    let (c0, n) = rows(seg, T: T)
                    let mem = s.mem.at(h) + c0 * s.mem.row
                    guard seg > 0 else {
                        for i in 0..<n { (mem + i * s.mem.row).update(repeating: 0, count: d) }
                        continue
                    }
                    BLAS.gemm(
                        M: n, N: width, K: d, A: w.fq + c0 * d, lda: d, B: states + seg * stateCount, ldb: width,
                        beta: 0, C: w.U, ldc: width)
                    for i in 0..<n {
                        let D = w.U[i * width + d] + Linear.epsilon
                        s.den[h * T + c0 + i] = D
                        for c in 0..<d { mem[i * s.mem.row + c] = w.U[i * width + c] / D }
                    }
                }
            }
        }
    }

    /// Accumulates dq, dk, dv of sum(A_mem * dmem) after `forward(s)` (mem, den, states intact).
    func backward(
        _ s: Sequence, dmem: HeadRows, dq: MutableHeadRows, dk: MutableHeadRows, dv: MutableHeadRows,
        scratch: UnsafeMutablePointer<Float>
    ) {
        let (T, w, nS) = (s.T, work(scratch, T: s.T), segments(T: s.T))
        for g in 0..<Hkv {
            prepareKV(k: s.k, v: s.v, g: g, T: T, w)
            let states = s.states + g * nS * stateCount
            w.dMs.update(repeating: 0, count: nS * stateCount)
            for h in g * (H / Hkv)..<(g + 1) * (H / Hkv) {
                retrieveBackward(s, h: h, dmem: dmem, states: states, w)
                phi.chainPhi(w.dfq, s.q.at(h), s.q.row, into: dq.at(h), dq.row, T: T)
            }
            sweep(T: T, states: states, dv: dv, g: g, w)
            phi.chainPhi(w.dfk, s.k.at(g), s.k.row, into: dk.at(g), dk.row, T: T)
        }
    }

    /// dσ(q) of head h into w.dfq, and each segment's dM̂ from its retrieval into w.dMs.
    private func retrieveBackward(_ s: Sequence, h: Int, dmem: HeadRows, states: UnsafePointer<Float>, _ w: Work) {
        let T = s.T
        phi.phiRows(s.q.at(h), stride: s.q.row, T: T, into: w.fq)
        w.dfq.update(repeating: 0, count: T * d)
        for seg in 1..<max(1, segments(T: T)) {
            let (c0, n) = rows(seg, T: T)
            for i in 0..<n {
                // forward was: mem = U[:d] / D, D = U[d] + ε ; so dU = [dmem / D, -(dmem·mem) / D]
                let t = c0 + i
                let (dO, o) = (dmem.at(h) + t * dmem.row, s.mem.at(h) + t * s.mem.row)
                let D = s.den[h * T + t]
                for c in 0..<d { w.dU[i * width + c] = dO[c] / D }
                w.dU[i * width + d] = -dot(dO, o, d) / D
            }
            // forward was: U = σ(Q) M̂ ; so dσ(Q) = dU M̂ᵀ, dM̂ += σ(Q)ᵀ dU
            let state = states + seg * stateCount
            BLAS.gemm(
                transB: true, M: n, N: d, K: width, A: w.dU, lda: width, B: state, ldb: width, beta: 0,
                C: w.dfq + c0 * d, ldc: d)
            BLAS.gemm(
                transA: true, M: d, N: width, K: n, A: w.fq + c0 * d, lda: d, B: w.dU, ldb: width, beta: 1,
                C: w.dMs + seg * stateCount, ldc: width)
        }
    }

    /// The reverse sweep over the segments of kv head g: dM̂ is the gradient of the state after
    /// segment seg; dσ(k) into w.dfk, dv accumulated.
    private func sweep(T: Int, states: UnsafePointer<Float>, dv: MutableHeadRows, g: Int, _ w: Work) {
        let nS = segments(T: T)
        w.dfk.update(repeating: 0, count: T * d)
        w.dM.update(repeating: 0, count: stateCount)
        for seg in stride(from: nS - 1, through: 0, by: -1) {
            let (c0, n) = rows(seg, T: T)
            let state = states + seg * stateCount
            if seg < nS - 1 {  // the last segment's fold feeds nothing
                let delta = deltaRule && seg > 0
                let U = values(w, c0: c0, n: n, delta: delta, state: state)
                // forward was: M̂' = M̂ + σ(K)ᵀ U ; so dσ(K) += U dM̂ᵀ, dU = σ(K) dM̂
                BLAS.gemm(
                    transB: true, M: n, N: d, K: width, A: U, lda: width, B: w.dM, ldb: width, beta: 1,
                    C: w.dfk + c0 * d, ldc: d)
                BLAS.gemm(
                    M: n, N: width, K: d, A: w.fk + c0 * d, lda: d, B: w.dM, ldb: width, beta: 0, C: w.dU, ldc: width)
                for i in 0..<n {
                    let dst = dv.at(g) + (c0 + i) * dv.row
                    for c in 0..<d { dst[c] += w.dU[i * width + c] }
                }
                if delta { deltaBackward(w, c0: c0, n: n, state: state) }
            }
            // the retrieval of segment seg read the state before it
            let dMs = w.dMs + seg * stateCount
            for j in 0..<stateCount { w.dM[j] += dMs[j] }
        }
    }

    /// forward was: U = [v - R[:d] / D | 1], R = σ(K) M̂, D = R[d] + ε ; so dR = [-dU / D,
    /// Σ_c dU_c R_c / D²], dσ(K) += dR M̂ᵀ, dM̂ += σ(K)ᵀ dR (w.R holds R, w.dU dU).
    private func deltaBackward(_ w: Work, c0: Int, n: Int, state: UnsafePointer<Float>) {
        for i in 0..<n {
            let (r, du, dr) = (w.R + i * width, w.dU + i * width, w.dR + i * width)
            let D = r[d] + Linear.epsilon
            var acc: Float = 0
            for c in 0..<d {
                dr[c] = -du[c] / D
                acc += du[c] * r[c]
            }
            dr[d] = acc / (D * D)
        }
        BLAS.gemm(
            transB: true, M: n, N: d, K: width, A: w.dR, lda: width, B: state, ldb: width, beta: 1, C: w.dfk + c0 * d,
            ldc: d)
        BLAS.gemm(
            transA: true, M: d, N: width, K: n, A: w.fk + c0 * d, lda: d, B: w.dR, ldb: width, beta: 1, C: w.dM,
            ldc: width)
    }
}

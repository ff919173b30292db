// Runs a TileKernel (CausalTiles.swift) over every (b, h) of one layer call on the fused qkv
// buffer, with optional half-split RoPE on q and k (shared/spec/attention.md §1a), and MQA/GQA
// (§1i): query head h reads kv head h / groupSize; dK, dV are summed over the group. Also the
// head-major core of the `tracker attention` interface (q (H,T,d), k (Hkv,T,d), v (Hkv,T,dv)),
// which runs the same TileKernel for the variants' `runTensors` and the golden tests.
// Extra columns (CausalTiles.swift `ExtraKeys`): sinks read a second rotation of q, at the
// positions min(i, clamp) (`SinkRotation`); persistent memory reads its keys and values from the
// layer's parameters (`MemoryOperands`) with the unrotated q.
import Foundation
import Kernels

/// Rotated copies of q (B,T,NH,hs) and k (B,T,NKV,hs) and the tables cos, sin (T, hs/2).
struct RotatedQK {
    var qr: UnsafeMutablePointer<Float>, kr: UnsafeMutablePointer<Float>
    var cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>
    var base: Double
    /// The sinks' query, rotated at positions pos0 + min(t, clamp) (sinks only).
    var sinks: SinkRotation? = nil
}

/// The sinks' copy of q (B,T,NH,hs) rotated at positions pos0 + min(t, clamp), its tables cos,
/// sin (T, hs/2), and `clamp` (S + W - 1: a sink key s is at distance min(i, clamp) - s).
struct SinkRotation {
    var qs: UnsafeMutablePointer<Float>
    var cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>
    var clamp: Int

    /// Fills the clamped tables from the plain ones (T, hs/2): row t is row min(t, clamp).
    func fillTables(from rope: RotatedQK, T: Int, hs: Int) {
        cos.update(from: rope.cos, count: T * hs / 2)
        sin.update(from: rope.sin, count: T * hs / 2)
        clampTables(cos: cos, sin: sin, T: T, hs: hs, clamp: clamp)
    }
}

/// Rows t > clamp of RoPE tables (T, hs/2) become row clamp (position min(t, clamp)).
func clampTables(cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>, T: Int, hs: Int, clamp: Int) {
    let half = hs / 2
    for t in stride(from: clamp + 1, to: T, by: 1) {
        (cos + t * half).update(from: cos + clamp * half, count: half)
        (sin + t * half).update(from: sin + clamp * half, count: half)
    }
}

/// Persistent memory in a layer's parameters: keys and values (NKV, N, hs) at these offsets,
/// used times keyScale and valueScale.
struct MemoryOperands {
    var key: Int, value: Int, count: Int
    var keyScale: Float, valueScale: Float
}

struct HeadDriver {
    let shape: AttentionShape
    let tile: Int
    /// Bytes per layer call forward may spend keeping every head's weights for backward.
    let probsCacheBytes: Int
    /// Keys each query sees (sliding window, softmax_rope's "window"); 0 = every earlier key.
    var window: Int = 0
    /// Extra columns of the kernel: sinks (with `RotatedQK.sinks`) or memory (with `memory`).
    var extra: ExtraKeys = .none
    /// Where persistent memory is, for `.memory`.
    var memory: MemoryOperands? = nil
    /// Rows per segment of a segment mask (infini's local softmax); 0 = none.
    var segment: Int = 0

    /// Kept weights: one head's causal tiles (within the window), extra columns first.
    private var kept: KeptWeights {
        let kernel = TileKernel(scale: 1, tile: tile, window: window, extra: extra, segment: segment)
        return KeptWeights(heads: shape.heads, budgetBytes: probsCacheBytes) { kernel.keptFloats(T: $0) }
    }

    /// Floats of kept weights for a (B, T) call, (B, NH) heads of causal tiles; 0 when they do
    /// not fit the budget (backward then recomputes them).
    func probsCount(B: Int, T: Int) -> Int { kept.count(B: B, T: T) }

    /// Where this call keeps its weights, at offset `offset` of io.saved: nil when they do not
    /// fit the budget or the saved buffer. Forward and backward of one call get the same answer.
    func probs(_ io: AttentionIO, at offset: Int) -> UnsafeMutablePointer<Float>? { kept.base(io, at: offset) }

    /// The kept weights of head (b, h), if this call keeps them at `probs`.
    private func headProbs(_ probs: UnsafeMutablePointer<Float>?, _ io: AttentionIO, _ b: Int, _ h: Int)
        -> UnsafeMutablePointer<Float>?
    {
        kept.head(probs, T: io.T, b: b, h: h)
    }

    /// Floats of scratch: the kernel's tiles, then dQ and dK (T, hs) when rotating, then the
    /// sinks' dQ (T, hs).
    func scratchCount(T: Int, rope: Bool) -> Int {
        let sinks = if case .sinks = extra { T * shape.headSize } else { 0 }
        return tileScratch(T: T) + (rope ? 2 * T * shape.headSize : 0) + sinks
    }

    private func tileScratch(T: Int) -> Int { TileKernel.scratchCount(tile: tile, T: T, extra: extra.count) }

    private func head(
        _ io: AttentionIO, _ b: Int, _ h: Int, lse: UnsafeMutablePointer<Float>?, rope: RotatedQK?
    ) -> TileHead {
        let (T, NH, NKV, hs, W) = (io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        let g = h / shape.groupSize
        let row = io.qkv + b * T * W
        var head = TileHead(
            T: T, d: hs, dv: hs, q: row + h * hs, ldq: W, k: row + (NH + g) * hs, ldk: W,
            v: row + (NH + NKV + g) * hs, ldv: W, o: io.out + b * T * NH * hs + h * hs,
            ldo: NH * hs, lse: lse.map { $0 + (b * NH + h) * T })
        if let rope {
            (head.q, head.ldq) = (UnsafePointer(rope.qr + b * T * NH * hs + h * hs), NH * hs)
            (head.k, head.ldk) = (UnsafePointer(rope.kr + b * T * NKV * hs + g * hs), NKV * hs)
        }
        if let sinks = rope?.sinks {  // the first keys, with q at the clamped rotation
            head.extra = ExtraOperands(
                q: sinks.qs + b * T * NH * hs + h * hs, ldq: NH * hs, k: head.k, ldk: head.ldk, v: head.v,
                ldv: head.ldv)
        }
        if let m = memory {  // learned keys and values, with q unrotated
            let at = g * m.count * hs
            head.extra = ExtraOperands(
                q: row + h * hs, ldq: W, k: io.params + m.key + at, ldk: hs, v: io.params + m.value + at, ldv: hs,
                keyScale: m.keyScale, valueScale: m.valueScale)
        }
        return head
    }

    /// Where head (b, h)'s extra columns' gradients go: the sinks' dQ and the group's dK, dV, or
    /// the unrotated dq and the memory's gradients in dparams.
    private func extraGrads(
        _ io: AttentionIO, _ grads: AttentionGrads, _ b: Int, _ h: Int, _ tg: TileGrads,
        sinkDQ: UnsafeMutablePointer<Float>
    ) -> ExtraGrads? {
        let (hs, W) = (shape.headSize, shape.qkvWidth)
        if case .sinks = extra {
            return ExtraGrads(dq: sinkDQ, lddq: hs, dk: tg.dk, lddk: tg.lddk, dv: tg.dv, lddv: tg.lddv)
        }
        guard let m = memory else { return nil }
        let at = h / shape.groupSize * m.count * hs
        return ExtraGrads(
            dq: grads.dqkv + b * io.T * W + h * hs, lddq: W, dk: grads.dparams + m.key + at, lddk: hs,
            dv: grads.dparams + m.value + at, lddv: hs)
    }

    // MARK: - Forward

    /// Writes io.out; lse (B, NH, T) for softmax maps; fills rope's buffers first if given;
    /// keeps the weights at `probs` (from `probs(_:at:)`) if given.
    func forward(
        _ io: AttentionIO, lse: UnsafeMutablePointer<Float>?, rope: RotatedQK?,
        probs: UnsafeMutablePointer<Float>?, kernel: (_ b: Int, _ h: Int) -> TileKernel
    ) {
        let (B, T, NH, NKV, hs, W) =
            (io.B, io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        if let rope {
            ropeTables(cos: rope.cos, sin: rope.sin, T: T, hs: hs, pos0: io.pos0, base: rope.base)
            ropeForward(
                out: rope.qr, inp: io.qkv, cos: rope.cos, sin: rope.sin, B: B, T: T, heads: NH,
                hs: hs, outStride: NH * hs, inpStride: W)
            ropeForward(
                out: rope.kr, inp: io.qkv + NH * hs, cos: rope.cos, sin: rope.sin, B: B, T: T,
                heads: NKV, hs: hs, outStride: NKV * hs, inpStride: W)
            if let sinks = rope.sinks {
                sinks.fillTables(from: rope, T: T, hs: hs)
                ropeForward(
                    out: sinks.qs, inp: io.qkv, cos: sinks.cos, sin: sinks.sin, B: B, T: T, heads: NH,
                    hs: hs, outStride: NH * hs, inpStride: W)
            }
        }
        for b in 0..<B {
            for h in 0..<NH {
                var th = head(io, b, h, lse: lse, rope: rope)
                th.probs = headProbs(probs, io, b, h)
                kernel(b, h).forward(th, scratch: io.scratch)
            }
        }
    }

    // MARK: - Backward

    /// Accumulates into grads.dqkv (and dc (B, NH, T) if given); returns Σ dS over all heads.
    @discardableResult
    func backward(
        _ io: AttentionIO, _ grads: AttentionGrads, lse: UnsafeMutablePointer<Float>?,
        rope: RotatedQK?, probs: UnsafeMutablePointer<Float>?, dc: UnsafeMutablePointer<Double>? = nil,
        kernel: (_ b: Int, _ h: Int) -> TileKernel
    ) -> Double {
        let (B, T, NH, NKV, hs, W) =
            (io.B, io.T, shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        let dQ = io.scratch + tileScratch(T: T)
        let dK = dQ + T * hs
        let sinkDQ = dK + T * hs
        var db = 0.0
        for b in 0..<B {
            let drow = grads.dqkv + b * T * W
            for g in 0..<NKV {
                if rope != nil { dK.update(repeating: 0, count: T * hs) }
                for h in g * shape.groupSize..<(g + 1) * shape.groupSize {
                    var tg = TileGrads(
                        dO: grads.dout + b * T * NH * hs + h * hs, lddo: NH * hs,
                        dq: drow + h * hs, lddq: W, dk: drow + (NH + g) * hs, lddk: W,
                        dv: drow + (NH + NKV + g) * hs, lddv: W,
                        dc: dc.map { $0 + (b * NH + h) * T })
                    if rope != nil {
                        dQ.update(repeating: 0, count: T * hs)
                        (tg.dq, tg.lddq, tg.dk, tg.lddk) = (dQ, hs, dK, hs)
                    }
                    if rope?.sinks != nil { sinkDQ.update(repeating: 0, count: T * hs) }
                    tg.extra = extraGrads(io, grads, b, h, tg, sinkDQ: sinkDQ)
                    var th = head(io, b, h, lse: lse, rope: rope)
                    th.probs = headProbs(probs, io, b, h)
                    db += kernel(b, h).backward(th, tg, scratch: io.scratch)
                    if let sinks = rope?.sinks {  // forward was: qs = R(pos0 + min(t, clamp)) q
                        ropeBackward(
                            dinp: drow + h * hs, dout: sinkDQ, cos: sinks.cos, sin: sinks.sin, B: 1, T: T,
                            heads: 1, hs: hs, dinpStride: W, doutStride: hs)
                    }
                    if let rope {  // forward was: qr = R(pos) q
                        ropeBackward(
                            dinp: drow + h * hs, dout: dQ, cos: rope.cos, sin: rope.sin, B: 1, T: T,
                            heads: 1, hs: hs, dinpStride: W, doutStride: hs)
                    }
                }
                if let rope {  // forward was: kr = R(pos) k, summed over the group
                    ropeBackward(
                        dinp: drow + (NH + g) * hs, dout: dK, cos: rope.cos, sin: rope.sin, B: 1,
                        T: T, heads: 1, hs: hs, dinpStride: W, doutStride: hs)
                }
            }
        }
        return db
    }
}

extension HeadDriver {
    /// Offsets of a rotating softmax variant's saved buffers: qr (B,T,NH,hs) at 0, kr
    /// (B,T,NKV,hs), lse (B,NH,T), cos and sin (T,hs/2); `end` is where the variant's own saved
    /// buffers, then the kept weights, go.
    func ropeSavedLayout(B: Int, T: Int) -> (kr: Int, lse: Int, cos: Int, end: Int) {
        let kr = B * T * shape.heads * shape.headSize
        let lse = kr + B * T * shape.kvHeads * shape.headSize
        let cos = lse + B * shape.heads * T
        return (kr, lse, cos, cos + T * shape.headSize)
    }

    /// The rotated q, k and their tables where `ropeSavedLayout` puts them in io.saved.
    func rotated(_ io: AttentionIO, base: Double) -> RotatedQK {
        let l = ropeSavedLayout(B: io.B, T: io.T)
        return RotatedQK(
            qr: io.saved, kr: io.saved + l.kr, cos: io.saved + l.cos,
            sin: io.saved + l.cos + io.T * shape.headSize / 2, base: base)
    }
}

/// x[l] = Σ_{i >= l} x[i] over n entries (FoX: d log f_l = Σ_{i>=l} dc_i).
func reverseCumsum(_ x: UnsafeMutablePointer<Double>, _ n: Int) {
    var acc = 0.0
    for l in stride(from: n - 1, through: 0, by: -1) {
        acc += x[l]
        x[l] = acc
    }
}

/// Output of a variant's head-major core; gradients are of sum(out * dout), empty without dout.
public struct AttentionCoreResult: Sendable {
    public var out: [Float]  // (H, T, dv)
    public var dq: [Float] = [], dk: [Float] = [], dv: [Float] = []  // like q, k, v
    public var dlogF: [Float] = []  // (H, T), the tile engine with log f (forgetting)
    public var dbias: Double = 0  // Σ dS, the tile engine's sigmoid map (sigmoid's b)
    /// Gradients of persistent memory's stored key (Hkv, N, d) and value (Hkv, N, dv) tensors.
    public var dmemoryKey: [Float] = [], dmemoryValue: [Float] = []

    public init(out: [Float], dq: [Float] = [], dk: [Float] = [], dv: [Float] = []) {
        (self.out, self.dq, self.dk, self.dv) = (out, dq, dk, dv)
    }
}

/// The extra columns of a head-major core call (CausalTiles.swift `ExtraKeys`).
enum HeadMajorExtra {
    case none
    /// Sinks: the kernel's `.sinks(S)` with q rotated at min(t, clamp) for the sink columns.
    case sinks(clamp: Int)
    /// Persistent memory: keys (Hkv, N, d) and values (Hkv, N, dv), used times the scales.
    case memory(key: [Float], value: [Float], count: Int, keyScale: Float, valueScale: Float)
}

enum HeadMajorCore {
    /// The tile engine over every head of a tensor call: `kernel(h)` is head h's kernel (scale,
    /// row map, bias, window, extra columns); logF (H, T) adds FoX's bias c_i - c_j; ropeBase
    /// rotates q and k; `extra` gives the extra columns' operands. `after(h, o, dO)` runs after
    /// head h's forward, before its backward: it may map the head's output o (T, dv) in place
    /// (rela's norm) and turn dO (T, dv), the gradient of the mapped output, into the gradient of
    /// the kernel's output.
    static func run(
        _ call: TensorCall, logF: [Float]? = nil, ropeBase: Double? = nil, extra: HeadMajorExtra = .none,
        kernel: (_ h: Int) -> TileKernel,
        after: (_ h: Int, _ o: UnsafeMutablePointer<Float>, _ dO: UnsafeMutablePointer<Float>?) -> Void = { _, _, _ in }
    ) -> AttentionCoreResult {
        let (H, Hkv, T, d, dv) = (call.H, call.Hkv, call.T, call.d, call.dv)
        let buffers = CoreBuffers()
        defer { buffers.free() }
        let ops = Operands(call, buffers: buffers, ropeBase: ropeBase, extra: extra)
        let c = UnsafeMutablePointer<Double>.allocate(capacity: 2 * H * T + 1)
        defer { c.deallocate() }
        let dc = c + H * T
        c.initialize(repeating: 0, count: 2 * H * T + 1)
        if let logF {  // c = cumsum(log f) per head, in Double
            for h in 0..<H {
                var acc = 0.0
                for t in 0..<T {
                    acc += Double(logF[h * T + t])
                    c[h * T + t] = acc
                }
            }
        }
        let out = buffers.zeros(H * T * dv)
        let lse = buffers.zeros(H * T)
        let dO = call.dout.map { buffers.copy($0) }
        var dbias = 0.0
        for h in 0..<H {
            let g = h / (H / Hkv)
            var kernel = kernel(h)
            if logF != nil { kernel.bias = .cumulative(c + h * T) }
            let scratch = buffers.zeros(TileKernel.scratchCount(tile: kernel.tile, T: T, extra: kernel.extra.count))
            let head = ops.head(h, g, out: out + h * T * dv, lse: lse + h * T)
            kernel.forward(head, scratch: scratch)
            after(h, out + h * T * dv, dO.map { $0 + h * T * dv })
            guard let dO else { continue }
            var grads = TileGrads(
                dO: dO + h * T * dv, lddo: dv, dq: ops.dQ + h * T * d, lddq: d, dk: ops.dK + g * T * d,
                lddk: d, dv: ops.dV + g * T * dv, lddv: dv, dc: dc + h * T)
            grads.extra = ops.extraGrads(h, g, grads)
            dbias += kernel.backward(head, grads, scratch: scratch)
        }
        var result = AttentionCoreResult(out: Array(UnsafeBufferPointer(start: out, count: H * T * dv)))
        guard dO != nil else { return result }
        ops.finishGradients(&result, buffers: buffers)
        result.dbias = dbias
        if logF != nil {
            for h in 0..<H { reverseCumsum(dc + h * T, T) }
            result.dlogF = (0..<H * T).map { Float(dc[$0]) }
        }
        return result
    }

    /// One call's operands and gradient buffers, head-major: q, k (rotated in place with RoPE), v,
    /// the extra columns' query (sinks: q at the clamped rotation; memory: q unrotated) with its
    /// gradient, the memory's keys and values with theirs.
    private struct Operands {
        let H: Int, Hkv: Int, T: Int, d: Int, dv: Int
        let q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>
        let dQ: UnsafeMutablePointer<Float>, dK: UnsafeMutablePointer<Float>, dV: UnsafeMutablePointer<Float>
        let rope: HeadRotation?
        /// The extra columns' query and its gradient; the sinks' rotation of it.
        var qx: UnsafeMutablePointer<Float>? = nil, dqx: UnsafeMutablePointer<Float>? = nil
        var sinkRotation: HeadRotation? = nil
        /// Memory: keys, values and their gradients.
        var memory:
            (
                k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                dv: UnsafeMutablePointer<Float>
            )? = nil
        var count = 0, keyScale: Float = 1, valueScale: Float = 1

        init(_ call: TensorCall, buffers: CoreBuffers, ropeBase: Double?, extra: HeadMajorExtra) {
            (H, Hkv, T, d, dv) = (call.H, call.Hkv, call.T, call.d, call.dv)
            (q, k, v) = (buffers.copy(call.q), buffers.copy(call.k), buffers.copy(call.v))
            (dQ, dK, dV) = (buffers.zeros(H * T * d), buffers.zeros(Hkv * T * d), buffers.zeros(Hkv * T * call.dv))
            switch extra {
            case .none: break
            case .sinks(let clamp):
                (qx, dqx) = (buffers.copy(call.q), buffers.zeros(H * T * d))
                sinkRotation = HeadRotation(
                    buffers: buffers, T: T, d: d, base: ropeBase ?? 10_000, clamp: clamp, q: (qx!, H), k: (qx!, 0))
            case .memory(let key, let value, let n, let ks, let vs):
                (qx, dqx) = (buffers.copy(call.q), buffers.zeros(H * T * d))
                memory = (buffers.copy(key), buffers.copy(value), buffers.zeros(key.count), buffers.zeros(value.count))
                (count, keyScale, valueScale) = (n, ks, vs)
            }
            let (q, k) = (q, k)
            rope = ropeBase.map { base in
                HeadRotation(buffers: buffers, T: call.T, d: call.d, base: base, q: (q, call.H), k: (k, call.Hkv))
            }
        }

        func head(_ h: Int, _ g: Int, out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>) -> TileHead {
            var head = TileHead(
                T: T, d: d, dv: dv, q: q + h * T * d, ldq: d, k: k + g * T * d, ldk: d, v: v + g * T * dv, ldv: dv,
                o: out, ldo: dv, lse: lse)
            guard let qx else { return head }
            let (kx, vx) =
                memory.map { (UnsafePointer($0.k) + g * count * d, UnsafePointer($0.v) + g * count * dv) }
                ?? (head.k, head.v)
            head.extra = ExtraOperands(
                q: qx + h * T * d, ldq: d, k: kx, ldk: d, v: vx, ldv: dv, keyScale: keyScale, valueScale: valueScale)
            return head
        }

        func extraGrads(_ h: Int, _ g: Int, _ grads: TileGrads) -> ExtraGrads? {
            guard let dqx else { return nil }
            let (dkx, dvx) = memory.map { ($0.dk + g * count * d, $0.dv + g * count * dv) } ?? (grads.dk, grads.dv)
            return ExtraGrads(dq: dqx + h * T * d, lddq: d, dk: dkx, lddk: d, dv: dvx, lddv: dv)
        }

        /// dq, dk, dv (rotated back, the extra query's gradient added) and the memory's gradients.
        func finishGradients(_ result: inout AttentionCoreResult, buffers: CoreBuffers) {
            rope?.backward(buffers: buffers, dq: dQ, dk: dK)
            if let dqx {
                sinkRotation?.backward(buffers: buffers, dq: dqx, dk: dqx)
                for i in 0..<H * T * d { dQ[i] += dqx[i] }
            }
            result.dq = Array(UnsafeBufferPointer(start: dQ, count: H * T * d))
            result.dk = Array(UnsafeBufferPointer(start: dK, count: Hkv * T * d))
            result.dv = Array(UnsafeBufferPointer(start: dV, count: Hkv * T * dv))
            if let m = memory {
                result.dmemoryKey = Array(UnsafeBufferPointer(start: m.dk, count: Hkv * count * d))
                result.dmemoryValue = Array(UnsafeBufferPointer(start: m.dv, count: Hkv * count * dv))
            }
        }
    }
}

/// Half-split RoPE in place on head-major q (heads, T, d) and k, and its backward.
struct HeadRotation {
    let T: Int, d: Int
    let cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>
    let qHeads: Int, kHeads: Int

    /// Rotates q and k in place, at positions min(t, clamp) with a clamp (the sinks' query).
    init(
        buffers: CoreBuffers, T: Int, d: Int, base: Double, clamp: Int? = nil, q: (UnsafeMutablePointer<Float>, Int),
        k: (UnsafeMutablePointer<Float>, Int)
    ) {
        (self.T, self.d, qHeads, kHeads) = (T, d, q.1, k.1)
        (cos, sin) = (buffers.zeros(T * d / 2), buffers.zeros(T * d / 2))
        ropeTables(cos: cos, sin: sin, T: T, hs: d, base: base)
        if let clamp { clampTables(cos: cos, sin: sin, T: T, hs: d, clamp: clamp) }
        for (x, heads) in [q, k] {
            ropeForward(
                out: x, inp: x, cos: cos, sin: sin, B: heads, T: T, heads: 1, hs: d, outStride: d, inpStride: d)
        }
    }

    /// forward was: qr = R(pos) q, kr = R(pos) k ; so dq = R(pos)ᵀ dqr, in place, and dk alike
    func backward(buffers: CoreBuffers, dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>) {
        for (g, heads) in [(dq, qHeads), (dk, kHeads)] {
            let rotated = buffers.copy(Array(UnsafeBufferPointer(start: g, count: heads * T * d)))
            g.update(repeating: 0, count: heads * T * d)
            ropeBackward(
                dinp: g, dout: rotated, cos: cos, sin: sin, B: heads, T: T, heads: 1, hs: d, dinpStride: d,
                doutStride: d)
        }
    }
}

/// Float buffers of one core call, freed together.
final class CoreBuffers {
    private var all: [UnsafeMutablePointer<Float>] = []

    func zeros(_ n: Int) -> UnsafeMutablePointer<Float> {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
        p.initialize(repeating: 0, count: max(n, 1))
        all.append(p)
        return p
    }

    func copy(_ a: [Float]) -> UnsafeMutablePointer<Float> {
        let p = zeros(a.count)
        p.update(from: a, count: a.count)
        return p
    }

    func free() { for p in all { p.deallocate() } }
}

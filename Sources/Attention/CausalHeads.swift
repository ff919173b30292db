// Runs a TileKernel (CausalTiles.swift) over every (b, h) of one layer call on the fused qkv
// buffer, with optional half-split RoPE on q and k (shared/spec/attention.md §1a), and MQA/GQA
// (§1i): query head h reads kv head h / groupSize; dK, dV are summed over the group. Also the
// head-major core of the `tracker attention` interface (q (H,T,d), k (Hkv,T,d), v (Hkv,T,dv)),
// which runs the same TileKernel for the variants' `runTensors` and the golden tests.
import Foundation
import Kernels

/// Rotated copies of q (B,T,NH,hs) and k (B,T,NKV,hs) and the tables cos, sin (T, hs/2).
struct RotatedQK {
    var qr: UnsafeMutablePointer<Float>, kr: UnsafeMutablePointer<Float>
    var cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>
    var base: Double
}

struct HeadDriver {
    let shape: AttentionShape
    let tile: Int
    /// Bytes per layer call forward may spend keeping every head's weights for backward.
    let probsCacheBytes: Int
    /// Keys each query sees (sliding window, softmax_rope's "window"); 0 = every earlier key.
    var window: Int = 0

    /// Floats of one head's kept weights: its causal tiles (within the window).
    private func perHead(T: Int) -> Int {
        TileKernel(scale: 1, tile: tile, window: window).keptFloats(T: T)
    }

    /// Floats of kept weights for a (B, T) call, (B, NH) heads of causal tiles; 0 when they do
    /// not fit the budget (backward then recomputes them).
    func probsCount(B: Int, T: Int) -> Int {
        let count = B * shape.heads * perHead(T: T)
        return probsFit(count, budgetBytes: probsCacheBytes) ? count : 0
    }

    /// Where this call keeps its weights, at offset `offset` of io.saved: nil when they do not
    /// fit the budget or the saved buffer. Forward and backward of one call get the same answer.
    func probs(_ io: AttentionIO, at offset: Int) -> UnsafeMutablePointer<Float>? {
        let count = probsCount(B: io.B, T: io.T)
        return count > 0 && io.savedHasRoom(at: offset, count: count) ? io.saved + offset : nil
    }

    /// The kept weights of head (b, h), if this call keeps them at `probs`.
    private func headProbs(_ probs: UnsafeMutablePointer<Float>?, _ io: AttentionIO, _ b: Int, _ h: Int)
        -> UnsafeMutablePointer<Float>?
    {
        probs.map { $0 + (b * shape.heads + h) * perHead(T: io.T) }
    }

    /// Floats of scratch: the kernel's tiles, then dQ and dK (T, hs) when rotating.
    func scratchCount(T: Int, rope: Bool) -> Int {
        TileKernel.scratchCount(tile: tile, T: T) + (rope ? 2 * T * shape.headSize : 0)
    }

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
        return head
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
        let dQ = io.scratch + TileKernel.scratchCount(tile: tile, T: T)
        let dK = dQ + T * hs
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
                    var th = head(io, b, h, lse: lse, rope: rope)
                    th.probs = headProbs(probs, io, b, h)
                    db += kernel(b, h).backward(th, tg, scratch: io.scratch)
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

    public init(out: [Float], dq: [Float] = [], dk: [Float] = [], dv: [Float] = []) {
        (self.out, self.dq, self.dk, self.dv) = (out, dq, dk, dv)
    }
}

enum HeadMajorCore {
    /// The tile engine over every head of a tensor call: `kernel(h)` is head h's kernel (scale,
    /// row map, bias, window); logF (H, T) adds FoX's bias c_i - c_j; ropeBase rotates q and k.
    /// `after(h, o, dO)` runs after head h's forward, before its backward: it may map the head's
    /// output o (T, dv) in place (rela's norm) and turn dO (T, dv), the gradient of the mapped
    /// output, into the gradient of the kernel's output.
    static func run(
        _ call: TensorCall, logF: [Float]? = nil, ropeBase: Double? = nil, kernel: (_ h: Int) -> TileKernel,
        after: (_ h: Int, _ o: UnsafeMutablePointer<Float>, _ dO: UnsafeMutablePointer<Float>?) -> Void = { _, _, _ in }
    ) -> AttentionCoreResult {
        let (H, Hkv, T, d, dv) = (call.H, call.Hkv, call.T, call.d, call.dv)
        let buffers = CoreBuffers()
        defer { buffers.free() }
        let (qr, kr, vv) = (buffers.copy(call.q), buffers.copy(call.k), buffers.copy(call.v))
        let rope = ropeBase.map { base in
            HeadRotation(buffers: buffers, T: T, d: d, base: base, q: (qr, H), k: (kr, Hkv))
        }
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
        let dq = buffers.zeros(H * T * d)
        let dk = buffers.zeros(Hkv * T * d)
        let dvv = buffers.zeros(Hkv * T * dv)
        var dbias = 0.0
        for h in 0..<H {
            let g = h / (H / Hkv)
            var kernel = kernel(h)
            if logF != nil { kernel.bias = .cumulative(c + h * T) }
            let scratch = buffers.zeros(TileKernel.scratchCount(tile: kernel.tile, T: T))
            let head = TileHead(
                T: T, d: d, dv: dv, q: qr + h * T * d, ldq: d, k: kr + g * T * d, ldk: d,
                v: vv + g * T * dv, ldv: dv, o: out + h * T * dv, ldo: dv, lse: lse + h * T)
            kernel.forward(head, scratch: scratch)
            after(h, out + h * T * dv, dO.map { $0 + h * T * dv })
            guard let dO else { continue }
            let grads = TileGrads(
                dO: dO + h * T * dv, lddo: dv, dq: dq + h * T * d, lddq: d, dk: dk + g * T * d,
                lddk: d, dv: dvv + g * T * dv, lddv: dv, dc: dc + h * T)
            dbias += kernel.backward(head, grads, scratch: scratch)
        }
        var result = AttentionCoreResult(
            out: Array(UnsafeBufferPointer(start: out, count: H * T * dv)))
        guard dO != nil else { return result }
        rope?.backward(buffers: buffers, dq: dq, dk: dk)
        result.dq = Array(UnsafeBufferPointer(start: dq, count: H * T * d))
        result.dk = Array(UnsafeBufferPointer(start: dk, count: Hkv * T * d))
        result.dv = Array(UnsafeBufferPointer(start: dvv, count: Hkv * T * dv))
        result.dbias = dbias
        if logF != nil {
            for h in 0..<H { reverseCumsum(dc + h * T, T) }
            result.dlogF = (0..<H * T).map { Float(dc[$0]) }
        }
        return result
    }
}

/// Half-split RoPE in place on head-major q (heads, T, d) and k, and its backward.
private struct HeadRotation {
    let T: Int, d: Int
    let cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>
    let qHeads: Int, kHeads: Int

    /// Rotates q and k in place.
    init(
        buffers: CoreBuffers, T: Int, d: Int, base: Double, q: (UnsafeMutablePointer<Float>, Int),
        k: (UnsafeMutablePointer<Float>, Int)
    ) {
        (self.T, self.d, qHeads, kHeads) = (T, d, q.1, k.1)
        (cos, sin) = (buffers.zeros(T * d / 2), buffers.zeros(T * d / 2))
        ropeTables(cos: cos, sin: sin, T: T, hs: d, base: base)
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
private final class CoreBuffers {
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

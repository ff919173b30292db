// AdamW (Loshchilov & Hutter, arXiv 1711.05101) over one flat parameter arena, as in llm.c's
// gpt2_update: first and second moments in Float, bias corrections from the step count, and
// decoupled weight decay on the segments marked `decay` only (matrices, not norms or biases).
// The update is split by index range so the trainer's worker threads each update one half.
import Foundation
import Kernels

/// A run of parameters that share the weight-decay flag (one tensor, usually).
public struct ParameterSegment: Sendable, Equatable {
    public var offset: Int
    public var count: Int
    public var decay: Bool
    public init(offset: Int, count: Int, decay: Bool) {
        self.offset = offset
        self.count = count
        self.decay = decay
    }
}

/// The optimizer's hyper-parameters for one step.
public struct AdamWSettings: Sendable, Equatable {
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
    public var weightDecay: Double
    public init(beta1: Double = 0.9, beta2: Double = 0.95, eps: Double = 1e-8, weightDecay: Double = 0.01) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }
}

/// AdamW state: the moments m and v (one Float per parameter) and the number of steps taken.
public final class AdamW: @unchecked Sendable {
    public let count: Int
    public var settings: AdamWSettings
    /// First moment, (P,).
    public let m: UnsafeMutableBufferPointer<Float>
    /// Second moment, (P,).
    public let v: UnsafeMutableBufferPointer<Float>
    /// Steps taken so far; the next update uses t + 1 in the bias corrections.
    public var t = 0
    /// Segments sorted by offset, covering [0, count) (gaps filled as non-decayed).
    public let segments: [ParameterSegment]

    public init(count: Int, segments: [ParameterSegment], settings: AdamWSettings) {
        self.count = count
        self.settings = settings
        m = LargeFloats.zeros(count)
        v = LargeFloats.zeros(count)
        self.segments = Self.cover(count: count, segments)
    }

    deinit {
        LargeFloats.deallocate(m.baseAddress)
        LargeFloats.deallocate(v.baseAddress)
    }

    /// Sorted, gap-free segments over [0, count): a parameter outside every given segment is
    /// still updated (without decay), so nothing in the arena is silently frozen.
    static func cover(count: Int, _ given: [ParameterSegment]) -> [ParameterSegment] {
        var out: [ParameterSegment] = []
        var at = 0
        for s in given.sorted(by: { $0.offset < $1.offset }) where s.count > 0 {
            precondition(s.offset >= at && s.offset + s.count <= count, "overlapping or out-of-range segment")
            if s.offset > at { out.append(ParameterSegment(offset: at, count: s.offset - at, decay: false)) }
            out.append(s)
            at = s.offset + s.count
        }
        if at < count { out.append(ParameterSegment(offset: at, count: count - at, decay: false)) }
        return out
    }

    /// Updates params[range] from grads[range] * gradScale with learning rate `lr`, as step `t + 1`.
    /// Call it on disjoint ranges (from any threads), then `finishStep()` once.
    public func update(
        params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, range: Range<Int>,
        lr: Double, gradScale: Float
    ) {
        apply(params: params, grads: grads, clear: nil, range: range, lr: lr, gradScale: gradScale)
    }

    /// `update`, then grads[range] = 0, in the same pass (the trainer's next step accumulates
    /// into zeroed gradients; clearing them here saves walking 4 bytes per parameter again).
    public func updateAndClear(
        params: UnsafeMutablePointer<Float>, grads: UnsafeMutablePointer<Float>, range: Range<Int>,
        lr: Double, gradScale: Float
    ) {
        apply(params: params, grads: grads, clear: grads, range: range, lr: lr, gradScale: gradScale)
    }

    /// Eight lanes at a time, each lane the same float operations in the same order as the scalar
    /// tail, so the result does not depend on where a range starts (AdamWTests checks this).
    @inline(__always)
    private func apply(
        params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, clear: UnsafeMutablePointer<Float>?,
        range: Range<Int>, lr: Double, gradScale: Float
    ) {
        typealias V8 = Vec8
        let step = Double(t + 1)
        let b1 = Float(settings.beta1)
        let b2 = Float(settings.beta2)
        let bc1 = Float(1 - pow(settings.beta1, step))
        let bc2 = Float(1 - pow(settings.beta2, step))
        let eps = Float(settings.eps)
        let lrf = Float(lr)
        let m = self.m.baseAddress!
        let v = self.v.baseAddress!
        for seg in segments {
            let lo = max(range.lowerBound, seg.offset)
            let hi = min(range.upperBound, seg.offset + seg.count)
            if lo >= hi { continue }
            let wd = seg.decay ? Float(settings.weightDecay) : 0
            let (vb1, vc1, vb2, vc2) = (
                V8(repeating: b1), V8(repeating: 1 - b1), V8(repeating: b2), V8(repeating: 1 - b2)
            )
            let (vbc1, vbc2, veps, vlr, vwd) = (
                V8(repeating: bc1), V8(repeating: bc2), V8(repeating: eps), V8(repeating: lrf), V8(repeating: wd)
            )
            var i = lo
            while i + 8 <= hi {
                let g = load8(grads + i) * gradScale
                let mi = vb1 * load8(m + i) + vc1 * g
                let vi = vb2 * load8(v + i) + vc2 * g * g
                store8(mi, m + i)
                store8(vi, v + i)
                let mHat = mi / vbc1
                let vHat = vi / vbc2
                let p = load8(params + i)
                store8(p - vlr * (mHat / (vsqrt(vHat) + veps) + vwd * p), params + i)
                if let clear { store8(V8(), clear + i) }
                i += 8
            }
            while i < hi {
                let g = grads[i] * gradScale
                let mi = b1 * m[i] + (1 - b1) * g
                let vi = b2 * v[i] + (1 - b2) * g * g
                m[i] = mi
                v[i] = vi
                let mHat = mi / bc1
                let vHat = vi / bc2
                params[i] -= lrf * (mHat / (vHat.squareRoot() + eps) + wd * params[i])
                clear?[i] = 0
                i += 1
            }
        }
    }

    /// Counts the step once every range has been updated.
    public func finishStep() { t += 1 }

    /// One whole step on the calling thread.
    public func step(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, lr: Double, gradScale: Float = 1)
    {
        update(params: params, grads: grads, range: 0..<count, lr: lr, gradScale: gradScale)
        finishStep()
    }
}

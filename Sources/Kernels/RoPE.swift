// Rotary position embedding (Su et al. 2021, arXiv 2104.09864), half-split ("rotate_half",
// GPT-NeoX/Llama) convention of shared/spec/attention.md §1a: for m < hs/2 and position p,
//   x'[m]      = x[m] cos(p θ_m) - x[m+hs/2] sin(p θ_m)
//   x'[m+hs/2] = x[m+hs/2] cos(p θ_m) + x[m] sin(p θ_m),   θ_m = base^(-2m/hs).
// Angles are computed in Double into (T, hs/2) tables, then shared by every head. A position's
// row depends only on the position, hs and base, so the rows of positions 0 ..< n are computed
// once per process (`RopeRows`) and copied: a training step of config A called cos and sin
// 65,536 times per worker for the same four tables. The rotations go eight pairs at a time (the
// same float operations as the scalar tail).
import Foundation
import Synchronization

/// Fills cos/sin (T, hs/2) for positions pos0 ..< pos0+T.
public func ropeTables(
    cos: UnsafeMutablePointer<Float>,  // (T, hs/2)
    sin: UnsafeMutablePointer<Float>,  // (T, hs/2)
    T: Int, hs: Int, pos0: Int = 0, base: Double = 10_000
) {
    let half = hs / 2
    guard T > 1, pos0 >= 0, let rows = RopeRows.shared.rows(through: pos0 + T, hs: hs, base: base) else {
        ropeRows(cos: cos, sin: sin, T: T, hs: hs, pos0: pos0, base: base)
        return
    }
    rows.cos.withUnsafeBufferPointer { cos.update(from: $0.baseAddress! + pos0 * half, count: T * half) }
    rows.sin.withUnsafeBufferPointer { sin.update(from: $0.baseAddress! + pos0 * half, count: T * half) }
}

/// Computes the rows of positions pos0 ..< pos0+T (what `ropeTables` copies).
func ropeRows(
    cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>, T: Int, hs: Int, pos0: Int, base: Double
) {
    let half = hs / 2
    let ratio = pow(base, -2 / Double(hs))  // θ_m = ratio^m, built by multiplication: no allocation
    for t in 0..<T {
        let p = Double(pos0 + t)
        var theta = 1.0
        for m in 0..<half {
            let angle = p * theta
            theta *= ratio
            cos[t * half + m] = Float(Foundation.cos(angle))
            sin[t * half + m] = Float(Foundation.sin(angle))
        }
    }
}

/// The process's RoPE rows of positions 0 ..< count per (hs, base), grown by doubling up to
/// `maxFloats` per table (beyond, tables are computed per call). Stored arrays are never
/// mutated, so a caller copies from its reference outside the lock.
final class RopeRows: Sendable {
    static let shared = RopeRows()
    /// 4 MiB per table: positions 0 ..< 32,768 at hs = 64.
    static let maxFloats = 1 << 20

    struct Key: Hashable {
        var hs: Int
        var base: Double
    }
    struct Rows {
        var count: Int
        var cos: [Float], sin: [Float]
    }

    private let table = Mutex<[Key: Rows]>([:])

    /// Rows of at least positions 0 ..< n, or nil when they would not fit `maxFloats`.
    func rows(through n: Int, hs: Int, base: Double) -> Rows? {
        let half = hs / 2
        guard half >= 1, n <= Self.maxFloats / half else { return nil }
        let key = Key(hs: hs, base: base)
        let cached = table.withLock { $0[key] }
        if let cached, cached.count >= n { return cached }
        let count = min(Self.maxFloats / half, max(n, 256, 2 * (cached?.count ?? 0)))
        var cos = [Float](repeating: 0, count: count * half)
        var sin = [Float](repeating: 0, count: count * half)
        cos.withUnsafeMutableBufferPointer { c in
            sin.withUnsafeMutableBufferPointer { s in
                ropeRows(cos: c.baseAddress!, sin: s.baseAddress!, T: count, hs: hs, pos0: 0, base: base)
            }
        }
        let rows = Rows(count: count, cos: cos, sin: sin)
        table.withLock { if ($0[key]?.count ?? 0) < count { $0[key] = rows } }
        return rows
    }
}

/// Rotates `heads` vectors of size hs per (b,t) row; out may alias inp. Rows are `inpStride` /
/// `outStride` floats apart, so q and k can be read straight out of a fused qkv buffer.
public func ropeForward(
    out: UnsafeMutablePointer<Float>,  // (B, T, heads, hs) with row stride outStride
    inp: UnsafePointer<Float>,  // (B, T, heads, hs) with row stride inpStride
    cos: UnsafePointer<Float>,  // (T, hs/2)
    sin: UnsafePointer<Float>,  // (T, hs/2)
    B: Int, T: Int, heads: Int, hs: Int, outStride: Int, inpStride: Int
) {
    let half = hs / 2
    for b in 0..<B {
        for t in 0..<T {
            let c = cos + t * half
            let s = sin + t * half
            for h in 0..<heads {
                let x = inp + (b * T + t) * inpStride + h * hs
                let o = out + (b * T + t) * outStride + h * hs
                var m = 0
                while m + 8 <= half {
                    let x1 = load8(x + m)
                    let x2 = load8(x + m + half)
                    let cm = load8(c + m)
                    let sm = load8(s + m)
                    store8(x1 * cm - x2 * sm, o + m)
                    store8(x2 * cm + x1 * sm, o + m + half)
                    m += 8
                }
                while m < half {
                    let x1 = x[m]
                    let x2 = x[m + half]
                    o[m] = x1 * c[m] - x2 * s[m]
                    o[m + half] = x2 * c[m] + x1 * s[m]
                    m += 1
                }
            }
        }
    }
}

/// dinp += Rᵀ dout (rotation by the negative angle).
public func ropeBackward(
    dinp: UnsafeMutablePointer<Float>,  // (B, T, heads, hs) with row stride dinpStride
    dout: UnsafePointer<Float>,  // (B, T, heads, hs) with row stride doutStride
    cos: UnsafePointer<Float>,  // (T, hs/2)
    sin: UnsafePointer<Float>,  // (T, hs/2)
    B: Int, T: Int, heads: Int, hs: Int, dinpStride: Int, doutStride: Int
) {
    let half = hs / 2
    for b in 0..<B {
        for t in 0..<T {
            let c = cos + t * half
            let s = sin + t * half
            for h in 0..<heads {
                let g = dout + (b * T + t) * doutStride + h * hs
                let d = dinp + (b * T + t) * dinpStride + h * hs
                // forward was: o[m] = x1 c - x2 s ; o[m+half] = x2 c + x1 s
                var m = 0
                while m + 8 <= half {
                    let g1 = load8(g + m)
                    let g2 = load8(g + m + half)
                    let cm = load8(c + m)
                    let sm = load8(s + m)
                    store8(load8(d + m) + (g1 * cm + g2 * sm), d + m)
                    store8(load8(d + m + half) + (g2 * cm - g1 * sm), d + m + half)
                    m += 8
                }
                while m < half {
                    let g1 = g[m]
                    let g2 = g[m + half]
                    d[m] += g1 * c[m] + g2 * s[m]
                    d[m + half] += g2 * c[m] - g1 * s[m]
                    m += 1
                }
            }
        }
    }
}

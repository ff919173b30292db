// Vectorised exp, tanh and row reductions over SIMD8<Float>, and over SIMD16<Float> for the
// exp-heavy rows (softmax sums, GELU), used by softmax, cross-entropy, GELU and SwiGLU. exp is
// Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, then a degree-7 Taylor polynomial
// (error ~1e-8) and 2^n built in the exponent bits; max relative error about 1e-7 over [-87, 88].
// Why not Foundation's expf: it is scalar and ~4x slower per element here.
// Why `replace(with:where:)` and the 1.5*2^23 rounding trick: Swift's pointwiseMin/Max, rounded()
// and SIMD int conversions compile to scalar loops on x86_64 (checked in the disassembly).

#if arch(x86_64)
    import _Builtin_intrinsics.intel
#endif

public typealias Vec8 = SIMD8<Float>
/// Sixteen lanes, for the exp-heavy loops (softmax rows, GELU).
public typealias Vec16 = SIMD16<Float>

/// Eight floats from p (any alignment).
@inline(__always)
public func load8(_ p: UnsafePointer<Float>) -> Vec8 {
    UnsafeRawPointer(p).loadUnaligned(as: Vec8.self)
}

/// Sixteen floats from p (any alignment).
@inline(__always)
public func load16(_ p: UnsafePointer<Float>) -> Vec16 {
    UnsafeRawPointer(p).loadUnaligned(as: Vec16.self)
}

/// Sixteen floats to p (any alignment).
@inline(__always)
public func store16(_ v: Vec16, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec16.self)
}

/// Eight floats to p (any alignment).
@inline(__always)
public func store8(_ v: Vec8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec8.self)
}

/// e^x lane-wise; inputs below -87.3 give ~1e-38 (not 0), above 88.3 give ~2e38.
@inline(__always)
public func vexp(_ x: Vec8) -> Vec8 {
    let lo = Vec8(repeating: -87.3)
    let hi = Vec8(repeating: 88.3)
    var xc = x
    xc.replace(with: lo, where: x .< lo)
    xc.replace(with: hi, where: x .> hi)
    let magic = Vec8(repeating: 12_582_912)  // 1.5 * 2^23: adding it rounds to an integer
    let t = xc * 1.442_695_040_888_963_4 + magic
    let n = t - magic
    let r = (xc - n * 0.693_145_751_953_125) - n * 1.428_606_765_330_187e-06
    var p = Vec8(repeating: 1.0 / 5040)
    p = p * r + 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    // The low mantissa bits of t hold n; shifting them into the exponent field gives 2^n.
    let bits = (unsafeBitCast(t, to: SIMD8<UInt32>.self) &<< 23) &+ (127 << 23)
    return p * unsafeBitCast(bits, to: Vec8.self)
}

/// `vexp` on sixteen lanes, one AVX-512 register where the CPU has it: the same operations per
/// lane, so the same bits. Written out for the concrete type because generic SIMD code (`V: SIMD`)
/// compiles its comparisons and selects to lane-by-lane loops (checked in the disassembly).
@inline(__always)
public func vexp(_ x: Vec16) -> Vec16 {
    let lo = Vec16(repeating: -87.3)
    let hi = Vec16(repeating: 88.3)
    var xc = x
    xc.replace(with: lo, where: x .< lo)
    xc.replace(with: hi, where: x .> hi)
    let magic = Vec16(repeating: 12_582_912)
    let t = xc * 1.442_695_040_888_963_4 + magic
    let n = t - magic
    let r = (xc - n * 0.693_145_751_953_125) - n * 1.428_606_765_330_187e-06
    var p = Vec16(repeating: 1.0 / 5040)
    p = p * r + 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let bits = (unsafeBitCast(t, to: SIMD16<UInt32>.self) &<< 23) &+ (127 << 23)
    return p * unsafeBitCast(bits, to: Vec16.self)
}

/// tanh(x) = 1 - 2 / (e^{2x} + 1), lane-wise; absolute error ~1e-7 (GELU's tanh).
@inline(__always)
public func vtanh(_ x: Vec16) -> Vec16 {
    1 - 2 / (vexp(x + x) + 1)
}

/// √x lane-wise, correctly rounded like Float.squareRoot() (so the same bits): SSE's sqrtps on
/// each half (baseline x86-64, so TRACKER_PORTABLE builds too). SIMD8's own squareRoot() runs
/// lane by lane through the scalar sqrt and its errno fallback call (checked in the
/// disassembly), which left AdamW's loop mostly scalar: about 3x slower.
@inline(__always)
public func vsqrt(_ x: Vec8) -> Vec8 {
    #if arch(x86_64)
        return Vec8(lowHalf: _mm_sqrt_ps(x.lowHalf), highHalf: _mm_sqrt_ps(x.highHalf))  // __m128 is SIMD4<Float>
    #else
        return x.squareRoot()
    #endif
}

/// Scalar exp through the vector path, so scalar tails round the same way as full lanes.
@inline(__always)
public func fastExp(_ x: Float) -> Float {
    vexp(Vec8(repeating: x))[0]
}

/// max over x[0..<n] (n >= 1).
public func rowMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var i = 0
    var m = -Float.infinity
    if n >= 8 {
        var vm = load8(x)
        i = 8
        while i + 8 <= n {
            let v = load8(x + i)
            vm.replace(with: v, where: v .> vm)
            i += 8
        }
        m = vm.max()
    }
    while i < n {
        m = Swift.max(m, x[i])
        i += 1
    }
    return m
}

/// x[i] = exp(scale * x[i] - shift) for i < n; returns the sum (accumulated in Float lanes).
public func expShiftSum(
    _ x: UnsafeMutablePointer<Float>, _ n: Int, scale: Float = 1, shift: Float
) -> Float {
    var i = 0
    var acc = Vec16(repeating: 0)
    while i + 16 <= n {
        let e = vexp(load16(x + i) * scale - shift)
        store16(e, x + i)
        acc += e
        i += 16
    }
    var sum = acc.sum()
    while i < n {
        let e = fastExp(scale * x[i] - shift)
        x[i] = e
        sum += e
        i += 1
    }
    return sum
}

/// x[i] *= a for i < n.
public func scaleInPlace(_ x: UnsafeMutablePointer<Float>, _ n: Int, by a: Float) {
    for i in 0..<n { x[i] *= a }
}

/// dot(x, y) over n floats, accumulated in Float lanes.
public func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
    var i = 0
    var acc = Vec8(repeating: 0)
    while i + 8 <= n {
        acc += load8(x + i) * load8(y + i)
        i += 8
    }
    var s = acc.sum()
    while i < n {
        s += x[i] * y[i]
        i += 1
    }
    return s
}

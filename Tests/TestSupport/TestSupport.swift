// Helpers for the engine tests: owned Float buffers, seeded random data, finite-difference gradient
// checks (ggml test-backend-ops style: central differences, optional 4-point stencil, loss in
// Double, a capped number of checked coordinates) and golden-vector files written by
// Tests/Golden/generate.py. Plain library: it returns numbers, each test states its tolerance.
import Basics
import Foundation

/// An owned, zero-initialised Float buffer that frees itself.
public final class Floats: @unchecked Sendable {
    public let count: Int
    public let p: UnsafeMutablePointer<Float>

    public init(_ count: Int, value: Float = 0) {
        self.count = count
        p = .allocate(capacity: max(count, 1))
        p.initialize(repeating: value, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(values.count)
        for (i, v) in values.enumerated() { p[i] = v }
    }

    public convenience init(doubles values: [Double]) { self.init(values.map { Float($0) }) }

    /// Normal(0, scale²) entries from `rng`.
    public convenience init(normal count: Int, scale: Float = 1, rng: inout TestRandom) {
        self.init(count)
        for i in 0..<count { p[i] = rng.normal() * scale }
    }

    deinit { p.deallocate() }

    public subscript(i: Int) -> Float {
        get { p[i] }
        set { p[i] = newValue }
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: p, count: count)) }

    /// An independent copy.
    public func copy() -> Floats {
        let c = Floats(count)
        c.p.update(from: p, count: count)
        return c
    }

    public func zero() { p.update(repeating: 0, count: count) }
}

/// Seeded test data: uniform and normal floats, integers.
public struct TestRandom {
    private var g: SplitMix64
    public init(seed: UInt64) { g = SplitMix64(seed: seed) }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Float { Float(g.next() >> 40) / Float(1 << 24) }

    /// Standard normal (Box-Muller).
    public mutating func normal() -> Float {
        let u1 = Double(g.next() >> 11 + 1) / Double(1 << 53)
        let u2 = Double(g.next() >> 11) / Double(1 << 53)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    public mutating func int(_ range: Range<Int>) -> Int {
        range.lowerBound + Int(g.next() % UInt64(range.count))
    }
}

/// sum_i a[i] * b[i] in Double: the scalar loss `sum(out * dout)` of every gradient check.
public func weightedSum(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
    var s = 0.0
    for i in 0..<n { s += Double(a[i]) * Double(b[i]) }
    return s
}

/// max |a - b| / max(1, max |b|): an error relative to the reference's scale.
public func scaledError(_ a: UnsafePointer<Float>, _ b: [Double]) -> Double {
    var err = 0.0
    var scale = 1.0
    for i in 0..<b.count {
        let d = abs(Double(a[i]) - b[i])
        err = d.isNaN ? .infinity : max(err, d)  // max(err, NaN) is err: a NaN must not pass
        scale = max(scale, abs(b[i]))
    }
    return err / scale
}

/// `scaledError` for two Float buffers.
public func scaledError(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
    scaledError(a, (0..<n).map { Double(b[$0]) })
}

public enum GradientCheck {
    /// Central-difference derivatives of `loss` at up to `samples` coordinates of x (all if
    /// count <= samples), compared with `analytic`. Returns max |num - ana| / max(floor, max|ana|)
    /// over the checked coordinates. x is restored afterwards. With `kinkEps`, a coordinate whose
    /// difference quotient at `eps` is off by more than 1e-3 of the scale is measured again with
    /// that smaller step, and the closer of the two counts: a piecewise-linear map (ReLU) may have
    /// a kink within eps of the point, where no step that crosses it can agree; a wrong gradient
    /// disagrees at both steps.
    public static func maxError(
        of x: UnsafeMutablePointer<Float>, count: Int, analytic: UnsafePointer<Float>,
        eps: Float = 1e-2, samples: Int = 48, precise: Bool = false, floor: Double = 1e-2,
        kinkEps: Float? = nil, loss: () -> Double
    ) -> Double {
        var indices = Array(0..<count)
        if count > samples {
            var rng = TestRandom(seed: UInt64(count))
            indices = (0..<samples).map { _ in rng.int(0..<count) }
        }
        var err = 0.0
        var scale = floor
        for i in indices {
            let x0 = x[i]
            func f(_ d: Float) -> Double {
                x[i] = x0 + d
                return loss()
            }
            func quotient(_ eps: Float) -> Double {
                let e = Double(eps)
                if precise { return (8 * f(eps / 2) + f(-eps) - 8 * f(-eps / 2) - f(eps)) / (6 * e) }
                return (f(eps) - f(-eps)) / (2 * e)
            }
            let ana = Double(analytic[i])
            var off = abs(quotient(eps) - ana)
            if let kinkEps, off > 1e-3 * max(floor, abs(ana)) { off = min(off, abs(quotient(kinkEps) - ana)) }
            x[i] = x0
            err = max(err, off)
            scale = max(scale, abs(Double(analytic[i])))
        }
        return err / scale
    }
}

/// One case of a golden file: integer dimensions and named flat tensors.
public struct GoldenCase: Decodable, Sendable {
    public let dims: [String: Int]
    public let tensors: [String: [Double]]

    public func dim(_ key: String) -> Int {
        guard let v = dims[key] else { preconditionFailure("golden case has no dim \(key)") }
        return v
    }

    public func values(_ key: String) -> [Double] {
        guard let v = tensors[key] else { preconditionFailure("golden case has no tensor \(key)") }
        return v
    }

    public func floats(_ key: String) -> Floats { Floats(doubles: values(key)) }

    public func ints(_ key: String) -> [Int32] { values(key).map { Int32($0) } }
}

public enum Golden {
    /// Reads `{ "case name": { "dims": {...}, "tensors": {...} } }`.
    public static func load(_ url: URL) throws -> [String: GoldenCase] {
        try JSONDecoder().decode([String: GoldenCase].self, from: Data(contentsOf: url))
    }
}

// Numbers as text that reads back exactly: metric values in exports, import lines, JSON reports
// and filter messages; and fixed-point text for tables, without Foundation's format call.

/// The shortest text that reads back as the same Double, with nan/inf/-inf spelled out.
public func formatShortest(_ v: Double) -> String {
    if v.isNaN { return "nan" }
    if v.isInfinite { return v > 0 ? "inf" : "-inf" }
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    return "\(v)"
}

/// `v` with `digits` digits after the point, rounded half away from zero (`%.Nf` without
/// String(format:), which cost microseconds a call in a 10,000-row table).
public func formatFixed(_ v: Double, _ digits: Int) -> String {
    var out: [UInt8] = []
    appendFixed(v, digits, to: &out)
    return String(decoding: out, as: UTF8.self)
}

/// Appends `formatFixed(v, digits)` to `out` as UTF-8, building no String (tables write some
/// 100,000 numbers straight into their buffers).
public func appendFixed(_ v: Double, _ digits: Int, to out: inout [UInt8]) {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (abs(v) * scale).rounded()
    guard rounded < 1e15 else { return out.append(contentsOf: formatShortest(v).utf8) }
    let whole = Int64(rounded)
    if v < 0 && whole != 0 { out.append(UInt8(ascii: "-")) }
    let s = Int64(scale)
    appendInteger(whole / s, to: &out)
    if digits == 0 { return }
    out.append(UInt8(ascii: "."))
    out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
    var frac = whole % s
    var i = out.count - 1
    while frac > 0 {
        out[i] = UInt8(ascii: "0") + UInt8(frac % 10)
        frac /= 10
        i -= 1
    }
}

/// Appends `String(v)` to `out` as UTF-8.
public func appendInteger(_ v: Int64, to out: inout [UInt8]) {
    if v < 0 { out.append(UInt8(ascii: "-")) }
    var m = v.magnitude
    let start = out.count
    repeat {
        out.append(UInt8(ascii: "0") + UInt8(m % 10))
        m /= 10
    } while m > 0
    out[start...].reverse()
}

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
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (abs(v) * scale).rounded()
    guard rounded < 1e15 else { return formatShortest(v) }
    let whole = Int64(rounded)
    let sign = v < 0 && whole != 0 ? "-" : ""
    if digits == 0 { return sign + String(whole) }
    let s = Int64(scale)
    let frac = String(whole % s)
    return sign + String(whole / s) + "." + String(repeating: "0", count: digits - frac.count) + frac
}

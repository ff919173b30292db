// Numbers as text that reads back exactly: metric values in exports, import lines, JSON reports
// and filter messages.

/// The shortest text that reads back as the same Double, with nan/inf/-inf spelled out.
public func formatShortest(_ v: Double) -> String {
    if v.isNaN { return "nan" }
    if v.isInfinite { return v > 0 ? "inf" : "-inf" }
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    return "\(v)"
}

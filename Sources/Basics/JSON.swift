// JSON the package writes by hand, when the key order is its own (reports) or must be canonical
// (configs of imported runs): a value tree with insertion-ordered objects, rendered indented or
// on one line. Strings go through JSONText.quoted; NaN and infinities, which JSON cannot hold, are
// the caller's to spell (`number(orString:)`).

/// A JSON value with insertion-ordered objects.
public enum JSON: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    /// An integer written exactly (a Double holds integers exactly only up to 2^53: steps, ids,
    /// sizes and integer parameters past that came out rounded).
    case integer(Int64)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    /// A finite number, or the string "nan", "inf" or "-inf" (JSON has no such numbers).
    public static func number(orString v: Double) -> JSON { v.isFinite ? .number(v) : .string(formatShortest(v)) }

    /// Indented two spaces per level; arrays of numbers stay on one line.
    public func render(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent + 1)
        let end = String(repeating: "  ", count: indent)
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let v): return formatShortest(v)
        case .integer(let v): return String(v)
        case .string(let s): return JSONText.quoted(s)
        case .array(let items):
            if items.isEmpty { return "[]" }
            if items.allSatisfy({
                switch $0 {
                case .number, .integer: true
                default: false
                }
            }) {
                return "[" + items.map { $0.render() }.joined(separator: ", ") + "]"
            }
            return "[\n" + items.map { pad + $0.render(indent: indent + 1) }.joined(separator: ",\n") + "\n" + end + "]"
        case .object(let fields):
            if fields.isEmpty { return "{}" }
            return "{\n"
                + fields.map { pad + JSONText.quoted($0.0) + ": " + $0.1.render(indent: indent + 1) }
                .joined(separator: ",\n") + "\n" + end + "}"
        }
    }

    /// One line, no spaces: the form of import lines and canonical configs (with sorted keys).
    public func compact() -> String {
        switch self {
        case .array(let items): return "[" + items.map { $0.compact() }.joined(separator: ",") + "]"
        case .object(let fields):
            return "{" + fields.map { JSONText.quoted($0.0) + ":" + $0.1.compact() }.joined(separator: ",") + "}"
        default: return render()
        }
    }

    /// A parsed value as output, object keys sorted.
    public init(_ v: ConfigValue) {
        switch v {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .integer(Int64(i))
        case .double(let d): self = .number(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map(JSON.init))
        case .table(let o): self = .object(o.keys.sorted().map { ($0, JSON(o[$0]!)) })
        }
    }

    /// The fields of an object, none for any other value.
    public var objectFields: [(String, JSON)] {
        if case .object(let f) = self { return f }
        return []
    }
}

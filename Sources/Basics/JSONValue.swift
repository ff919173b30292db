// A decoded JSON value that keeps the distinction between booleans, integers, reals and text
// (JSONSerialization on Linux does not), used to flatten run configs and to read import files.
import Foundation

public enum JSONValue: Decodable, Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case real(Double)
    case text(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
            return
        }
        if let b = try? c.decode(Bool.self) {
            self = .bool(b)
            return
        }
        if let i = try? c.decode(Int64.self) {
            self = .int(i)
            return
        }
        if let d = try? c.decode(Double.self) {
            self = .real(d)
            return
        }
        if let s = try? c.decode(String.self) {
            self = .text(s)
            return
        }
        if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
            return
        }
        self = .object(try c.decode([String: JSONValue].self))
    }

    public static func parse(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// Leaves as dotted keys ('model.attention.variant', 'shards[0].path'), sorted by key.
    public func leaves(prefix: String = "") -> [(key: String, value: JSONValue)] {
        switch self {
        case .object(let d):
            return d.keys.sorted().flatMap { d[$0]!.leaves(prefix: prefix.isEmpty ? $0 : prefix + "." + $0) }
        case .array(let a):
            return a.enumerated().flatMap { $0.element.leaves(prefix: prefix + "[\($0.offset)]") }
        default:
            return [(prefix, self)]
        }
    }
}

// The one value tree of the package: what a TOML or JSON document holds (a run config, an
// experiment file, an attention variant's options, an import line). TOML is converted into it in
// one place (Session's TOMLReader), JSON decodes into it (Codable), and it writes the canonical
// JSON that identifies a run (sorted keys, no spaces, shortest round-trip numbers). Integers and
// reals stay distinct, which JSONSerialization on Linux does not guarantee.
import Foundation

public indirect enum ConfigValue: Sendable, Equatable, Hashable {
    /// JSON null (import files may hold it; TOML has none).
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([ConfigValue])
    case table([String: ConfigValue])

    /// A list of numbers (RetNet's `gammas`), as an array of reals.
    public static func numbers(_ values: [Double]) -> ConfigValue { .array(values.map(ConfigValue.double)) }

    /// The table's entries, or nil for other values.
    public var table: [String: ConfigValue]? {
        if case .table(let t) = self { return t }
        return nil
    }

    /// Ints and reals as Double, else nil.
    public var number: Double? {
        switch self {
        case .int(let v): Double(v)
        case .double(let v): v
        default: nil
        }
    }

    /// An array whose elements are all numbers, as Doubles; nil for anything else.
    public var numbers: [Double]? {
        guard case .array(let a) = self else { return nil }
        let values = a.compactMap(\.number)
        return values.count == a.count ? values : nil
    }

    /// The value at a dotted key, if present.
    public func value(at dottedKey: String) -> ConfigValue? {
        var node = self
        for part in dottedKey.split(separator: ".", omittingEmptySubsequences: false) {
            guard let next = node.table?[String(part)] else { return nil }
            node = next
        }
        return node
    }

    /// Sets the value at a dotted key, creating intermediate tables. Throws if a prefix of the key
    /// names a value that is not a table.
    public mutating func set(_ dottedKey: String, to value: ConfigValue) throws {
        let parts = dottedKey.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.contains(where: \.isEmpty) {
            throw ConfigError.badKey(key: dottedKey, reason: "a dotted key needs non-empty parts, like \"train.lr\"")
        }
        try Self.set(&self, parts[...], value, fullKey: dottedKey)
    }

    private static func set(
        _ node: inout ConfigValue, _ parts: ArraySlice<String>, _ value: ConfigValue, fullKey: String
    ) throws {
        guard var t = node.table else {
            throw ConfigError.badKey(key: fullKey, reason: "a part of this key is a value, not a table")
        }
        let head = parts.first!
        if parts.count == 1 {
            t[head] = value
        } else {
            var child = t[head] ?? .table([:])
            try set(&child, parts.dropFirst(), value, fullKey: fullKey)
            t[head] = child
        }
        node = .table(t)
    }

    /// Every leaf as (dotted key, value), sorted by key; array elements are `key[i]`.
    public func leaves(prefix: String = "") -> [(key: String, value: ConfigValue)] {
        switch self {
        case .table(let d):
            return d.keys.sorted().flatMap { d[$0]!.leaves(prefix: prefix.isEmpty ? $0 : prefix + "." + $0) }
        case .array(let a):
            return a.enumerated().flatMap { $0.element.leaves(prefix: prefix + "[\($0.offset)]") }
        default:
            return [(prefix, self)]
        }
    }

    /// `overrides` laid over this table: tables merge key by key, any other value replaces.
    public func merging(_ overrides: ConfigValue) -> ConfigValue {
        guard case .table(var base) = self, case .table(let over) = overrides else { return overrides }
        for (key, value) in over { base[key] = base[key].map { $0.merging(value) } ?? value }
        return .table(base)
    }

    /// A short human form for run names: text as is, numbers in a compact form.
    public var shortDescription: String {
        switch self {
        case .null: return "null"
        case .int(let v): return String(v)
        case .double(let v):
            let short = String(format: "%.3g", v)
            return Double(short) == v ? short : String(format: "%.4g", v)
        case .bool(let v): return v ? "true" : "false"
        case .string(let s): return s
        case .array(let a): return a.map(\.shortDescription).joined(separator: "+")
        case .table: return "table"
        }
    }
}

/// A config that cannot be read: a key that cannot hold what was asked of it, or a key no
/// section knows (with the valid ones, so a typo is easy to fix).
public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case badKey(key: String, reason: String)
    case unknownKey(key: String, section: String, valid: [String])

    public var description: String {
        switch self {
        case .badKey(let key, let reason):
            return "config key \(key): \(reason)"
        case .unknownKey(let key, let section, let valid):
            let place = section.isEmpty ? "at the top level" : "in [\(section)]"
            return "config: unknown key '\(key)' \(place); valid keys: \(valid.joined(separator: ", "))"
        }
    }
}

/// The check behind "unknown keys are an error": reads every key of a keyed container.
public enum ConfigKeys {
    /// A coding key for any string, to list or read keys not known in advance.
    public struct AnyKey: CodingKey {
        public var stringValue: String
        public var intValue: Int? { nil }
        public init(stringValue: String) { self.stringValue = stringValue }
        public init?(intValue: Int) { nil }
    }

    /// Throws `ConfigError.unknownKey` for the first key (in sorted order) not in `valid`.
    public static func check(_ decoder: any Swift.Decoder, valid: [String], section: String) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        let known = Set(valid)
        if let key = container.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
            throw ConfigError.unknownKey(key: key, section: section, valid: valid)
        }
    }
}

// MARK: - Canonical JSON

extension ConfigValue {
    /// Canonical JSON: keys sorted by UTF-8 bytes, no whitespace, integers as integers, reals in
    /// Swift's shortest round-trip form (always with a '.' or exponent, so they stay reals).
    public func canonicalJSON() throws -> String {
        var out = ""
        try write(into: &out, path: "")
        return out
    }

    /// sha256 (hex) of the canonical JSON.
    public func sha256() throws -> String { SHA256.hex(Array(try canonicalJSON().utf8)) }

    private func write(into out: inout String, path: String) throws {
        switch self {
        case .null: out += "null"
        case .int(let v): out += String(v)
        case .double(let v):
            guard v.isFinite else {
                throw ConfigError.badKey(
                    key: path, reason: "\(v) is not a finite number; configs hold finite numbers only")
            }
            out += v.description
        case .bool(let v): out += v ? "true" : "false"
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                try v.write(into: &out, path: "\(path)[\(i)]")
            }
            out += "]"
        case .table(let t):
            out += "{"
            for (i, key) in t.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }).enumerated()
            {
                if i > 0 { out += "," }
                Self.writeString(key, into: &out)
                out += ":"
                try t[key]!.write(into: &out, path: path.isEmpty ? key : path + "." + key)
            }
            out += "}"
        }
    }

    static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}

// MARK: - Codable (JSON)

extension ConfigValue: Codable {
    /// Reads any JSON value. A whole number written with a fraction ("2.0") comes back as .int
    /// through JSONDecoder; configs compare after decoding into their typed sections, never by
    /// re-hashing a decoded tree.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([ConfigValue].self) {
            self = .array(a)
        } else {
            self = .table(try c.decode([String: ConfigValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let v): try c.encode(v)
        case .int(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .table(let v): try c.encode(v)
        }
    }

    /// Parses a JSON document.
    public init(json: String) throws {
        self = try JSONDecoder().decode(ConfigValue.self, from: Data(json.utf8))
    }
}

extension ConfigValue: CustomStringConvertible {
    /// How an option value is quoted in messages: strings in quotes, lists in brackets.
    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let v): return "\(v)"
        case .int(let v): return "\(v)"
        case .double(let v): return "\(v)"
        case .string(let v): return "\"\(v)\""
        case .array(let v): return "[" + v.map(\.description).joined(separator: ", ") + "]"
        case .table(let t): return "{" + t.keys.sorted().map { "\($0): \(t[$0]!)" }.joined(separator: ", ") + "}"
        }
    }
}

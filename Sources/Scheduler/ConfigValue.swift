// A run configuration as a plain value tree (what a TOML or JSON document holds), with the three
// things the scheduler needs from it: setting a dotted key ("model.attention.variant"), the
// canonical JSON form that identifies a run (sorted keys, no spaces, shortest round-trip
// numbers), and the flat list of typed leaves stored in runParam. The CLI converts TOML into
// this tree, so the Scheduler stays free of any file-format dependency.
import Basics
import Foundation
import Store

public indirect enum ConfigValue: Sendable, Equatable, Hashable {
    case int(Int64)
    case real(Double)
    case bool(Bool)
    case text(String)
    case array([ConfigValue])
    case table([String: ConfigValue])

    /// The table's entries, or nil for other values.
    public var table: [String: ConfigValue]? {
        if case .table(let t) = self { return t }
        return nil
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
            throw SchedulerError.badConfig(
                key: dottedKey, reason: "a dotted key needs non-empty parts, like \"train.lr\"")
        }
        try Self.set(&self, parts[...], value, fullKey: dottedKey)
    }

    private static func set(
        _ node: inout ConfigValue, _ parts: ArraySlice<String>, _ value: ConfigValue, fullKey: String
    ) throws {
        guard var t = node.table else {
            throw SchedulerError.badConfig(key: fullKey, reason: "a part of this key is a value, not a table")
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

    // MARK: - Canonical JSON

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
        case .int(let v): out += String(v)
        case .real(let v):
            guard v.isFinite else {
                throw SchedulerError.badConfig(
                    key: path, reason: "\(v) is not a finite number; configs hold finite numbers only")
            }
            out += v.description
        case .bool(let v): out += v ? "true" : "false"
        case .text(let s): JSONText.appendQuoted(s, to: &out)
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
                JSONText.appendQuoted(key, to: &out)
                out += ":"
                try t[key]!.write(into: &out, path: path.isEmpty ? key : path + "." + key)
            }
            out += "}"
        }
    }

    // MARK: - Typed leaves

    /// Every leaf as (dotted key, typed value); arrays are one leaf holding their canonical JSON.
    public func flattened() throws -> [String: ParamValue] {
        var out: [String: ParamValue] = [:]
        try flatten(prefix: "", into: &out)
        return out
    }

    private func flatten(prefix: String, into out: inout [String: ParamValue]) throws {
        switch self {
        case .int(let v): out[prefix] = .int(v)
        case .real(let v): out[prefix] = .real(v)
        case .bool(let v): out[prefix] = .bool(v)
        case .text(let v): out[prefix] = .text(v)
        case .array: out[prefix] = .text(try canonicalJSON())
        case .table(let t):
            for (k, v) in t { try v.flatten(prefix: prefix.isEmpty ? k : prefix + "." + k, into: &out) }
        }
    }

    /// A short human form for run names: text as is, numbers in a compact form.
    public var shortDescription: String {
        switch self {
        case .int(let v): return String(v)
        case .real(let v):
            let short = String(format: "%.3g", v)
            return Double(short) == v ? short : String(format: "%.4g", v)
        case .bool(let v): return v ? "true" : "false"
        case .text(let s): return s
        case .array(let a): return a.map(\.shortDescription).joined(separator: "+")
        case .table: return "table"
        }
    }
}

extension ConfigValue: Decodable {
    /// Reads JSON (a stored run config). Numbers with a fraction or exponent may come back as
    /// .int when they are whole; this reading is for lookups, never for re-hashing a config.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .real(d)
        } else if let s = try? c.decode(String.self) {
            self = .text(s)
        } else if let a = try? c.decode([ConfigValue].self) {
            self = .array(a)
        } else {
            self = .table(try c.decode([String: ConfigValue].self))
        }
    }

    /// Parses a JSON document.
    public init(json: String) throws {
        self = try JSONDecoder().decode(ConfigValue.self, from: Data(json.utf8))
    }
}

// The run config's `[model.attention]` table: a variant name plus free-form options, decoded
// with defaults (synthesized Codable ignores property defaults, architecture.md §1). Each variant
// declares its options and reads them through `OptionReader` (AttentionOptions.swift), which
// turns unknown names into an error.

/// An option value, encoded as a bare JSON/TOML scalar, or a list of numbers (RetNet's `gammas`).
public enum ConfigValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case numbers([Double])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Bool.self) {
            self = .bool(v)
        } else if let v = try? c.decode(Int.self) {
            self = .int(v)
        } else if let v = try? c.decode(Double.self) {
            self = .double(v)
        } else if let v = try? c.decode([Double].self) {
            self = .numbers(v)
        } else {
            self = .string(try c.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .bool(let v): try c.encode(v)
        case .int(let v): try c.encode(v)
        case .double(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .numbers(let v): try c.encode(v)
        }
    }

    public var description: String {
        switch self {
        case .bool(let v): return "\(v)"
        case .int(let v): return "\(v)"
        case .double(let v): return "\(v)"
        case .string(let v): return "\"\(v)\""
        case .numbers(let v): return "[" + v.map { "\($0)" }.joined(separator: ", ") + "]"
        }
    }
}

/// Which attention variant a model uses, and its options.
public struct AttentionConfig: Codable, Sendable, Equatable {
    /// Registry name, e.g. "softmax_rope".
    public var variant: String = "softmax_rope"
    /// Variant-specific options; unknown names are rejected when the variant is built.
    public var options: [String: ConfigValue] = [:]

    public init(variant: String = "softmax_rope", options: [String: ConfigValue] = [:]) {
        self.variant = variant
        self.options = options
    }

    private enum CodingKeys: String, CodingKey { case variant, options }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        variant = try c.decodeIfPresent(String.self, forKey: .variant) ?? "softmax_rope"
        options = try c.decodeIfPresent([String: ConfigValue].self, forKey: .options) ?? [:]
    }
}

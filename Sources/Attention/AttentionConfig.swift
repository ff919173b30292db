// The run config's `[model.attention]` table: a variant name plus free-form options, decoded
// with defaults (synthesized Codable ignores property defaults, architecture.md §1). Each variant
// reads its options through `OptionReader`, which turns unknown names into an error. Option
// values are Basics' ConfigValue, the package's one value tree.
import Basics

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

/// Reads a variant's options with defaults; `finish()` throws on any option that was not read.
public struct OptionReader {
    private let options: [String: ConfigValue]
    private let variant: String
    private var known: [String] = []

    public init(_ options: [String: ConfigValue], variant: String) {
        self.options = options
        self.variant = variant
    }

    public mutating func double(_ name: String, default value: Double) throws -> Double {
        known.append(name)
        switch options[name] {
        case nil: return value
        case .double(let v): return v
        case .int(let v): return Double(v)
        case let other?: throw typeError(name, "a number", other)
        }
    }

    public mutating func int(_ name: String, default value: Int) throws -> Int {
        known.append(name)
        switch options[name] {
        case nil: return value
        case .int(let v): return v
        case let other?: throw typeError(name, "an integer", other)
        }
    }

    public mutating func bool(_ name: String, default value: Bool) throws -> Bool {
        known.append(name)
        switch options[name] {
        case nil: return value
        case .bool(let v): return v
        case let other?: throw typeError(name, "true or false", other)
        }
    }

    /// A list of numbers: given as a list, as one number, or as a comma-separated string ("0.9,
    /// 0.99", the form older run configs used); nil if the option is absent or an empty string.
    public mutating func numbers(_ name: String) throws -> [Double]? {
        known.append(name)
        switch options[name] {
        case nil: return nil
        case .string(let s) where s.allSatisfy(\.isWhitespace): return nil
        case let list? where list.numbers != nil: return list.numbers
        case .double(let v): return [v]
        case .int(let v): return [Double(v)]
        case .string(let s):
            let parsed = s.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else {
                throw typeError(name, "a list of numbers", .string(s))
            }
            return parsed.compactMap { $0 }
        case let other?: throw typeError(name, "a list of numbers", other)
        }
    }

    public mutating func string(_ name: String, default value: String) throws -> String {
        known.append(name)
        switch options[name] {
        case nil: return value
        case .string(let v): return v
        case let other?: throw typeError(name, "a string", other)
        }
    }

    /// Throws for the first option (in sorted order) that no read asked for.
    public func finish() throws {
        for name in options.keys.sorted() where !known.contains(name) {
            throw AttentionError.unknownOption(
                variant: variant, option: name, known: known.sorted())
        }
    }

    private func typeError(_ name: String, _ expected: String, _ got: ConfigValue) -> AttentionError {
        .optionType(variant: variant, option: name, expected: expected, got: got)
    }
}

extension OptionReader {
    /// Option "probs_cache_mib" (speed only; default 64): the MiB per layer call that forward may
    /// spend keeping the attention weights of its causal tiles, so that backward reuses them
    /// instead of recomputing q kᵀ, the bias and the row map. Beyond the budget (long contexts),
    /// backward recomputes them tile by tile (flash-style, O(T) memory per row); 0 always does.
    /// Returns the budget in bytes.
    public mutating func probsCacheBytes(variant: String) throws -> Int {
        let mib = try int("probs_cache_mib", default: 64)
        guard mib >= 0 else {
            throw AttentionError.invalidOption(
                variant: variant, option: "probs_cache_mib", reason: "must be 0 (always recompute) or positive")
        }
        return mib << 20
    }
}

/// Whether `floats` kept attention weights fit a `probs_cache_mib` budget of `budgetBytes`.
func probsFit(_ floats: Int, budgetBytes: Int) -> Bool {
    floats > 0 && floats * MemoryLayout<Float>.size <= budgetBytes
}

/// Floats of one head's causal tiles of `tile` query rows: tile i0 holds R rows of the keys
/// `firstKey(i0) ..< i0 + R`.
func causalTileFloats(T: Int, tile: Int, firstKey: (Int) -> Int = { _ in 0 }) -> Int {
    var total = 0
    var i0 = 0
    while i0 < T {
        let R = min(tile, T - i0)
        total += R * (i0 + R - firstKey(i0))
        i0 += R
    }
    return total
}

// The run config's `[model.attention]` table: a variant name plus free-form options, decoded
// with defaults (synthesized Codable ignores property defaults, architecture.md §1). Each variant
// declares its options and reads them through `OptionReader` (AttentionOptions.swift), which
// turns unknown names into an error. Option values are Basics' ConfigValue, the package's one
// value tree.
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

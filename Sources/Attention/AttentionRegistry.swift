// Every attention variant, by name, in one list (the pattern of mlx-swift-lm's LLMTypeRegistry).
// Adding a variant = one file + one line here; the generic tests iterate `names`.

import Basics

public enum AttentionRegistry {
    /// Every variant. Tests iterate this list, so a new variant is tested for free.
    public static let variants: [any AttentionVariant.Type] = [
        SoftmaxRoPE.self,
        SoftmaxNoPE.self,
        ALiBi.self,
        Forgetting.self,
        Sigmoid.self,
        StickBreaking.self,
        Aaren.self,
        RetNet.self,
        Linear.self,
        Persistent.self,
        Cope.self,
        GLA.self,
        ReLA.self,
        MLSTM.self,
        Sinks.self,
        Infini.self,
    ]

    public static var names: [String] { variants.map { $0.name } }

    /// The variant registered as `name`.
    public static func type(named name: String) throws -> any AttentionVariant.Type {
        guard let type = variants.first(where: { $0.name == name }) else {
            throw AttentionError.unknownVariant(name, known: names)
        }
        return type
    }

    /// Builds the configured variant for a layer of the given shape.
    public static func make(_ config: AttentionConfig, shape: AttentionShape) throws
        -> any AttentionVariant
    {
        let type = try type(named: config.variant)
        guard shape.kvHeads >= 1, shape.heads % shape.kvHeads == 0 else {
            throw AttentionError.invalidShape(
                "kvHeads (\(shape.kvHeads)) must divide heads (\(shape.heads))")
        }
        return try type.init(options: config.options, shape: shape)
    }

    /// Every declared option of the configured variant with its value for this shape: the given
    /// one, else the default (what a run stores so that a changed default never changes it).
    public static func resolvedOptions(_ config: AttentionConfig, shape: AttentionShape) throws
        -> [String: ConfigValue]
    {
        _ = try make(config, shape: shape)  // checks names, types and ranges
        var resolved: [String: ConfigValue] = [:]
        for option in try type(named: config.variant).options {
            resolved[option.name] = config.options[option.name] ?? option.defaultValue(for: shape)
        }
        return resolved
    }

    /// The options of every variant, one paragraph per variant, for `--help`: per option
    /// "  name = default (valid values)", then its doc indented below.
    public static var optionsHelp: String {
        variants.map { type in
            let lines = type.options.map { o in
                "  \(o.name) = \(o.defaultText) (\(o.validText))\n      \(o.doc)"
            }
            return type.name + (lines.isEmpty ? ": no options" : ":\n" + lines.joined(separator: "\n"))
        }.joined(separator: "\n")
    }
}

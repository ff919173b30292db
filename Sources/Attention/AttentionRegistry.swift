// Every attention variant, by name, in one list (the pattern of mlx-swift-lm's LLMTypeRegistry).
// Adding a variant = one file + one line here; the generic tests iterate `names`.

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
    ]

    public static var names: [String] { variants.map { $0.name } }

    /// Builds the configured variant for a layer of the given shape.
    public static func make(_ config: AttentionConfig, shape: AttentionShape) throws
        -> any AttentionVariant
    {
        guard let type = variants.first(where: { $0.name == config.variant }) else {
            throw AttentionError.unknownVariant(config.variant, known: names)
        }
        guard shape.kvHeads >= 1, shape.heads % shape.kvHeads == 0 else {
            throw AttentionError.invalidShape(
                "kvHeads (\(shape.kvHeads)) must divide heads (\(shape.heads))")
        }
        return try type.init(options: config.options, shape: shape)
    }
}

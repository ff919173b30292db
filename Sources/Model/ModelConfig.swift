// The model's shape, as stored in run configs and checkpoints (nanoGPT's GPTConfig, one comment per
// field). Decoding fills missing keys with the defaults below (synthesized Codable would not,
// architecture.md §1); `validate()` is the one place that checks a config before anything is
// built.
import Attention

public enum MLPKind: String, Codable, Sendable { case gelu, swiglu }
public enum NormKind: String, Codable, Sendable { case rmsnorm, layernorm }

public struct ModelConfig: Codable, Sendable, Equatable {
    /// Vocabulary size V, from the tokenizer (required).
    public var vocabSize: Int
    /// Residual width C.
    public var channels = 256
    /// Number of transformer blocks L.
    public var layers = 4
    /// Query heads NH; head size hs = C / NH.
    public var heads = 4
    /// Key/value heads NKV: nil = heads (MHA), 1 = MQA, 1 < k < heads = GQA; must divide heads.
    public var kvHeads: Int? = nil
    /// Training context T.
    public var context = 256
    /// MLP: GELU (hidden 4C) or SwiGLU (hidden 8C/3 rounded up to a multiple of 32).
    public var mlp = MLPKind.gelu
    /// Norm before each sublayer and at the end: RMSNorm (weight) or LayerNorm (weight, bias).
    public var norm = NormKind.rmsnorm
    /// Whether the LM head reuses the token embedding (V, C).
    public var tiedEmbeddings = true
    /// Attention variant and its options.
    public var attention = AttentionConfig()
    /// Seed of the deterministic parameter initialisation.
    public var initSeed: UInt64 = 1337
    /// How the core is applied over a sequence: "plain", "staircase", "ladder" (Schedule.swift).
    public var schedule = ScheduleConfig()

    public init(
        vocabSize: Int, channels: Int = 256, layers: Int = 4, heads: Int = 4, kvHeads: Int? = nil,
        context: Int = 256, mlp: MLPKind = .gelu, norm: NormKind = .rmsnorm,
        tiedEmbeddings: Bool = true, attention: AttentionConfig = AttentionConfig(),
        initSeed: UInt64 = 1337, schedule: ScheduleConfig = ScheduleConfig()
    ) {
        (self.vocabSize, self.channels, self.layers, self.heads) = (
            vocabSize, channels, layers, heads
        )
        (self.kvHeads, self.context, self.mlp, self.norm) = (kvHeads, context, mlp, norm)
        (self.tiedEmbeddings, self.attention, self.initSeed) = (tiedEmbeddings, attention, initSeed)
        self.schedule = schedule
    }

    private enum CodingKeys: String, CodingKey {
        case vocabSize, channels, layers, heads, kvHeads, context, mlp, norm, tiedEmbeddings
        case attention, initSeed, schedule
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ModelConfig(vocabSize: 0)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        channels = try c.decodeIfPresent(Int.self, forKey: .channels) ?? d.channels
        layers = try c.decodeIfPresent(Int.self, forKey: .layers) ?? d.layers
        heads = try c.decodeIfPresent(Int.self, forKey: .heads) ?? d.heads
        kvHeads = try c.decodeIfPresent(Int.self, forKey: .kvHeads)
        context = try c.decodeIfPresent(Int.self, forKey: .context) ?? d.context
        mlp = try c.decodeIfPresent(MLPKind.self, forKey: .mlp) ?? d.mlp
        norm = try c.decodeIfPresent(NormKind.self, forKey: .norm) ?? d.norm
        tiedEmbeddings =
            try c.decodeIfPresent(Bool.self, forKey: .tiedEmbeddings) ?? d.tiedEmbeddings
        attention = try c.decodeIfPresent(AttentionConfig.self, forKey: .attention) ?? d.attention
        initSeed = try c.decodeIfPresent(UInt64.self, forKey: .initSeed) ?? d.initSeed
        schedule = try c.decodeIfPresent(ScheduleConfig.self, forKey: .schedule) ?? d.schedule
    }

    /// Encodes every field; the schedule only when it is not plain, so configs written before
    /// schedules existed encode unchanged.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(channels, forKey: .channels)
        try c.encode(layers, forKey: .layers)
        try c.encode(heads, forKey: .heads)
        try c.encodeIfPresent(kvHeads, forKey: .kvHeads)
        try c.encode(context, forKey: .context)
        try c.encode(mlp, forKey: .mlp)
        try c.encode(norm, forKey: .norm)
        try c.encode(tiedEmbeddings, forKey: .tiedEmbeddings)
        try c.encode(attention, forKey: .attention)
        try c.encode(initSeed, forKey: .initSeed)
        if schedule != ScheduleConfig() { try c.encode(schedule, forKey: .schedule) }
    }

    /// Head size hs = C / NH.
    public var headSize: Int { channels / heads }
    /// NKV with the nil default resolved.
    public var kvHeadCount: Int { kvHeads ?? heads }
    /// MLP hidden width H (the fc matrix is (H, C) for GELU, (2H, C) for SwiGLU).
    public var mlpHidden: Int {
        switch mlp {
        case .gelu: return 4 * channels
        case .swiglu: return (8 * channels / 3 + 31) / 32 * 32
        }
    }

    /// The attention layer shape this config implies.
    public var attentionShape: AttentionShape {
        AttentionShape(
            heads: heads, kvHeads: kvHeadCount, headSize: headSize, channels: channels,
            context: context)
    }

    /// The largest shapes a config may ask for: far beyond what a CPU trains, small enough that
    /// no size computed from them overflows (a run's memory is estimated before allocation).
    public static let limits = (
        vocabSize: 2...(1 << 24), channels: 1...(1 << 16), layers: 1...(1 << 12), heads: 1...(1 << 12),
        context: 1...(1 << 22)
    )

    /// Throws ModelError naming the field to fix.
    public func validate() throws {
        func check(_ ok: Bool, _ field: String, _ message: String) throws {
            if !ok { throw ModelError.invalidConfig(field: field, message: message) }
        }
        func bounded(_ value: Int, _ range: ClosedRange<Int>, _ field: String, _ hint: String) throws {
            try check(
                range.contains(value), field,
                "must be in \(range.lowerBound)...\(range.upperBound) (got \(value)); \(hint)")
        }
        try bounded(vocabSize, Self.limits.vocabSize, "vocabSize", "take it from the tokenizer")
        try bounded(channels, Self.limits.channels, "channels", "e.g. 256")
        try bounded(layers, Self.limits.layers, "layers", "e.g. 4")
        try bounded(heads, Self.limits.heads, "heads", "e.g. channels / 64")
        try check(
            channels % heads == 0, "heads",
            "must divide channels (\(channels) is not a multiple of \(heads)); "
                + "e.g. heads = \(max(1, channels / 64))"
        )
        try bounded(context, Self.limits.context, "context", "e.g. 256")
        if let k = kvHeads {
            try check(
                k >= 1 && heads % k == 0, "kvHeads",
                "must divide heads (\(heads)); use 1 for MQA, a divisor for GQA, "
                    + "or leave it out for MHA"
            )
        }
        do {
            _ = try AttentionRegistry.make(attention, shape: attentionShape)
        } catch let error as AttentionError {
            throw ModelError.attention(error)
        }
        _ = try ScheduleRegistry.make(schedule, config: self)
    }
}

// The model's shape: THE schema of the run config's [model] table, also stored in checkpoints
// (nanoGPT's GPTConfig, one comment per field). Decoding fills missing keys with the defaults
// below (synthesized Codable would not, architecture.md §1) and rejects unknown ones; encoding
// writes every key, so a stored config never depends on a later default. Attention and schedule
// options sit flat beside `variant` / `name`, spelled as in the TOML. `validate()` is the one
// place that checks a config before anything is built.
import Attention
import Basics
import Foundation

public enum MLPKind: String, Codable, Sendable, CaseIterable { case gelu, swiglu }
public enum NormKind: String, Codable, Sendable, CaseIterable { case rmsnorm, layernorm }

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

    /// This config with `vocabSize` set (from the tokenizer) and every option at its value,
    /// validated: the config a model is built from and a checkpoint stores.
    public func resolved(vocabSize: Int) throws -> ModelConfig {
        var c = self
        c.vocabSize = vocabSize
        try c.validate()
        return try c.withResolvedOptions()
    }

    /// This config with every attention and schedule option at its value, defaults included (the
    /// defaults are declared once, in the variant and the schedule), so a later change of a
    /// default does not change what a stored config means.
    public func withResolvedOptions() throws -> ModelConfig {
        var c = self
        do {
            c.attention.options = try AttentionRegistry.resolvedOptions(attention, shape: attentionShape)
        } catch let error as AttentionError {
            throw ModelError.attention(error)
        }
        c.schedule = try ScheduleRegistry.resolved(schedule, config: self)
        return c
    }

    /// Whether two configs build the same model (options compared with their defaults resolved,
    /// numbers whatever their spelling, 500 or 500.0).
    public func buildsSameModel(as other: ModelConfig) -> Bool {
        guard let a = try? withResolvedOptions(), let b = try? other.withResolvedOptions() else { return false }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(a)) == (try? encoder.encode(b))
    }

    // MARK: - The one spelling: the run config's [model] table

    /// The keys of [model] (snake_case), in the order README "Training configuration" lists them.
    public enum Key: String, CodingKey, CaseIterable {
        case vocabSize = "vocab_size"
        case channels, layers, heads
        case kvHeads = "kv_heads"
        case context, mlp, norm
        case tiedEmbeddings = "tied_embeddings"
        case initSeed = "init_seed"
        case attention, schedule
    }

    /// Keys of the camelCase form that checkpoints written before the one spelling hold.
    private enum LegacyKey: String, CodingKey {
        case vocabSize, channels, layers, heads, kvHeads, context, mlp, norm, tiedEmbeddings
        case attention, initSeed, schedule
    }

    /// Reads [model] with every missing key at its default: the run config's table (no
    /// vocab_size: it comes from the tokenizer, 0 until then), a resolved config, or checkpoint
    /// metadata (with vocab_size; the camelCase form of older checkpoints also reads). Unknown
    /// keys fail with the list of valid ones.
    public init(from decoder: any Decoder) throws {
        self.init(vocabSize: 0)
        let d = self
        if try decoder.container(keyedBy: LegacyKey.self).contains(.vocabSize) {
            self = try ModelConfig(legacy: decoder)
            return
        }
        try ConfigKeys.check(decoder, valid: Key.allCases.map(\.rawValue), section: "model")
        let c = try decoder.container(keyedBy: Key.self)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        channels = try c.decodeIfPresent(Int.self, forKey: .channels) ?? d.channels
        layers = try c.decodeIfPresent(Int.self, forKey: .layers) ?? d.layers
        heads = try c.decodeIfPresent(Int.self, forKey: .heads) ?? d.heads
        kvHeads = try c.decodeIfPresent(Int.self, forKey: .kvHeads)
        context = try c.decodeIfPresent(Int.self, forKey: .context) ?? d.context
        mlp = try Self.kind(c.decodeIfPresent(String.self, forKey: .mlp), "mlp", d.mlp)
        norm = try Self.kind(c.decodeIfPresent(String.self, forKey: .norm), "norm", d.norm)
        tiedEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tiedEmbeddings) ?? d.tiedEmbeddings
        initSeed = try c.decodeIfPresent(UInt64.self, forKey: .initSeed) ?? d.initSeed
        if let t = try c.decodeIfPresent(NamedOptions.self, forKey: .attention) {
            attention = AttentionConfig(
                variant: try t.name(field: "attention") ?? d.attention.variant, options: t.options)
        }
        if let t = try c.decodeIfPresent(NamedOptions.self, forKey: .schedule) {
            schedule = ScheduleConfig(name: try t.name(field: "schedule") ?? d.schedule.name, options: t.options)
        }
    }

    /// The camelCase form with nested `options` tables that checkpoints held before.
    private init(legacy decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: LegacyKey.self)
        let d = ModelConfig(vocabSize: 0)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        channels = try c.decodeIfPresent(Int.self, forKey: .channels) ?? d.channels
        layers = try c.decodeIfPresent(Int.self, forKey: .layers) ?? d.layers
        heads = try c.decodeIfPresent(Int.self, forKey: .heads) ?? d.heads
        kvHeads = try c.decodeIfPresent(Int.self, forKey: .kvHeads)
        context = try c.decodeIfPresent(Int.self, forKey: .context) ?? d.context
        mlp = try c.decodeIfPresent(MLPKind.self, forKey: .mlp) ?? d.mlp
        norm = try c.decodeIfPresent(NormKind.self, forKey: .norm) ?? d.norm
        tiedEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tiedEmbeddings) ?? d.tiedEmbeddings
        attention = try c.decodeIfPresent(AttentionConfig.self, forKey: .attention) ?? d.attention
        initSeed = try c.decodeIfPresent(UInt64.self, forKey: .initSeed) ?? d.initSeed
        schedule = try c.decodeIfPresent(ScheduleConfig.self, forKey: .schedule) ?? d.schedule
    }

    private static func kind<K: RawRepresentable<String> & CaseIterable>(
        _ raw: String?, _ field: String, _ fallback: K
    ) throws -> K {
        guard let raw else { return fallback }
        guard let kind = K(rawValue: raw) else {
            let valid = K.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
            throw ModelError.invalidConfig(field: field, message: "\"\(raw)\" is not one of \(valid)")
        }
        return kind
    }

    /// Writes every key with its value (the resolved config), attention and schedule options
    /// flat beside `variant` / `name`, as in the run config; vocab_size once it is known.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        if vocabSize > 0 { try c.encode(vocabSize, forKey: .vocabSize) }
        try c.encode(channels, forKey: .channels)
        try c.encode(layers, forKey: .layers)
        try c.encode(heads, forKey: .heads)
        try c.encodeIfPresent(kvHeads, forKey: .kvHeads)
        try c.encode(context, forKey: .context)
        try c.encode(mlp.rawValue, forKey: .mlp)
        try c.encode(norm.rawValue, forKey: .norm)
        try c.encode(tiedEmbeddings, forKey: .tiedEmbeddings)
        try c.encode(initSeed, forKey: .initSeed)
        try c.encode(NamedOptions(["variant": .string(attention.variant)], attention.options), forKey: .attention)
        try c.encode(NamedOptions(["name": .string(schedule.name)], schedule.options), forKey: .schedule)
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
        try bounded(vocabSize, Self.limits.vocabSize, "vocab_size", "take it from the tokenizer")
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
                k >= 1 && heads % k == 0, "kv_heads",
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

/// A table like [model.attention]: one naming key (`variant` or `name`), every other key an option.
private struct NamedOptions: Codable {
    var fields: [String: ConfigValue]

    init(_ naming: [String: ConfigValue], _ options: [String: ConfigValue]) {
        fields = options.merging(naming) { _, name in name }
    }

    init(from decoder: any Decoder) throws {
        fields = try [String: ConfigValue](from: decoder)
    }

    func encode(to encoder: any Encoder) throws { try fields.encode(to: encoder) }

    /// The naming key's value (`variant` or `name`); throws if it is not a string.
    func name(field: String) throws -> String? {
        for key in ["variant", "name"] {
            switch fields[key] {
            case nil: continue
            case .string(let s): return s
            case let other?:
                throw ModelError.invalidConfig(field: "\(field).\(key)", message: "must be a string (got \(other))")
            }
        }
        return nil
    }

    /// Every key but the naming ones.
    var options: [String: ConfigValue] { fields.filter { $0.key != "variant" && $0.key != "name" } }
}

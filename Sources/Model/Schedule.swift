// The schedule extension point (architecture.md §3.5, attention.md §1c): how the model's L-layer
// core is applied over a sequence. The attention variant says how one layer mixes tokens; the
// schedule says which tokens one core application sees and how often each token passes through
// the core. `plain` applies the core once to the whole sequence; `staircase` (and `ladder`, its
// one-chunk case) applies it in rows, feeding final-layer outputs back as the next row's inputs.
// Every variant runs inside every schedule: schedules only call the core (LanguageModel's
// coreForward/coreBackward) and never look inside a layer.
import Attention
import Basics
import Kernels

/// The run config's `[model.schedule]` table: a schedule name plus scalar options.
public struct ScheduleConfig: Codable, Sendable, Equatable {
    /// Registry name: "plain", "staircase" or "ladder".
    public var name: String = "plain"
    /// Schedule options, e.g. staircase `chunk`, `steps`, `cache`; unknown names are rejected.
    public var options: [String: ConfigValue] = [:]

    public init(name: String = "plain", options: [String: ConfigValue] = [:]) {
        self.name = name
        self.options = options
    }

    private enum CodingKeys: String, CodingKey { case name, options }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? "plain"
        options = try c.decodeIfPresent([String: ConfigValue].self, forKey: .options) ?? [:]
    }
}

/// How the core is applied over a sequence. Conforming types live in Model (they build
/// workspaces); `ScheduleRegistry` lists them.
public protocol Schedule: Sendable {
    /// Registry key stored in run configs; never rename.
    static var name: String { get }
    /// Reads and checks the options (unknown names throw ModelError).
    init(options: [String: ConfigValue], config: ModelConfig) throws
    /// Every option with its value, defaults included, as a run config writes it (reading them
    /// back gives this schedule): what a resolved config stores.
    var options: [String: ConfigValue] { get }
    /// Core applications per token: the cost multiplier over a plain transformer (N).
    var passes: Int { get }
    func makeWorkspace(_ model: LanguageModel, batch: Int, time: Int) -> Workspace
    /// Floats one thread's workspace for (batch, time) reaches, schedule storage included, as
    /// `makeWorkspace` and a forward/backward would allocate them (for memory estimates).
    func workspaceFloats(_ config: ModelConfig, variant: any AttentionVariant, batch: Int, time: Int) -> Int
    func flopsPerToken(_ model: LanguageModel) -> Double
    /// Runs tokens (B, ws.time); fills ws.states and, with targets, the loss as
    /// LanguageModel.forward. A state carries the stream across calls and is advanced.
    func forward(
        _ model: LanguageModel, _ ws: Workspace, tokens: UnsafePointer<Int32>,
        targets: UnsafePointer<Int32>?, gradients: Bool, state: ScheduleState?
    ) -> Float
    /// Accumulates dLoss/dparameters after a forward with gradients.
    func backward(_ model: LanguageModel, _ ws: Workspace, grads: UnsafeMutablePointer<Float>)
    func makeGenerator(_ model: LanguageModel, maxTokens: Int) -> any TokenGenerator
}

/// Token-by-token generation (batch 1): `next` feeds a token and returns the logits (V) for the
/// token after it, valid until the next call and only while the generator lives (hold it in a
/// variable: `Array(makeGenerator(...).next(token: t))` reads them after a temporary generator is
/// freed); they equal the parallel forward's at that position.
public protocol TokenGenerator: AnyObject {
    /// Tokens consumed since the last reset.
    var position: Int { get }
    func reset()
    func next(token: Int32) -> UnsafeBufferPointer<Float>
}

extension TokenDecoder: TokenGenerator {}

/// A stream carried across forward calls (Transformer-XL style truncated BPTT): the staircase
/// keeps its trailing rows' and cached chunks' per-layer inputs, detached. One per batch of
/// streams; make it with `LanguageModel.makeState(batch:)`.
public final class ScheduleState: @unchecked Sendable {
    public let batch: Int
    /// Tokens of each stream consumed so far (the position of the next call's first token).
    public internal(set) var position = 0
    var storage: AnyObject?

    init(batch: Int) { self.batch = batch }

    /// Starts new streams at position 0.
    public func reset() {
        position = 0
        storage = nil
    }
}

public enum ScheduleRegistry {
    /// Every schedule, by name.
    public static let schedules: [any Schedule.Type] = [Plain.self, Staircase.self, Ladder.self]

    public static var names: [String] { schedules.map { $0.name } }

    public static func make(_ config: ScheduleConfig, config model: ModelConfig) throws
        -> any Schedule
    {
        guard let type = schedules.first(where: { $0.name == config.name }) else {
            throw ModelError.invalidConfig(
                field: "schedule.name",
                message:
                    "unknown schedule \"\(config.name)\"; known: \(names.joined(separator: ", "))")
        }
        return try type.init(options: config.options, config: model)
    }

    /// `config` with every option of its schedule at its value, defaults included.
    public static func resolved(_ config: ScheduleConfig, config model: ModelConfig) throws -> ScheduleConfig {
        ScheduleConfig(name: config.name, options: try make(config, config: model).options)
    }
}

/// The ordinary transformer: the core once over the whole sequence at positions 0..<T. A state
/// is accepted and ignored (segments are independent).
public struct Plain: Schedule {
    public static let name = "plain"
    public var passes: Int { 1 }
    public var options: [String: ConfigValue] { [:] }

    public init(options: [String: ConfigValue], config: ModelConfig) throws {
        if let name = options.keys.sorted().first {
            throw ModelError.invalidConfig(
                field: "schedule.\(name)", message: "the plain schedule has no options")
        }
    }

    public func makeWorkspace(_ model: LanguageModel, batch: Int, time: Int) -> Workspace {
        Workspace(config: model.config, variant: model.attention, batch: batch, time: time)
    }

    public func workspaceFloats(_ config: ModelConfig, variant: any AttentionVariant, batch: Int, time: Int) -> Int {
        WorkspaceLayout(config: config, variant: variant, batch: batch, time: time).floatCount
    }

    public func flopsPerToken(_ model: LanguageModel) -> Double { model.plainFlopsPerToken }

    public func forward(
        _ model: LanguageModel, _ ws: Workspace, tokens: UnsafePointer<Int32>,
        targets: UnsafePointer<Int32>?, gradients: Bool, state: ScheduleState?
    ) -> Float {
        model.plainForward(ws, tokens: tokens, targets: targets, gradients: gradients)
    }

    public func backward(
        _ model: LanguageModel, _ ws: Workspace, grads: UnsafeMutablePointer<Float>
    ) {
        model.plainBackward(ws, grads: grads)
    }

    public func makeGenerator(_ model: LanguageModel, maxTokens: Int) -> any TokenGenerator {
        model.makeDecoder(maxTokens: maxTokens)
    }
}

extension LanguageModel {
    /// Like `forward`, continuing the streams in `state` (which it advances): the values equal
    /// those of one call over the concatenated segments; gradients stop at segment boundaries.
    @discardableResult
    public func forward(
        _ ws: Workspace, tokens: UnsafePointer<Int32>, targets: UnsafePointer<Int32>?,
        state: ScheduleState
    ) -> Float {
        precondition(state.batch == ws.batch, "state and workspace batch differ")
        return schedule.forward(
            self, ws, tokens: tokens, targets: targets, gradients: targets != nil, state: state)
    }

    /// Like `evaluate`, continuing the streams in `state` (which it advances).
    public func evaluate(
        _ ws: Workspace, tokens: UnsafePointer<Int32>, targets: UnsafePointer<Int32>,
        state: ScheduleState
    ) -> Float {
        precondition(state.batch == ws.batch, "state and workspace batch differ")
        return schedule.forward(
            self, ws, tokens: tokens, targets: targets, gradients: false, state: state)
    }

    /// Empty streams for `batch` sequences, for the stateful forward/evaluate.
    public func makeState(batch: Int) -> ScheduleState { ScheduleState(batch: batch) }

    /// Schedule-aware generation (batch 1); for plain it is `makeDecoder(maxTokens:)`.
    public func makeGenerator(maxTokens: Int) -> any TokenGenerator {
        schedule.makeGenerator(self, maxTokens: maxTokens)
    }
}

extension Workspace {
    /// Output states (B, T, C) of the last forward: the final-layer outputs before the final
    /// norm (for the staircase, every token's pass-N state).
    public var states: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: p(final), count: batch * time * channels)
    }
}

// The task settings of a run's `[data]` table when it trains on a synthetic task instead of
// shards (shared/spec/attention.md §2.3): `task = "t1" | "s1" | "t2"` plus the task's options.
// Missing keys take the spec's values (decodeIfPresent); `makeTask()` validates and builds the
// generator. Whoever decodes `[data]` rejects unknown keys, counting `TaskOptions.configKeys` as
// valid.
import Foundation

public struct TaskOptions: Codable, Sendable, Equatable {
    /// "t1" (random walk), "s1" (MQRAR-tiny) or "t2" (variable tracking).
    public var task: String
    /// Tokens per training row; nil means the model's context.
    public var episodeLength: Int?
    /// Row lengths evaluated for length generalisation, e.g. [64, 256, 512]; nil means
    /// [episode length] only.
    public var evalLengths: [Int]?
    /// Episodes (rows) per evaluation length (the spec: 1,000 for T1, 2,000 for S1).
    public var evalEpisodes = 1000
    /// T1: K, positions on the cycle, and the allowed moves.
    public var positions = 5
    public var moves = "LSR"
    /// S1: keys, values and the SET probability.
    public var keys = 8
    public var values = 16
    public var setProbability = 0.6
    /// T2: variables and statements per program.
    public var variables = 3
    public var statements = 24

    public static let taskNames = [
        RandomWalkTask.name, RepeatedRecallTask.name, VariableTrackingTask.name,
    ]

    public init(task: String) { self.task = task }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case task
        case episodeLength = "episode_length"
        case evalLengths = "eval_lengths"
        case evalEpisodes = "eval_episodes"
        case positions, moves, keys, values
        case setProbability = "set_probability"
        case variables, statements
    }

    /// Every key the task settings use in `[data]`.
    public static var configKeys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var d = TaskOptions(task: try c.decode(String.self, forKey: .task))
        d.episodeLength = try c.decodeIfPresent(Int.self, forKey: .episodeLength)
        d.evalLengths = try c.decodeIfPresent([Int].self, forKey: .evalLengths)
        d.evalEpisodes = try c.decodeIfPresent(Int.self, forKey: .evalEpisodes) ?? d.evalEpisodes
        d.positions = try c.decodeIfPresent(Int.self, forKey: .positions) ?? d.positions
        d.moves = try c.decodeIfPresent(String.self, forKey: .moves) ?? d.moves
        d.keys = try c.decodeIfPresent(Int.self, forKey: .keys) ?? d.keys
        d.values = try c.decodeIfPresent(Int.self, forKey: .values) ?? d.values
        d.setProbability =
            try c.decodeIfPresent(Double.self, forKey: .setProbability) ?? d.setProbability
        d.variables = try c.decodeIfPresent(Int.self, forKey: .variables) ?? d.variables
        d.statements = try c.decodeIfPresent(Int.self, forKey: .statements) ?? d.statements
        self = d
    }

    /// The training row length for a model of context `context`.
    public func trainLength(context: Int) -> Int { episodeLength ?? context }

    /// The evaluation row lengths (they may exceed the context: length generalisation).
    public func evaluationLengths(context: Int) -> [Int] {
        evalLengths ?? [trainLength(context: context)]
    }

    /// Validates the settings (the training length against the model context) and builds the task.
    public func makeTask(context: Int) throws -> any SyntheticTask {
        func bad(_ key: String, _ value: Any, _ hint: String) -> TrainingError {
            .invalidConfig(key: "data.\(key)", value: "\(value)", hint: hint)
        }
        let train = trainLength(context: context)
        if train < 1 || train > context {  // not `1...context`: a context below 1 would trap
            throw bad("episode_length", train, "use 1 to the model context (\(context))")
        }
        if let lengths = evalLengths, lengths.isEmpty || lengths.contains(where: { $0 < 1 }) {
            throw bad("eval_lengths", lengths, "list positive lengths, e.g. [64, 256, 512]")
        }
        if evalEpisodes < 1 {
            throw bad("eval_episodes", evalEpisodes, "evaluate at least 1 episode")
        }
        switch task {
        case RandomWalkTask.name: return try RandomWalkTask(positions: positions, moves: moves)
        case RepeatedRecallTask.name:
            return try RepeatedRecallTask(
                keys: keys, values: values, setProbability: setProbability)
        case VariableTrackingTask.name:
            return try VariableTrackingTask(variables: variables, statements: statements)
        default:
            throw bad("task", task, "use one of \(Self.taskNames.joined(separator: ", "))")
        }
    }
}

// Why training, evaluation, checkpointing or sampling could not go on, with what to do about it
// (llm.c's ---> HINT lines as one sentence each).
import Basics

public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// A config value is out of range; `hint` says what would be accepted.
    case invalidConfig(key: String, value: String, hint: String)
    /// A config value has the wrong type.
    case wrongType(key: String, expected: String)
    /// No shards, or shards too short for one window of T+1 tokens.
    case notEnoughTokens(split: String, tokens: Int, needed: Int)
    /// A shard's vocabulary does not fit the model.
    case vocabularyMismatch(path: String, shard: Int, model: Int)
    /// A checkpoint file is malformed.
    case badCheckpoint(path: String, reason: String)
    /// A checkpoint's tensor data no longer hashes to the digest written with it.
    case damagedCheckpoint(path: String)
    /// A checkpoint whose tensor holds NaN or infinity (written after the run had diverged).
    case nonFiniteCheckpoint(path: String, tensor: String)
    /// A checkpoint belongs to another model or run.
    case checkpointMismatch(path: String, reason: String)
    /// Nothing to resume or sample from.
    case noCheckpoint(path: String)
    /// The loss became NaN or infinite.
    case diverged(step: Int, loss: Double)
    /// Stopped by a signal (SIGINT/SIGTERM) after checkpointing at `step`.
    case interrupted(step: Int, checkpoint: String?)
    /// The run's estimated memory exceeds what is available (`limit` names which limit).
    case notEnoughMemory(needed: Int64, available: Int64, limit: String, breakdown: String)
    /// File I/O failed.
    case io(BasicsError)

    public var description: String {
        switch self {
        case .invalidConfig(let key, let value, let hint):
            return "config: \(key) = \(value) is invalid: \(hint)"
        case .wrongType(let key, let expected):
            return "config: \(key) must be \(expected)"
        case .notEnoughTokens(let split, let tokens, let needed):
            return "the \(split) shards hold \(tokens) tokens but one window needs \(needed): "
                + "lower [model] context, or ingest a larger corpus"
        case .vocabularyMismatch(let path, let shard, let model):
            return "\(path): shard vocabulary is \(shard) but the model's is \(model): "
                + "train with the tokenizer the shards were written with"
        case .badCheckpoint(let path, let reason):
            return "\(path): not a usable checkpoint (\(reason)): pick another checkpoint of the run"
        case .damagedCheckpoint(let path):
            return "\(path): checkpoint data does not match its checksum: the file is damaged; resume from an "
                + "earlier checkpoint"
        case .nonFiniteCheckpoint(let path, let tensor):
            return "\(path): tensor '\(tensor)' holds NaN or infinity (the run had diverged when it was written): "
                + "resume from an earlier checkpoint"
        case .checkpointMismatch(let path, let reason):
            return "\(path): \(reason): resume with the config the checkpoint was trained with"
        case .notEnoughMemory(let needed, let available, let limit, let breakdown):
            return "this run needs about \(Format.bytes(needed)) (\(breakdown)) but only "
                + "\(Format.bytes(available)) is available (\(limit)): lower [train] batch or threads, "
                + "or [model] context, channels, layers or vocabulary, or free memory"
        case .noCheckpoint(let path):
            return "\(path): no checkpoint found: pass a run folder that holds step-*.safetensors, "
                + "or a .safetensors file"
        case .diverged(let step, let loss):
            return "training diverged at step \(step) (loss \(loss)): lower [train] lr, or raise warmup"
        case .interrupted(let step, let checkpoint):
            return "interrupted at step \(step)"
                + (checkpoint.map { "; checkpoint saved to \($0): continue with --resume" }
                    ?? " (no checkpoint directory)")
        case .io(let e):
            return e.description
        }
    }
}

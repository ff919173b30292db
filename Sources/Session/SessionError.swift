// What can go wrong setting up a training run or an experiment before any work starts, each with
// the file or name to fix.
import Foundation

public enum SessionError: Error, CustomStringConvertible, Equatable {
    /// A config file that cannot be read (`what` is "config file", "experiment file", ...).
    case unreadable(path: String, what: String, reason: String, hint: String)
    /// A file that is not TOML.
    case notTOML(path: String, reason: String)
    /// A config file whose content is wrong (the message names the key).
    case badFile(path: String, message: String)
    /// One run of an experiment whose resolved config is wrong.
    case badRun(path: String, run: String, message: String)
    /// [data] names a corpus the workspace does not hold.
    case noCorpus(name: String, home: String)
    /// A file of an ingested corpus is not there on the node that trains.
    case corpusFileMissing(path: String, host: String)
    /// `--resume` with a config that changes what is trained (the keys named).
    case resumeChangesConfig(dir: String, keys: [String])
    /// A run config (JSON) that is not valid JSON, or holds a value no key can take.
    case invalidConfigJSON(detail: String)
    /// A checkpoint that names no tokenizer, or a tokenizer that does not fit the model.
    case tokenizer(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let what, let reason, let hint):
            return "cannot read the \(what) \(path): \(reason)\(hint.isEmpty ? "" : " (\(hint))")"
        case .notTOML(let path, let reason):
            return "\(path) is not valid TOML: \(reason)"
        case .badFile(let path, let message):
            return "\(path): \(message)"
        case .badRun(let path, let run, let message):
            return "\(path), run '\(run)': \(message)"
        case .corpusFileMissing(let path, let host):
            return "corpus file \(path) does not exist on \(host): on a cluster, put the workspace (--home) on "
                + "the shared filesystem, mounted at the same path on every node; else restore the file or "
                + "re-ingest the corpus (`tracker ingest ... --force`)"
        case .noCorpus(let name, let home):
            return "no corpus named '\(name)' in \(home): ingest it first, "
                + "e.g. `tracker ingest corpora/bundled.tar.xz --home \(home)`"
        case .resumeChangesConfig(let dir, let keys):
            return "the config differs from \(dir)/config.json in \(keys.joined(separator: ", ")): resume with "
                + "the run's own config (--config \(dir)/config.json) or start a new run; a resume may change "
                + "only evaluation keys ([eval], train.eval_every, train.eval_batches, data.eval_*), and "
                + "train.steps when train.decay_steps fixes the learning-rate schedule"
        case .invalidConfigJSON(let detail):
            return "the run config is not valid: \(detail)"
        case .tokenizer(let message):
            return message
        }
    }
}

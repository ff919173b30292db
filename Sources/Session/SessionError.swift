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
        case .noCorpus(let name, let home):
            return "no corpus named '\(name)' in \(home): ingest it first, "
                + "e.g. `tracker ingest corpora/bundled.tar.xz --home \(home)`"
        case .tokenizer(let message):
            return message
        }
    }
}

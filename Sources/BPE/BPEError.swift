// The errors of the BPE module: bad trainer settings and unreadable tokenizer files.
// Each message says what went wrong and what to do about it.

/// Errors thrown by the BPE trainer and the tokenizer loader.
public enum BPEError: Error, CustomStringConvertible, Equatable {
    /// The requested vocabulary cannot hold the 256 byte tokens and the special tokens.
    case vocabularyTooSmall(requested: Int, minimum: Int)
    /// The requested vocabulary is larger than the trainer supports.
    case vocabularyTooLarge(requested: Int, maximum: Int)
    /// The minimum pair frequency is negative.
    case invalidMinFrequency(Int)
    /// A special token is empty or listed twice.
    case invalidSpecialToken(String)
    /// A tokenizer.json file is not one this module writes or can read.
    case invalidTokenizerFile(String)
    /// A tokenizer file is missing or cannot be read (`reason` is the OS's message).
    case unreadableTokenizer(path: String, reason: String)

    public var description: String {
        switch self {
        case .vocabularyTooSmall(let requested, let minimum):
            return "vocabulary size \(requested) is too small: it must be at least \(minimum) "
                + "(256 byte tokens + the special tokens); choose a larger --vocab-size"
        case .vocabularyTooLarge(let requested, let maximum):
            return
                "vocabulary size \(requested) is too large: it must be at most \(maximum); choose a smaller --vocab-size"
        case .invalidMinFrequency(let value):
            return "minimum frequency \(value) is negative: give 0 (no limit) or more"
        case .invalidSpecialToken(let token):
            return "special token \"\(token)\" is empty or repeated; give each special token once"
        case .invalidTokenizerFile(let reason):
            return "not a byte-level BPE tokenizer.json: \(reason); "
                + "retrain with `tracker tokenizer train` or check the file"
        case .unreadableTokenizer(let path, let reason):
            return "\(path): cannot read the tokenizer (\(reason)): check the path; a corpus' tokenizer is "
                + "rebuilt by running its `tracker ingest` again with --force"
        }
    }
}

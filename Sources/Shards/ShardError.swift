import Basics

/// Why a shard could not be written or read, with what to do about it (llm.c's ---> HINT lines).
public enum ShardError: Error, CustomStringConvertible, Equatable {
    case tooSmall(path: String, size: Int)
    case badMagic(path: String, found: Int32)
    case badVersion(path: String, found: Int32)
    /// A header field that cannot be right (a negative token count, vocabulary or document count).
    case badHeaderField(path: String, field: String, found: Int32)
    case sizeMismatch(path: String, expected: Int, actual: Int)
    case tokenOutOfRange(path: String, index: Int, token: UInt32, vocabSize: Int)
    case vocabularyTooLarge(vocabSize: Int)
    case vocabularyMismatch(path: String, shard: Int, expected: Int)
    case tokenizerMismatch(path: String, shard: String, expected: String)
    /// The file's SHA-256 is not the one recorded when it was written.
    case checksumMismatch(path: String, expected: String, actual: String)
    /// More tokens than the header's 32-bit count can hold.
    case tooManyTokens(path: String, limit: Int)
    case io(BasicsError)

    public var description: String {
        let rebuild = "re-create it with `tracker ingest`"
        switch self {
        case .tooSmall(let p, let size):
            return "\(p): \(size) bytes is too small for a token shard (header is 1024 bytes): \(rebuild)"
        case .badMagic(let p, let found):
            return
                "\(p): not a token shard (magic \(found), expected \(ShardHeader.magic)): pass a .bin written by `tracker ingest` or llm.c"
        case .badVersion(let p, let found):
            return "\(p): unsupported shard version \(found) (1 = uint16 tokens, 2 = uint32): \(rebuild)"
        case .badHeaderField(let p, let field, let found):
            return "\(p): the header's \(field) is \(found), which cannot be right: the header is damaged; \(rebuild)"
        case .sizeMismatch(let p, let expected, let actual):
            return
                "\(p): file is \(actual) bytes but its header promises \(expected): the file is truncated or was modified; \(rebuild)"
        case .tokenOutOfRange(let p, let i, let t, let v):
            return
                "\(p): token \(t) at index \(i) is outside the vocabulary of \(v): the shard belongs to another tokenizer; \(rebuild)"
        case .vocabularyMismatch(let p, let shard, let expected):
            return
                "\(p): shard was written for a vocabulary of \(shard), but the model uses \(expected): use the shards of the run's tokenizer or re-run `tracker ingest`"
        case .vocabularyTooLarge(let v):
            return "vocabulary of \(v) does not fit in 32-bit tokens"
        case .tokenizerMismatch(let p, let shard, let expected):
            return
                "\(p): shard was written for tokenizer \(shard.prefix(12)), but the run uses \(expected.prefix(12)): re-run `tracker ingest` for this tokenizer"
        case .checksumMismatch(let p, let expected, let actual):
            return
                "\(p): SHA-256 is \(actual.prefix(12)), but \(expected.prefix(12)) was recorded when it was written: the file was changed or damaged; re-run the same `tracker ingest` with --force to rebuild it"
        case .tooManyTokens(let p, let limit):
            return "\(p): a shard holds at most \(limit) tokens (a 32-bit count): write smaller shards (--shard-tokens)"
        case .io(let e):
            return e.description
        }
    }
}

/// Why an ingest stopped, with what to do about it. Nothing is recorded and no shard is left behind.
public enum IngestError: Error, CustomStringConvertible {
    case noSources(paths: [String])
    case nothingUsable(paths: [String], detail: String)
    case vocabularyTooSmall(Int)
    case badValFraction(Double)
    case badName(String)
    case filesMissing(corpus: String, path: String)

    public var description: String {
        switch self {
        case .noSources(let paths):
            return
                "no files found in \(paths.joined(separator: ", ")): pass archives, text files or folders that contain them"
        case .nothingUsable(let paths, let detail):
            return
                "no usable text documents in \(paths.joined(separator: ", ")) (\(detail)): check --include/--exclude, or pass --repair-utf8 for text with invalid UTF-8"
        case .vocabularyTooSmall(let v):
            return "--vocab-size \(v) is too small: it must be at least 257 (256 byte tokens + <|endoftext|>)"
        case .badValFraction(let f):
            return "--val-fraction \(f) must be in [0, 1)"
        case .badName(let n):
            return "corpus name '\(n)' must be 1-64 characters of letters, digits, '.', '_' or '-'"
        case .filesMissing(let corpus, let path):
            return
                "corpus '\(corpus)' is recorded but \(path) is missing or changed: run the same ingest with --force to rebuild it"
        }
    }
}

// The value types at the module boundary: reading options, a source file, and a document.

/// How sources are read. Defaults suit English text corpora.
public struct CorpusOptions: Sendable {
    /// Globs an entry must match (any of them) to be read; empty means every entry.
    public var include: [String]
    /// Globs that drop an entry even when it matches `include`.
    public var exclude: [String]
    /// Documents (and JSONL lines) larger than this are skipped and counted.
    public var maxDocumentBytes: Int
    /// Replace invalid UTF-8 with U+FFFD instead of skipping the document.
    public var repairInvalidUTF8: Bool
    /// Record a fatal error of a source as a warning and return its stats instead of throwing.
    public var continueOnError: Bool
    /// Skip entries with known binary extensions and entries whose first 8 KiB look binary.
    public var skipBinary: Bool
    /// An archive may decompress to at most `maxExpansionRatio` x its compressed bytes ...
    public var maxExpansionRatio: Int64
    /// ... plus this many bytes, else it is rejected as a compression bomb.
    public var expansionSlackBytes: Int64
    /// At most this many warnings are kept per source (all of them are counted).
    public var maxWarnings: Int
    /// Decompress archives on a second thread while this one checks and hands out documents.
    public var readAheadThread: Bool

    public init(
        include: [String] = [], exclude: [String] = [], maxDocumentBytes: Int = 64 << 20,
        repairInvalidUTF8: Bool = false, continueOnError: Bool = false, skipBinary: Bool = true,
        maxExpansionRatio: Int64 = 200, expansionSlackBytes: Int64 = 256 << 20, maxWarnings: Int = 100,
        readAheadThread: Bool = true
    ) {
        precondition(maxDocumentBytes > 0, "maxDocumentBytes must be positive")
        precondition(maxExpansionRatio > 0 && expansionSlackBytes >= 0, "expansion limits must be positive")
        self.include = include
        self.exclude = exclude
        self.maxDocumentBytes = maxDocumentBytes
        self.repairInvalidUTF8 = repairInvalidUTF8
        self.continueOnError = continueOnError
        self.skipBinary = skipBinary
        self.maxExpansionRatio = maxExpansionRatio
        self.expansionSlackBytes = expansionSlackBytes
        self.maxWarnings = maxWarnings
        self.readAheadThread = readAheadThread
    }
}

/// A file on disk to read: an archive, a compressed file or a plain file (directories are expanded).
public struct SourceFile: Sendable, Hashable {
    public let path: String
    /// Size on disk in bytes (the compressed size for archives), for progress bars.
    public let size: Int64

    public init(path: String, size: Int64) {
        self.path = path
        self.size = size
    }
}

/// One text document: a file, an archive entry, or one line of a JSONL file.
public struct Document {
    /// The source file's path.
    public let source: String
    /// The entry inside an archive ("" for a plain file); JSONL documents end in "#L<line>".
    public let entry: String
    /// Valid UTF-8 without a byte-order mark, valid only during the callback.
    public let bytes: UnsafeRawBufferPointer
}

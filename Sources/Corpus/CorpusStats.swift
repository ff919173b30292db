// What reading one or more sources found: documents kept, entries skipped by reason, bytes read.

/// Counters for one source (from `CorpusScanner.read`) or, after `add`, for many.
public struct CorpusStats: Sendable, Codable, Equatable {
    /// Sources read (1 per `read` call).
    public var sources = 0
    /// Documents handed to the caller, and their bytes.
    public var documents = 0
    public var documentBytes: Int64 = 0
    /// Files and archive entries looked at (directories inside archives are not counted).
    public var entriesSeen = 0
    /// Skipped by the include/exclude globs.
    public var skippedFiltered = 0
    /// Skipped for a known binary extension, or because the first 8 KiB look binary.
    public var skippedBinaryName = 0
    public var skippedBinaryContent = 0
    /// Documents (or JSONL lines) larger than `maxDocumentBytes`.
    public var skippedOversized = 0
    /// Symlinks, hardlinks, devices, fifos and sockets inside archives.
    public var skippedNonRegular = 0
    /// Empty files and entries (and JSONL lines with an empty text).
    public var skippedEmpty = 0
    /// Entries libarchive could not decode (encrypted, bad checksum) while the archive went on.
    public var skippedUnreadable = 0
    /// JSONL lines that are not an object with a string "text" field.
    public var skippedJSONLLines = 0
    /// Documents with invalid UTF-8, skipped or repaired (U+FFFD).
    public var invalidUTF8Skipped = 0
    public var invalidUTF8Repaired = 0
    /// Sources that failed and were recorded as warnings (`continueOnError`).
    public var failedSources = 0
    /// Bytes read from disk (compressed size), and bytes of entry data after decompression (with
    /// the read-ahead thread, including the tails of oversized or binary entries it read ahead).
    public var compressedBytes: Int64 = 0
    public var uncompressedBytes: Int64 = 0
    /// Every warning is counted; the first `maxWarnings` per source are kept.
    public var warningCount = 0
    public var warnings: [String] = []

    public init() {}

    /// Entries or lines skipped for any reason.
    public var skipped: Int {
        skippedFiltered + skippedBinaryName + skippedBinaryContent + skippedOversized + skippedNonRegular
            + skippedEmpty + skippedUnreadable + skippedJSONLLines + invalidUTF8Skipped
    }

    public mutating func add(_ other: CorpusStats) {
        sources += other.sources
        documents += other.documents
        documentBytes += other.documentBytes
        entriesSeen += other.entriesSeen
        skippedFiltered += other.skippedFiltered
        skippedBinaryName += other.skippedBinaryName
        skippedBinaryContent += other.skippedBinaryContent
        skippedOversized += other.skippedOversized
        skippedNonRegular += other.skippedNonRegular
        skippedEmpty += other.skippedEmpty
        skippedUnreadable += other.skippedUnreadable
        skippedJSONLLines += other.skippedJSONLLines
        invalidUTF8Skipped += other.invalidUTF8Skipped
        invalidUTF8Repaired += other.invalidUTF8Repaired
        failedSources += other.failedSources
        compressedBytes += other.compressedBytes
        uncompressedBytes += other.uncompressedBytes
        warningCount += other.warningCount
        warnings += other.warnings
    }
}

// Settings of one `tracker ingest`, and what it reports when done.
import BPE
import Basics
import Corpus

public struct IngestOptions: Sendable {
    /// Corpus name; defaults to the first path's file name without its extensions.
    public var name: String?
    /// Vocabulary size: 256 byte tokens + merges + 1 special token (<|endoftext|>).
    public var vocabSize = 8192
    /// Share of documents (by document hash) that go to the validation split.
    public var valFraction = 0.005
    /// Globs of entry paths (as `--include` matches them) whose documents all go to the validation
    /// split: whole held-out files, beside the hashed share. Each must match at least one document.
    public var valFiles: [String] = []
    /// Which entries become documents, size caps, UTF-8 repair.
    public var corpus = CorpusOptions()
    /// Worker threads for counting and encoding.
    public var threads = Parallelism.defaultThreads
    /// Tokens per shard file before a new one is started (at a document boundary).
    public var shardTokens = 100_000_000
    /// Re-ingest even when the same sources and settings were ingested before.
    public var force = false
    /// Only read the sources and report what would be ingested (no tokenizer, shards or rows).
    public var dryRun = false
    /// Bytes the word counting may hold (`IngestOptions.defaultMemoryBudget()`): its tables take
    /// three quarters; past that, counts are spilled to the workspace and merged back exactly,
    /// so the budget never changes the result.
    public var memoryBudget = IngestOptions.defaultMemoryBudget()
    /// HF's `min_frequency`: merging stops at the first pair that occurs fewer times (0: never).
    public var minFrequency = 0
    /// Bytes the spill files may take before writing fails as on a full disk (tests only).
    var spillQuota: Int64?

    public init() {}

    /// Throws `IngestError` naming the first setting outside `IngestLimits`.
    public func validate() throws {
        try IngestLimits.check("--vocab-size", vocabSize, in: IngestLimits.vocabSize)
        guard valFraction >= 0, valFraction < 1 else { throw IngestError.badValFraction(valFraction) }
        try IngestLimits.check("--shard-tokens", shardTokens, in: IngestLimits.shardTokens)
        try IngestLimits.check("--threads", threads, in: IngestLimits.threads)
        try IngestLimits.checkMemoryBudget(memoryBudget)
        try IngestLimits.check("--min-frequency", minFrequency, in: IngestLimits.minFrequency)
        let bytes = 1...IngestLimits.maxDocumentMiB.upperBound << 20
        try IngestLimits.check("corpus.maxDocumentBytes", corpus.maxDocumentBytes, in: bytes)
    }

    /// 1 GiB, or half the memory available now when that is less (at least the smallest budget).
    public static func defaultMemoryBudget() -> Int {
        let available = MemoryAvailable.current().map { Int($0.bytes / 2) } ?? Int.max
        return max(IngestLimits.memoryBudgetMiB.lowerBound << 20, min(1 << 30, available))
    }

    /// The settings that determine the output; their hash is part of the corpus fingerprint.
    /// (`memoryBudget` does not change the result, and `minFrequency` only when set.)
    var fingerprintSettings: [String: String] {
        var settings = [
            "format": "tracker-ingest-v1",
            "tokenizer": "bpe-byte-level-gpt2-v1",
            "vocabSize": "\(vocabSize)",
            "valFraction": "\(valFraction + 0)",  // -0.0 + 0 is 0.0: `-0` and `0` are one setting
            "valFiles": valFiles.joined(separator: "\u{1F}"),
            "include": corpus.include.joined(separator: "\u{1F}"),
            "exclude": corpus.exclude.joined(separator: "\u{1F}"),
            "maxDocumentBytes": "\(corpus.maxDocumentBytes)",
            "repairInvalidUTF8": "\(corpus.repairInvalidUTF8)",
            "continueOnError": "\(corpus.continueOnError)",
            "shardTokens": "\(shardTokens)",
        ]
        if minFrequency > 1 { settings["minFrequency"] = "\(minFrequency)" }
        return settings
    }
}

/// The ranges the sizes `tracker ingest`, `scan` and `tokenizer` take must lie in: each is
/// checked before anything is read or allocated, with an error naming the option and its range.
public enum IngestLimits {
    /// 256 byte tokens + <|endoftext|>, up to what the BPE trainer supports.
    public static let vocabSize = 257...BPETrainer.maxVocabSize
    /// Tokens per shard file. A shard ends at the first document boundary past this count, and a
    /// document holds at most `maxDocumentMiB` MiB + 1 tokens, so a shard stays below the
    /// 2^31 - 1 tokens its header can count.
    public static let shardTokens = 1024...1_000_000_000
    /// Largest document kept, in MiB.
    public static let maxDocumentMiB = 1...1024
    /// Worker threads.
    public static let threads = 1...1024
    /// `--memory-budget` in MiB: 4 MiB to 1 TiB.
    public static let memoryBudgetMiB = 4...(1 << 20)
    /// `--min-frequency`.
    public static let minFrequency = 0...Int(Int32.max)

    /// Throws `IngestError.memoryBudgetOutOfRange` naming the budget as typed (`typed`, else in
    /// bytes) unless its whole MiB lie in `memoryBudgetMiB` (`1K` is 0 MiB: it names `1K`, not 0).
    public static func checkMemoryBudget(_ bytes: Int, typed: String? = nil) throws {
        guard memoryBudgetMiB.contains(bytes >> 20) else {
            throw IngestError.memoryBudgetOutOfRange(typed ?? "\(bytes) bytes")
        }
    }

    /// Throws `IngestError.outOfRange` unless `range` holds `value`.
    public static func check(_ option: String, _ value: Int, in range: ClosedRange<Int>) throws {
        guard range.contains(value) else { throw IngestError.outOfRange(option: option, value: value, range: range) }
    }
}

/// The final summary of an ingest, printed as text or JSON.
public struct IngestSummary: Codable, Sendable {
    public struct ShardInfo: Codable, Sendable {
        public var split: String
        public var path: String
        public var tokens: Int64
        public var documents: Int64
        public var sha256: String
    }

    /// "ingested", "unchanged" (same sources and settings were ingested before) or "dry-run".
    public var status: String
    public var corpus: String
    public var corpusId: Int64?
    public var sources: Int
    public var sourceBytes: Int64
    public var documents: Int64
    public var trainDocuments: Int64
    public var valDocuments: Int64
    public var bytes: Int64
    public var skipped: Int64
    public var invalid: Int64
    public var repaired: Int64
    public var duplicates: Int64
    public var trainTokens: Int64
    public var valTokens: Int64
    public var bytesPerToken: Double
    public var vocabSize: Int
    public var uniqueWords: Int
    public var tokenizerPath: String?
    public var tokenizerSHA256: String?
    public var shards: [ShardInfo]
    /// Wall-clock seconds per stage: hash (alongside read+count, which includes "combine
    /// counts" when the counts spilled), read+count, train, encode+write, record.
    public var seconds: [String: Double]
    /// CPU seconds of the process (every thread) during each stage of `seconds` but hash, whose
    /// CPU is part of read+count's.
    public var cpuSeconds: [String: Double]?
    public var totalSeconds: Double
    /// Source bytes read per second over the whole ingest, in MB (10^6 bytes).
    public var megabytesPerSecond: Double
    /// Peak resident memory of the process (the kernel's high-water mark, as getrusage's ru_maxrss).
    public var peakMemoryBytes: Int64
    /// The peak of each stage that ended ("hash", "count", "combine counts" when spilled,
    /// "train", "encode+write"), where the kernel lets the peak be reset between stages.
    public var stagePeakBytes: [String: Int64]?
    /// The --memory-budget the word counting ran with.
    public var memoryBudgetBytes: Int64
    /// Bytes of word counts spilled to disk because they passed the budget (0: none).
    public var spilledBytes: Int64
    /// How often the sources were read: 1 when pass 2 encoded the documents pass 1 kept in memory
    /// (they fit in an eighth of the budget), 2 when it read them again; nil for a dry run or an
    /// unchanged corpus.
    public var sourceReads: Int? = nil
    public var warnings: [String]
}

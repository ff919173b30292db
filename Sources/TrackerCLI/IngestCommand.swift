// `tracker ingest PATH...`: archives or folders -> tokenizer + train/val shards, recorded in the database.
import ArgumentParser
import Basics
import Corpus
import Foundation
import Ingest
import Store

struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Read text corpora, train a byte-level BPE tokenizer, and write train/val token shards.",
        discussion: """
            PATH is an archive (tar, tar.gz/.tgz, tar.xz, tar.bz2, tar.zst, zip, 7z), a single \
            .gz/.xz/.bz2/.zst file, a plain text or .jsonl file, or a folder of them. Nothing is \
            unpacked to disk. Running the same ingest again (same files, same settings) does no work.

            Examples:
              tracker ingest corpora/bundled.tar.xz
              tracker ingest ~/texts --name mytexts --vocab-size 16384 --include '*.txt'
            """)

    @OptionGroup var workspace: WorkspaceOptions

    @Argument(help: "Archives, text files or folders to read.", completion: .file())
    var paths: [String]

    @Option(help: "Corpus name (default: the first path's name without extensions).")
    var name: String?

    @Option(help: "Vocabulary size: 256 bytes + merges + <|endoftext|>.")
    var vocabSize = 8192

    @Option(help: "Share of documents (chosen by document hash) kept for validation.")
    var valFraction = 0.005

    @Option(
        name: .customLong("val-files"),
        help: ArgumentHelp(
            "Send every document of the entries matching this glob to the validation split: whole held-out "
                + "files, beside --val-fraction (repeatable; each must match a document).",
            valueName: "glob"))
    var valFiles: [String] = []

    @Option(
        name: .customLong("include"),
        help: ArgumentHelp("Only read entries matching this glob (repeatable).", valueName: "glob"))
    var include: [String] = []

    @Option(
        name: .customLong("exclude"),
        help: ArgumentHelp("Skip entries matching this glob (repeatable).", valueName: "glob"))
    var exclude: [String] = []

    @Flag(name: .customLong("repair-utf8"), help: "Repair invalid UTF-8 with U+FFFD instead of skipping the document.")
    var repairUTF8 = false

    @Option(
        name: .customLong("max-document-mib"),
        help: ArgumentHelp("Largest document kept, in MiB; larger entries are skipped.", valueName: "MiB"))
    var maxDocumentMiB = 64

    @Flag(help: "Keep going past a corrupt archive (it is reported as a warning).")
    var continueOnError = false

    @Option(help: "Tokens per shard file.")
    var shardTokens = 100_000_000

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Option(
        name: .customLong("memory-budget"),
        help: ArgumentHelp(
            "Memory for counting words, e.g. 512M or 2G (default: 1G, or half the available memory if less); "
                + "past it counts are spilled to the workspace and merged back exactly.",
            valueName: "size"))
    var memoryBudget: String?

    @Option(
        name: .customLong("min-frequency"),
        help: "Stop merging at the first pair seen fewer times than this (HF's min_frequency; 0: never).")
    var minFrequency = 0

    @Flag(help: "Re-ingest even if the same files and settings were ingested before.")
    var force = false

    @Flag(help: "Only read the sources and report what would be ingested.")
    var dryRun = false

    @Option(help: "Output: a text summary, or JSON on stdout.")
    var format: OutputFormat = .text

    func validate() throws {
        do {
            try IngestLimits.check("--vocab-size", vocabSize, in: IngestLimits.vocabSize)
            try IngestLimits.check("--max-document-mib", maxDocumentMiB, in: IngestLimits.maxDocumentMiB)
            try IngestLimits.check("--shard-tokens", shardTokens, in: IngestLimits.shardTokens)
            if let threads { try IngestLimits.check("--threads", threads, in: IngestLimits.threads) }
            try IngestLimits.check("--min-frequency", minFrequency, in: IngestLimits.minFrequency)
            if let bytes = try memoryBudgetBytes() { try IngestLimits.checkMemoryBudget(bytes, typed: memoryBudget) }
        } catch {
            throw ValidationError("\(error)")
        }
        if !(0..<1).contains(valFraction) { throw ValidationError("--val-fraction must be in [0, 1)") }
    }

    /// The parsed --memory-budget, nil when not given.
    func memoryBudgetBytes() throws -> Int? {
        guard let memoryBudget else { return nil }
        guard let bytes = ByteSize.parse(memoryBudget) else {
            throw ValidationError(
                "--memory-budget '\(memoryBudget)' is not a size: give a number with K, M, G or T, e.g. 512M or 2G")
        }
        return bytes
    }

    func run() throws {
        var options = IngestOptions()
        if let bytes = try memoryBudgetBytes() { options.memoryBudget = bytes }
        options.minFrequency = minFrequency
        options.name = name
        options.vocabSize = vocabSize
        options.valFraction = valFraction
        options.valFiles = valFiles
        options.corpus.include = include
        options.corpus.exclude = exclude
        options.corpus.repairInvalidUTF8 = repairUTF8
        options.corpus.maxDocumentBytes = maxDocumentMiB << 20
        options.corpus.continueOnError = continueOnError
        options.shardTokens = shardTokens
        options.threads = threads ?? min(Parallelism.defaultThreads, IngestLimits.threads.upperBound)
        options.force = force
        options.dryRun = dryRun

        let home = workspace.resolvedHome
        let summary = try withCLIErrors {
            // A dry run writes nothing, not even the workspace's database.
            let pipeline =
                dryRun ? IngestPipeline(dryRunIn: home) : IngestPipeline(home: home, db: try TrackerDB(home: home))
            pipeline.onWait = { writeStderr("note: \($0)\n") }
            return try pipeline.run(paths: paths, options: options)
        }
        switch format {
        case .json: print(try prettyJSON(summary))
        case .text: print(IngestReport.text(summary))
        }
    }
}

/// The human summary printed at the end of an ingest.
enum IngestReport {
    static func text(_ s: IngestSummary) -> String {
        var lines: [String] = []
        switch s.status {
        case "unchanged":
            lines.append(
                "corpus '\(s.corpus)' (id \(s.corpusId ?? 0)) was already ingested from these files with these settings: nothing to do"
            )
        case "dry-run":
            lines.append("dry run: would ingest corpus '\(s.corpus)' (nothing written)")
        default:
            lines.append("ingested corpus '\(s.corpus)' (id \(s.corpusId ?? 0))")
        }
        lines.append("  sources     \(s.sources) files, \(Format.bytes(s.sourceBytes))")
        lines.append(
            "  documents   \(s.documents) kept (train \(s.trainDocuments), val \(s.valDocuments)), \(Format.bytes(s.bytes))"
        )
        lines.append(
            "  dropped     \(s.duplicates) duplicates, \(s.skipped) skipped entries, \(s.invalid) invalid UTF-8 (\(s.repaired) repaired)"
        )
        if s.status != "dry-run" {
            lines.append(
                "  tokens      train \(s.trainTokens), val \(s.valTokens); \(String(format: "%.2f", s.bytesPerToken)) bytes/token, vocabulary \(s.vocabSize)"
            )
            if let t = s.tokenizerPath { lines.append("  tokenizer   \(t)") }
            for sh in s.shards {
                lines.append("  shard       \(sh.path) (\(sh.tokens) tokens, sha256 \(sh.sha256.prefix(12)))")
            }
        }
        let order = ["hash", "read+count", "train", "encode+write", "record"]
        let stages = order.compactMap { k in s.seconds[k].map { "\(k) \(Format.duration($0))" } }
        // The rate is over the input's bytes on disk; for compressed archives that reads as slow
        // (bundled.tar.xz: 3 MB/s), so the decoded text's rate comes first when they differ.
        let textRate = Double(s.bytes) / 1e6 / max(s.totalSeconds, 1e-9)
        let rate =
            abs(textRate - s.megabytesPerSecond) < 0.05 * max(s.megabytesPerSecond, 1e-9)
            ? String(format: "%.1f MB/s", s.megabytesPerSecond)
            : String(format: "%.1f MB/s of text, %.1f MB/s of input", textRate, s.megabytesPerSecond)
        lines.append(
            "  time        \(Format.duration(s.totalSeconds)) (\(stages.joined(separator: ", "))), \(rate)")
        let spilled = s.spilledBytes > 0 ? ", \(Format.bytes(s.spilledBytes)) of word counts spilled to disk" : ""
        let reads = s.sourceReads == 1 ? "; sources read once, the documents kept for encoding" : ""
        let budget =
            s.memoryBudgetBytes > 0 ? " (budget \(Format.bytes(s.memoryBudgetBytes))\(spilled)\(reads))" : ""
        lines.append("  memory      peak \(Format.bytes(s.peakMemoryBytes))\(budget)")
        for w in s.warnings.prefix(20) { lines.append("  warning     \(w)") }
        if s.warnings.count > 20 {
            lines.append("  warning     ... and \(s.warnings.count - 20) more (see --format json)")
        }
        return lines.joined(separator: "\n")
    }
}

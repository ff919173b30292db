// `tracker scan`: reads archives, files and folders exactly as ingest would (no tokenizer) and
// reports what it found: documents, bytes, skips by reason, warnings, time and throughput.
import ArgumentParser
import Basics
import Corpus
import Foundation
import Ingest

struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Read archives, files and folders like ingest would, and report what it would read.",
        discussion: """
            Reads tar (.gz .xz .bz2 .zst), zip, 7z, single compressed files, plain text, JSONL \
            (one document per line's "text" field) and folders (recursively). Nothing is written.
            """)

    @OptionGroup var workspace: WorkspaceOptions  // accepted like every command's; scan writes nothing

    @Argument(help: "Archives, files or folders to read.")
    var paths: [String]

    @Option(
        name: .customLong("include"),
        help: ArgumentHelp("Read only entries matching this glob (repeatable).", valueName: "glob"))
    var include: [String] = []

    @Option(
        name: .customLong("exclude"),
        help: ArgumentHelp("Skip entries matching this glob (repeatable).", valueName: "glob"))
    var exclude: [String] = []

    @Flag(name: .customLong("repair-utf8"), help: "Keep documents with invalid UTF-8, replacing bad bytes with U+FFFD.")
    var repairUTF8 = false

    @Flag(name: .customLong("continue-on-error"), help: "Report a damaged archive as a warning and go on.")
    var continueOnError = false

    @Flag(name: .customLong("single-thread"), help: "Decompress archives on the reading thread (no read-ahead thread).")
    var singleThread = false

    @Option(name: .customLong("max-document-mb"), help: "Skip documents larger than this many MiB.")
    var maxDocumentMB = 64

    @Option(help: "Output: text or json.")
    var format: OutputFormat = .text

    func validate() throws {
        do {
            try IngestLimits.check("--max-document-mb", maxDocumentMB, in: IngestLimits.maxDocumentMiB)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() throws {
        let options = CorpusOptions(
            include: include, exclude: exclude, maxDocumentBytes: maxDocumentMB << 20,
            repairInvalidUTF8: repairUTF8, continueOnError: continueOnError, readAheadThread: !singleThread)
        let result = try withCLIErrors { try scan(options) }
        switch format {
        case .json:
            print(try prettyJSON(result))
        case .text:
            printSummary(result)
            fflush(nil)
            let shown = result.stats.warnings.prefix(20)
            for warning in shown { writeStderr("warning: \(warning)\n") }
            if result.stats.warningCount > shown.count {
                writeStderr(
                    "... and \(result.stats.warningCount - shown.count) more warnings (--format json lists more)\n")
            }
        }
    }

    private func scan(_ options: CorpusOptions) throws -> ScanResult {
        let start = Date()
        let listing = try CorpusScanner.listSources(for: paths, skipping: workspace.resolvedHome)
        let sources = listing.files
        let totalSize = sources.reduce(Int64(0)) { $0 + $1.size }
        let bar = ProgressBar("scan", total: totalSize, unit: .bytes)
        var stats = CorpusStats()
        stats.warnings = listing.warnings
        stats.warningCount = listing.warnings.count
        var finished: Int64 = 0
        for source in sources {
            let base = finished
            stats.add(try CorpusScanner.read(source, options: options, progress: { bar.set(base + $0) }) { _ in })
            finished += source.size
            bar.set(finished)
        }
        bar.finish()
        let seconds = Date().timeIntervalSince(start)
        return ScanResult(sources: sources.count, sourceBytes: totalSize, seconds: seconds, stats: stats)
    }

    private func printSummary(_ r: ScanResult) {
        let s = r.stats
        print(
            "sources      \(r.sources) (\(Format.bytes(r.sourceBytes)) on disk, \(Format.bytes(s.uncompressedBytes)) unpacked)"
        )
        print("entries      \(s.entriesSeen)")
        print("documents    \(s.documents) (\(Format.bytes(s.documentBytes)) of UTF-8 text)")
        let skips: [(String, Int)] = [
            ("filtered", s.skippedFiltered), ("binary name", s.skippedBinaryName),
            ("binary content", s.skippedBinaryContent), ("oversized", s.skippedOversized),
            ("not a file", s.skippedNonRegular), ("empty", s.skippedEmpty), ("undecodable", s.skippedUnreadable),
            ("bad JSONL line", s.skippedJSONLLines), ("invalid UTF-8", s.invalidUTF8Skipped),
        ]
        let listed = skips.filter { $0.1 > 0 }.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
        print("skipped      \(s.skipped)\(listed.isEmpty ? "" : " (\(listed))")")
        if s.invalidUTF8Repaired > 0 { print("repaired     \(s.invalidUTF8Repaired) documents with invalid UTF-8") }
        if s.failedSources > 0 { print("failed       \(s.failedSources) sources (see warnings)") }
        print("warnings     \(s.warningCount)")
        print(
            String(
                format: "elapsed      %.3f s, %.1f MB/s of text, %.1f MB/s of source",
                r.seconds, r.textMBPerSecond, r.sourceMBPerSecond))
    }
}

/// What `scan --format json` prints.
struct ScanResult: Encodable {
    let sources: Int
    let sourceBytes: Int64
    let seconds: Double
    let stats: CorpusStats
    var textMBPerSecond: Double { Double(stats.documentBytes) / 1e6 / max(seconds, 1e-9) }
    var sourceMBPerSecond: Double { Double(sourceBytes) / 1e6 / max(seconds, 1e-9) }

    enum CodingKeys: String, CodingKey { case sources, sourceBytes, seconds, stats, textMBPerSecond, sourceMBPerSecond }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sources, forKey: .sources)
        try c.encode(sourceBytes, forKey: .sourceBytes)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(stats, forKey: .stats)
        try c.encode(textMBPerSecond, forKey: .textMBPerSecond)
        try c.encode(sourceMBPerSecond, forKey: .sourceMBPerSecond)
    }
}

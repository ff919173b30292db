// `tracker tokenizer train|encode`: trains a byte-level BPE tokenizer on text files and writes
// HF tokenizer.json; encodes files with one and reports the speed. Each file is one document.
// The reader is deliberately tiny (plain files and folders); archives go through `tracker ingest`.
import ArgumentParser
import BPE
import Basics
import Corpus
import Foundation
import Ingest

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train a byte-level BPE tokenizer, or measure encoding with one.",
        subcommands: [Train.self, Encode.self])

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train on text files (each file one document) and write tokenizer.json.")

        @OptionGroup var workspace: WorkspaceOptions  // accepted like every command's; unused here

        @Argument(help: "Text files or folders (walked recursively).")
        var paths: [String]

        @Option(help: "Vocabulary size: 256 bytes + merges + 1 special token (<|endoftext|>).")
        var vocabSize = 8192

        @Option(help: ArgumentHelp("Where to write tokenizer.json.", valueName: "file"))
        var output: String

        @Option(help: "HF's min_frequency: stop before the first merge of a pair seen fewer times (0: no limit).")
        var minFrequency = 0

        @Option(help: "Worker threads (default: $TRACKER_THREADS, else all cores).")
        var threads: Int?

        @Option(help: "Output: text or json.")
        var format: OutputFormat = .text

        func validate() throws {
            do {
                try IngestLimits.check("--vocab-size", vocabSize, in: IngestLimits.vocabSize)
                if let threads { try IngestLimits.check("--threads", threads, in: IngestLimits.threads) }
            } catch {
                throw ValidationError("\(error)")
            }
        }

        func run() throws {
            let trainer = try withCLIErrors { try BPETrainer(vocabSize: vocabSize, minFrequency: minFrequency) }
            let files = try withCLIErrors { try documentFiles(paths) }
            let workers = threads ?? min(Parallelism.defaultThreads, IngestLimits.threads.upperBound)
            let start = Date()
            let failures = FailureLog()
            let bytes = ByteTally()
            let counts = WordCounter.count(documentCount: files.count, threads: workers) { i, body in
                guard let data = FileManager.default.contents(atPath: files[i]) else {
                    failures.add(files[i])
                    return
                }
                bytes.add(data.count)
                data.withUnsafeBytes { body($0) }
            }
            if let failed = failures.first {
                throw CLIError(description: "\(failed): cannot read the file (check its permissions)")
            }
            let counted = Date()
            let countPeak = ProcessStats.peakRSSBytes()
            ProcessStats.resetPeak()  // so that the merges' own peak can be read afterwards
            let memoryBeforeMerges = ProcessStats.residentBytes()
            let bar = ProgressBar("merges", total: Int64(trainer.mergeTarget), unit: .items("merges"))
            let tokenizer = trainer.train(counts, threads: workers) { done, _ in bar.set(Int64(done)) }
            bar.finish()
            let trained = Date()
            let mergePeak = ProcessStats.peakRSSBytes()
            try withCLIErrors {
                try AtomicFile.save(Array(tokenizer.tokenizerJSON()), to: output)
            }
            let report = TrainReport(
                documents: files.count, bytes: bytes.total, uniqueWords: counts.uniqueWords,
                merges: tokenizer.merges.count, vocabSize: tokenizer.vocabSize, threads: workers,
                countSeconds: counted.timeIntervalSince(start),
                mergeSeconds: trained.timeIntervalSince(counted),
                seconds: trained.timeIntervalSince(start), memoryBeforeMergesBytes: memoryBeforeMerges,
                mergePeakMemoryBytes: mergePeak, peakMemoryBytes: max(countPeak, mergePeak), output: output)
            switch format {
            case .json: print(try prettyJSON(report))
            case .text:
                print("documents    \(report.documents) (\(Format.bytes(Int64(report.bytes))))")
                print("words        \(report.uniqueWords) distinct")
                print("vocabulary   \(report.vocabSize) (\(report.merges) merges)")
                print(
                    "time         count \(fmt(report.countSeconds)) s + merges "
                        + "\(fmt(report.mergeSeconds)) s = \(fmt(report.seconds)) s on \(workers) threads")
                print(
                    "memory       peak \(Format.bytes(report.peakMemoryBytes)); merges from "
                        + "\(Format.bytes(report.memoryBeforeMergesBytes)) to \(Format.bytes(report.mergePeakMemoryBytes))"
                )
                print("wrote        \(output)")
            }
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Encode text files with a tokenizer.json and report the speed.",
            discussion: """
                Files are read into memory first; only the encoding is timed. Each thread encodes \
                into one reused buffer, as ingest does; with --ids the time also includes copying \
                every document's ids out for writing.
                """)

        @OptionGroup var workspace: WorkspaceOptions  // accepted like every command's; unused here

        @Option(help: ArgumentHelp("The tokenizer.json to use.", valueName: "file"))
        var tokenizer: String

        @Argument(help: "Text files or folders (walked recursively).")
        var paths: [String]

        @Option(help: "Worker threads (default: $TRACKER_THREADS, else all cores).")
        var threads: Int?

        @Option(help: ArgumentHelp("Also write the ids, one JSON array per document and line.", valueName: "file"))
        var ids: String?

        @Option(help: "Output: text or json.")
        var format: OutputFormat = .text

        func validate() throws {
            do {
                if let threads { try IngestLimits.check("--threads", threads, in: IngestLimits.threads) }
            } catch {
                throw ValidationError("\(error)")
            }
        }

        func run() throws {
            let loaded = try withCLIErrors { try Tokenizer.load(path: tokenizer) }
            let files = try withCLIErrors { try documentFiles(paths) }
            var documents: [[UInt8]] = []
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw CLIError(description: "\(file): cannot read the file (check its permissions)")
                }
                documents.append([UInt8](data))
            }
            let workers = threads ?? min(Parallelism.defaultThreads, IngestLimits.threads.upperBound)
            // Timed as ingest runs the encoder: ids into one reused buffer per thread. Only with
            // --ids is every document's ids kept (an array each), for writing them out after.
            let start = Date()
            let counts = ResultSlots<Int>(count: documents.count)
            let kept = ids == nil ? nil : ResultSlots<[UInt32]>(count: documents.count)
            forEachEncodedDocument(loaded, count: documents.count, threads: workers) { i, body in
                documents[i].withUnsafeBytes { body($0) }
            } consume: { i, encoded in
                counts[i] = encoded.count
                kept?[i] = Array(encoded)
            }
            let seconds = Date().timeIntervalSince(start)
            if let ids, let kept {
                let lines = kept.values.map { "[" + ($0 ?? []).map(String.init).joined(separator: ",") + "]\n" }
                try withCLIErrors {
                    try AtomicFile.save(Array(lines.joined().utf8), to: ids)
                }
            }
            let bytes = documents.reduce(0) { $0 + $1.count }
            let report = EncodeReport(
                documents: documents.count, bytes: bytes, tokens: counts.values.reduce(0) { $0 + ($1 ?? 0) },
                threads: workers, seconds: seconds,
                megabytesPerSecond: Double(bytes) / 1e6 / max(seconds, 1e-9))
            switch format {
            case .json: print(try prettyJSON(report))
            case .text:
                print("documents    \(report.documents) (\(Format.bytes(Int64(bytes))))")
                print(
                    "tokens       \(report.tokens) (\(fmt(Double(bytes) / Double(max(report.tokens, 1)))) bytes per token)"
                )
                print("time         \(fmt(seconds)) s on \(workers) threads, \(fmt(report.megabytesPerSecond)) MB/s")
            }
        }
    }
}

private struct TrainReport: Encodable {
    let documents: Int, bytes: Int, uniqueWords: Int, merges: Int, vocabSize: Int, threads: Int
    let countSeconds: Double, mergeSeconds: Double, seconds: Double
    let memoryBeforeMergesBytes: Int64, mergePeakMemoryBytes: Int64, peakMemoryBytes: Int64, output: String
}

private struct EncodeReport: Encodable {
    let documents: Int, bytes: Int, tokens: Int, threads: Int, seconds: Double
    let megabytesPerSecond: Double
}

private func fmt(_ x: Double) -> String { String(format: "%.2f", x) }

/// The regular files under `paths` (a file stands for itself, a folder is walked), sorted:
/// the same listing `tracker ingest` uses, with its errors for missing or unreadable paths.
private func documentFiles(_ paths: [String]) throws -> [String] {
    try CorpusScanner.sources(for: paths).map(\.path)
}

/// Paths that could not be read, collected from worker threads.
private final class FailureLog: @unchecked Sendable {
    private let lock = NSLock()
    private var paths: [String] = []
    func add(_ path: String) { lock.withLock { paths.append(path) } }
    var first: String? { lock.withLock { paths.first } }
}

/// A byte total summed from worker threads.
private final class ByteTally: @unchecked Sendable {
    private let lock = NSLock()
    private var sum = 0
    func add(_ n: Int) { lock.withLock { sum += n } }
    var total: Int { lock.withLock { sum } }
}

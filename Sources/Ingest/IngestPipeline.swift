// `tracker ingest`: sources -> checksums -> documents -> BPE tokenizer -> token shards -> database.
//
// Two streaming passes over the sources keep memory bounded by the number of unique words, not
// the corpus size: pass 1 counts pre-token words (on every worker thread), pass 2 encodes and
// writes the shards. A corpus whose documents fit in an eighth of the memory budget is read once:
// pass 2 encodes the documents pass 1 kept (DocumentCache.swift). Everything is written under a
// staging folder and moved into place only when complete; the database rows are inserted last,
// in one transaction. Any failure removes the staging folder, so there are never partial rows or
// half-written shards. Ingests of one corpus (same sources and settings) take turns
// (IngestLock), and a rebuild (--force) publishes into places the recorded corpus does not use,
// so files a committed row names are never deleted before the row that replaces it is committed
// (Publishing.swift).
import BPE
import Basics
import Corpus
import Foundation
import Shards
import Store

public final class IngestPipeline {
    public let home: String
    /// The workspace's database; nil for a dry run (`init(dryRunIn:)`), which creates nothing.
    private let database: TrackerDB?
    public var db: TrackerDB { database! }
    /// Draw progress bars on stderr (only when it is a terminal).
    public var showProgress = ProgressBar.terminalAttached
    /// Told, once, when this ingest waits for another ingest of the same corpus to finish.
    public var onWait: ((String) -> Void)?
    /// Documents go to the worker threads in batches of about this many bytes (tests make it
    /// small, to run many batches through the ordering on a small corpus).
    var batchBytes = 1 << 20
    /// Bytes of documents pass 1 may keep for pass 2 (nil: an eighth of the memory budget; tests
    /// set 0 to read the sources twice, or a few batches' worth to drop them midway).
    var documentCacheBytes: Int?
    /// Peak resident memory of each stage that has ended (the high-water mark, reset between
    /// stages where the kernel allows it).
    private(set) var stagePeaks: [String: Int64] = [:]
    /// CPU seconds of the process (every thread) during each phase that ended.
    private(set) var cpuSeconds: [String: Double] = [:]
    /// What listing the sources left out (the workspace, names that are not UTF-8): the summary's
    /// first warnings.
    private(set) var sourceWarnings: [String] = []

    public init(home: String, db: TrackerDB) {
        self.home = home
        self.database = db
    }

    /// A pipeline for `--dry-run` only: it reads the sources and opens (or creates) nothing in `home`.
    public init(dryRunIn home: String) {
        self.home = home
        self.database = nil
    }

    public func run(paths: [String], options: IngestOptions) throws -> IngestSummary {
        let start = DispatchTime.now()
        try options.validate()
        let name = options.name ?? Self.defaultName(for: paths)
        guard Self.isValidName(name) else { throw IngestError.badName(name) }
        // The workspace is never read as a source (`tracker ingest .` with the default ./.tracker
        // read its tokenizers as documents, a few more at every run).
        let listing = try CorpusScanner.listSources(for: paths, skipping: home)
        let sources = listing.files
        sourceWarnings = listing.warnings
        guard !sources.isEmpty else { throw IngestError.noSources(paths: paths) }
        var seconds: [String: Double] = [:]
        cpuSeconds = [:]
        var stream = DocumentStream(sources: sources, options: options.corpus, valFraction: options.valFraction)
        stream.valFiles = options.valFiles.map(Glob.init)
        precondition(options.dryRun || database != nil, "an ingest needs the database: init(home:db:)")
        if options.dryRun {
            let (pass1, _) = try readAndCount(&stream, paths: paths, options: options, spill: nil, seconds: &seconds)
            return summary(
                status: "dry-run", name: name, pass: pass1, sources: sources, uniqueWords: 0, options: options,
                seconds: seconds, start: start)
        }

        // 1. Checksums of the sources, which with the settings identify the corpus: hashed while
        // pass 1 reads. 2. Once they are known (between two batches of pass 1, or after it), one
        // ingest of this corpus at a time: a second one finds it recorded when the first is done.
        let checksums = SourceChecksums(sources, threads: options.threads)
        var identity: CorpusIdentity?
        defer { identity?.lock.release() }
        let identify: (_ wait: Bool) throws -> Void = { wait in
            guard identity == nil, wait || checksums.isDone else { return }
            identity = try self.identify(checksums, options: options)
            if identity!.existing != nil && !options.force { throw CorpusUnchanged() }
        }

        // 3. Pass 1 counts words, the tokenizer is trained, pass 2 writes the shards into a staging folder.
        let counted: (pass: PassCounts, tokenizer: Tokenizer, uniqueWords: Int, spilledBytes: Int64)
        let cache = DocumentCache(limit: documentCacheBytes ?? options.memoryBudget / 8)
        do {
            counted = try countAndTrain(
                &stream, paths: paths, options: options, cache: cache, identify: identify, seconds: &seconds)
        } catch is CorpusUnchanged {
            seconds["hash"] = checksums.seconds
            try verifyFiles(identity!.existing!)
            return unchangedSummary(identity!.existing!, seconds: seconds, start: start)
        } catch {
            _ = try? checksums.wait()
            throw error
        }
        let (pass1, tokenizer, existing) = (counted.pass, counted.tokenizer, identity!.existing)
        seconds["hash"] = checksums.seconds
        var clock = PhaseClock()
        let staging = try StagingFolder(home: home, id: "\(name)-\(identity!.fingerprint.prefix(12))")
        defer { staging.remove() }
        let keptDocuments = !cache.isDropped
        let (pass2, writer) = try writeShards(
            stream, replaying: keptDocuments ? (cache, pass1) : nil, tokenizer: tokenizer, into: staging,
            options: options)
        endPhase("encode+write", clock, &seconds)
        endStage("encode+write")
        // (Only a second read can differ: the kept documents are pass 1's own.)
        guard pass2.documents == pass1.documents else { throw IngestError.sourcesChanged(paths: paths) }

        // 4. Move the files into fresh places, record them, and only then drop the files of the corpus replaced.
        clock = PhaseClock()
        let target = staging.target(replacing: existing)
        var record = makeRecord(
            name: name, fingerprint: identity!.fingerprint, options: options, pass: pass2, sources: sources,
            checksums: identity!.checksums, tokenizerPath: target.tokenizer, tokenizerSHA256: writer.tokenizerSHA256,
            vocabSize: tokenizer.vocabSize, shards: try writer.written(relativeTo: target.shards), seconds: seconds)
        try staging.publish(to: target)
        do {
            record = try db.record(record, replacingFingerprint: existing != nil)
        } catch {
            target.remove(home: home)
            throw error
        }
        if let existing { PublishedPaths(existing).remove(home: home) }
        endPhase("record", clock, &seconds)

        var summary = ingestedSummary(
            record, tokenizer: tokenizer, pass: pass2, sources: sources, uniqueWords: counted.uniqueWords,
            options: options, seconds: seconds, start: start)
        summary.spilledBytes = counted.spilledBytes
        summary.sourceReads = keptDocuments ? 1 : 2
        return summary
    }

    /// Waits for the checksums, takes the corpus' lock and looks the corpus up.
    private func identify(_ checksums: SourceChecksums, options: IngestOptions) throws -> CorpusIdentity {
        let sums = try checksums.wait()
        let fingerprint = Self.fingerprint(checksums: sums, settings: options.fingerprintSettings)
        let lock = try IngestLock.take(home: home, fingerprint: fingerprint, onWait: onWait)
        do {
            let existing = try db.corpus(fingerprint: fingerprint)
            return CorpusIdentity(checksums: sums, fingerprint: fingerprint, lock: lock, existing: existing)
        } catch {
            lock.release()
            throw error
        }
    }

    // MARK: - Stages

    /// Pass 1 and the training: the word counts spill into a folder of the workspace past the
    /// memory budget, and live only until the tokenizer is trained.
    private func countAndTrain(
        _ stream: inout DocumentStream, paths: [String], options: IngestOptions, cache: DocumentCache,
        identify: (Bool) throws -> Void, seconds: inout [String: Double]
    ) throws -> (pass: PassCounts, tokenizer: Tokenizer, uniqueWords: Int, spilledBytes: Int64) {
        let workers = max(1, options.threads)
        SpillArea.removeStale(in: home)
        StagingFolder.removeStale(in: home)
        let spill = try SpillArea(
            in: home, tableBudget: max(1 << 20, options.memoryBudget / 4 * 3 / workers), quota: options.spillQuota)
        defer { spill.remove() }
        let (pass1, counter) = try readAndCount(
            &stream, paths: paths, options: options, spill: spill, cache: cache, identify: identify,
            seconds: &seconds)
        try identify(true)
        let clock = PhaseClock()
        let uniqueWords = counter!.uniqueWords
        try checkTrainerBudget(counter!, options: options, cache: cache)
        let tokenizer = try trainTokenizer(counter!, options: options)
        try counter!.throwIfFailed()
        endPhase("train", clock, &seconds)
        endStage("train")
        return (pass1, tokenizer, uniqueWords, spill.writtenBytes)
    }

    /// Pass 1: read, deduplicate, split, and (unless a dry run) count pre-token words on every
    /// thread; `identify(false)` is called between batches (it may end the pass by throwing).
    private func readAndCount(
        _ stream: inout DocumentStream, paths: [String], options: IngestOptions, spill: SpillArea?,
        cache: DocumentCache? = nil, identify: (Bool) throws -> Void = { _ in }, seconds: inout [String: Double]
    ) throws -> (PassCounts, WordCounter?) {
        let clock = PhaseClock()
        let totalBytes = stream.sources.reduce(Int64(0)) { $0 + $1.size }
        let (pass1, counter) = try countWords(
            stream, threads: options.threads, totalBytes: totalBytes, spill: options.dryRun ? nil : spill,
            cache: cache, identify: identify, seconds: &seconds)
        endPhase("read+count", clock, &seconds)
        guard pass1.documents > 0 else {
            throw IngestError.nothingUsable(paths: paths, detail: pass1.stats.skipSummary(duplicates: pass1.duplicates))
        }
        if let unmatched = zip(options.valFiles, pass1.valFileDocuments).first(where: { $0.1 == 0 })?.0 {
            throw IngestError.valFilesUnmatched(glob: unmatched)
        }
        if !options.valFiles.isEmpty && pass1.trainDocuments == 0 {
            throw IngestError.noTrainingDocuments(valFiles: options.valFiles)
        }
        if pass1.trainDocuments == 0 {
            throw IngestError.allValidation(valFraction: options.valFraction, documents: pass1.documents)
        }
        if options.valFraction > 0 && pass1.valDocuments == 0 && pass1.documents >= 2 {
            stream.forcedValidation = pass1.smallestKey
        }
        return (pass1, counter)
    }

    /// Throws when the trainer would not fit in `--memory-budget` with the words counted (it runs
    /// after the counting tables are freed, so it has the whole budget); the kept documents go
    /// when the trainer needs their memory.
    private func checkTrainerBudget(_ counter: WordCounter, options: IngestOptions, cache: DocumentCache) throws {
        let trainer = try BPETrainer(vocabSize: options.vocabSize, minFrequency: options.minFrequency)
        let needed = trainer.estimatedMemoryBytes(uniqueWords: counter.uniqueWords, wordBytes: counter.wordBytes)
        if needed + cache.bytes > options.memoryBudget { cache.drop() }
        if needed > options.memoryBudget {
            throw IngestError.trainerOverBudget(
                words: counter.uniqueWords, neededMiB: (needed + (1 << 20) - 1) >> 20,
                budgetMiB: options.memoryBudget >> 20)
        }
    }

    /// Trains the tokenizer on every kept document.
    private func trainTokenizer(_ counter: WordCounter, options: IngestOptions) throws -> Tokenizer {
        let vocabSize = options.vocabSize
        let trainer = try BPETrainer(vocabSize: vocabSize, minFrequency: options.minFrequency)
        let bar = showProgress ? ProgressBar("train", total: Int64(vocabSize - 257), unit: .items("merges")) : nil
        defer { bar?.finish() }
        return trainer.train(counter, releasingCounts: true, progress: { done, _ in bar?.set(Int64(done)) })
    }

    /// Pass 2: writes tokenizer.json and encodes every document into the staging folder's shards,
    /// from the documents pass 1 kept (`replaying`) or read again.
    private func writeShards(
        _ stream: DocumentStream, replaying: (DocumentCache, PassCounts)?, tokenizer: Tokenizer,
        into staging: StagingFolder, options: IngestOptions
    ) throws -> (PassCounts, SplitWriters) {
        let tokenizerJSON = tokenizer.tokenizerJSON()
        try writeFile(tokenizerJSON, to: staging.tokenizerFile)
        let writer = SplitWriters(
            folder: staging.shardsFolder, tokenizer: tokenizer, tokenizerSHA256: SHA256.hex(Array(tokenizerJSON)),
            shardTokens: options.shardTokens)
        do {
            let totalBytes = stream.sources.reduce(Int64(0)) { $0 + $1.size }
            let pass2 = try encode(
                stream, replaying: replaying, tokenizer: tokenizer, writer: writer, options: options,
                totalBytes: totalBytes)
            try writer.finish()
            return (pass2, writer)
        } catch {
            writer.discard()
            throw error
        }
    }

    /// Reads every document and, given a spill area, counts its words on `threads` threads, one
    /// counter each, combined at the end (spilled and merged from disk past the area's budget).
    private func countWords(
        _ stream: DocumentStream, threads: Int, totalBytes: Int64, spill: SpillArea?, cache: DocumentCache?,
        identify: (Bool) throws -> Void, seconds: inout [String: Double]
    ) throws -> (PassCounts, WordCounter?) {
        let bar =
            showProgress ? ProgressBar(spill == nil ? "read" : "read+count", total: totalBytes, unit: .bytes) : nil
        defer { bar?.finish() }
        guard let spill else {
            return (try stream.run(progress: bar) { _, _ in }, nil)
        }
        let workers = max(1, threads)
        let counters = (0..<workers).map { _ in WordCounter(spillingTo: spill) }
        let queue = BoundedQueue<DocumentBatch>(capacity: 2 * workers)
        let shared = UncheckedSendable(counters)
        let join = startThreads(workers, name: "count") { w in
            while let batch = queue.pop() {
                for i in 0..<batch.count { batch.withDocument(i) { shared.value[w].add(document: $0) } }
            }
        }
        var batch = DocumentBatch()
        // The document keys and the kept documents count against the budget: the tables give up their share.
        var keyBytes = 0
        let reserve = { spill.reserve(perTable: (keyBytes + (cache?.bytes ?? 0)) / workers) }
        let push = { (batch: DocumentBatch) in
            cache?.keep(batch)
            reserve()
            queue.push(batch)
        }
        let result = Result {
            try stream.run(
                progress: bar,
                keyBytes: {
                    keyBytes = $0
                    reserve()
                }
            ) { doc, isVal in
                batch.append(doc, isValidation: isVal)
                if batch.bytes.count >= batchBytes {
                    // A counter that failed to spill (full disk) ends the pass; `combine` says why.
                    if spill.hasFailed { throw CountAbandoned() }
                    try identify(false)
                    push(batch)
                    batch = DocumentBatch()
                }
            }
        }
        if case .failure = result { cache?.drop() }
        push(batch)
        queue.close()
        join()
        if case .failure(let error) = result, !(error is CountAbandoned) { throw error }
        endStage("count")
        let clock = PhaseClock()
        let counter = try WordCounter.combine(counters, threads: workers)
        endPhase("combine counts", clock, &seconds)
        endStage("combine counts")
        return (try result.get(), counter)
    }

    /// Pass 2: this thread reads the documents (or hands over the ones pass 1 kept) while the
    /// encoder's threads encode and write them.
    private func encode(
        _ stream: DocumentStream, replaying: (DocumentCache, PassCounts)?, tokenizer: Tokenizer,
        writer: SplitWriters, options: IngestOptions, totalBytes: Int64
    ) throws -> PassCounts {
        let bar = showProgress ? ProgressBar("encode", total: totalBytes, unit: .bytes) : nil
        defer { bar?.finish() }
        let encoder = BatchEncoder(
            tokenizer: tokenizer, threads: options.threads, memoryBudget: options.memoryBudget, writer: writer)
        if let (cache, pass1) = replaying {
            do {
                let counts = try replay(
                    cache, pass1, forcedValidation: stream.forcedValidation, to: encoder, progress: bar,
                    totalBytes: totalBytes)
                try encoder.finish()
                return counts
            } catch {
                encoder.cancel()
                throw error
            }
        }
        var batch = encoder.makeBatch()
        do {
            let counts = try stream.run(progress: bar) { doc, isVal in
                batch.append(doc, isValidation: isVal)
                if batch.bytes.count >= batchBytes {
                    try encoder.submit(batch)
                    batch = encoder.makeBatch()
                }
            }
            try encoder.submit(batch)
            try encoder.finish()
            return counts
        } catch {
            encoder.cancel()
            throw error
        }
    }

    /// Submits the documents pass 1 kept, in its order, with the split pass 2's reading would give
    /// them: pass 1's, but for the document moved to validation after it (`forcedValidation`).
    private func replay(
        _ cache: DocumentCache, _ pass1: PassCounts, forcedValidation: DocumentKey?, to encoder: BatchEncoder,
        progress bar: ProgressBar?, totalBytes: Int64
    ) throws -> PassCounts {
        var counts = pass1
        let total = max(1, cache.documentBytes)
        var done: Int64 = 0
        var batches = Array(cache.take().reversed())
        while let batch = batches.popLast() {
            if let forced = forcedValidation {
                for i in 0..<batch.count
                where !batch.isValidation[i] && batch.withDocument(i, DocumentKey.init) == forced {
                    batch.isValidation[i] = true
                    counts.valDocuments += 1
                    counts.trainDocuments -= 1
                }
            }
            done += Int64(batch.bytes.count)
            try encoder.submit(batch)
            // in Double: the product of two sizes may pass Int64
            bar?.set(Int64(Double(totalBytes) * Double(done) / Double(total)))
        }
        return counts
    }

    /// Notes the wall and CPU seconds of the phase that started at `clock`.
    func endPhase(_ name: String, _ clock: PhaseClock, _ seconds: inout [String: Double]) {
        seconds[name] = secondsSince(clock.wall)
        cpuSeconds[name] = ProcessStats.cpuSeconds() - clock.cpu
    }

    /// Ends a stage of the ingest: notes its peak memory and starts a new peak.
    func endStage(_ name: String) {
        stagePeaks[name] = ProcessStats.peakRSSBytes()
        ProcessStats.resetPeak()
    }

    /// The peak memory of the whole ingest so far: the highest stage peak, or the current one.
    var peakMemoryBytes: Int64 { max(stagePeaks.values.max() ?? 0, ProcessStats.peakRSSBytes()) }

    private func verifyFiles(_ c: IngestedCorpus) throws {
        let fm = FileManager.default
        for rel in [c.tokenizer.path] + c.shards.map(\.path) {
            let attrs = try? fm.attributesOfItem(atPath: "\(home)/\(rel)")
            if attrs == nil { throw IngestError.filesMissing(corpus: c.corpus.name, path: "\(home)/\(rel)") }
        }
        for s in c.shards {
            let size = (try? fm.attributesOfItem(atPath: "\(home)/\(s.path)")[.size] as? Int64) ?? -1
            if size != s.size { throw IngestError.filesMissing(corpus: c.corpus.name, path: "\(home)/\(s.path)") }
        }
    }

    // MARK: - Names and fingerprints

    /// The first path's file name without archive extensions: `corpora/bundled.tar.xz` -> `bundled`.
    public static func defaultName(for paths: [String]) -> String {
        var base = URL(fileURLWithPath: paths.first ?? "corpus").standardized.lastPathComponent
        let exts = [".gz", ".xz", ".bz2", ".zst", ".tgz", ".tar", ".zip", ".7z", ".jsonl", ".ndjson", ".txt"]
        var changed = true
        while changed {
            changed = false
            for e in exts where base.hasSuffix(e) && base.count > e.count {
                base.removeLast(e.count)
                changed = true
            }
        }
        let cleaned = String(base.map { $0.isLetter || $0.isNumber || "._-".contains($0) ? $0 : "-" }.prefix(64))
        return cleaned.isEmpty || cleaned.hasPrefix(".") ? "corpus" : cleaned
    }

    static func isValidName(_ n: String) -> Bool {
        !n.isEmpty && n.count <= 64 && !n.hasPrefix(".")
            && n.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0))
            }
    }

    static func fingerprint(checksums: [(sha256: String, size: Int64)], settings: [String: String]) -> String {
        var text = checksums.map { "\($0.sha256) \($0.size)" }.joined(separator: "\n")
        text += "\n--\n" + settings.keys.sorted().map { "\($0)=\(settings[$0]!)" }.joined(separator: "\n")
        return SHA256.hex(Array(text.utf8))
    }
}

/// Thrown inside pass 1 to stop reading once a counter failed; the counter's own error is reported.
private struct CountAbandoned: Error {}

/// Thrown inside pass 1 to stop reading when the checksums show the corpus recorded already.
private struct CorpusUnchanged: Error {}

/// The start of a phase, in wall-clock and process CPU time.
struct PhaseClock {
    let wall = DispatchTime.now()
    let cpu = ProcessStats.cpuSeconds()
}

/// What the sources' checksums tell: the corpus' fingerprint, the lock of its ingest (held until
/// it is recorded), and the corpus recorded with that fingerprint, if any.
struct CorpusIdentity {
    let checksums: SourceChecksums.Sums
    let fingerprint: String
    let lock: FileLock
    let existing: IngestedCorpus?
}

/// Wraps a non-Sendable value whose users guarantee disjoint access from threads.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

func writeFile(_ data: Data, to path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: data) else {
        throw BasicsError.io(path: path, errno: errno == 0 ? EIO : errno, action: "write")
    }
}

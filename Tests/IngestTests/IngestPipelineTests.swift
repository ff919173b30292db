// End to end through the library: folders and archives -> tokenizer + shards + rows, and every
// failure leaving nothing behind.
import BPE
import Basics
import Foundation
import Shards
import Store
import Testing

@testable import Ingest

private func tempDir(_ tag: String) -> String {
    let d = NSTemporaryDirectory() + "ingest-\(tag)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// A small folder corpus: `count` distinct English-like documents plus one exact duplicate.
private func makeCorpus(count: Int = 60) throws -> (dir: String, docs: [String]) {
    let dir = tempDir("src")
    let words = [
        "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and", "cat", "runs", "far", "away",
        "while", "it's", "raining", "in", "Paris", "42", "times", "café", "naïve", "über",
    ]
    var rng = SplitMix64(seed: 7)
    var docs: [String] = []
    for i in 0..<count {
        let n = 20 + Int(rng.next() % 60)
        let text = (0..<n).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " ")
        let doc = "Document \(i).\n\(text).\n"
        docs.append(doc)
        try doc.write(toFile: "\(dir)/doc\(String(format: "%03d", i)).txt", atomically: true, encoding: .utf8)
    }
    try docs[3].write(toFile: "\(dir)/zz-duplicate.txt", atomically: true, encoding: .utf8)
    return (dir, docs)
}

private func options(vocab: Int = 300, threads: Int = 2) -> IngestOptions {
    var o = IngestOptions()
    o.vocabSize = vocab
    o.valFraction = 0.1
    o.threads = threads
    return o
}

/// `dir`'s files packed into a new corpus.tar.gz by /bin/tar; returns its path.
private func tarGz(_ dir: String) throws -> String {
    let archive = tempDir("arc") + "/corpus.tar.gz"
    let tar = Process()
    tar.executableURL = URL(fileURLWithPath: "/bin/tar")
    tar.arguments = ["czf", archive, "-C", dir, "."]
    try tar.run()
    tar.waitUntilExit()
    return archive
}

/// The documents of a shard, decoded back to text (each is preceded by <|endoftext|>).
private func documents(in path: String, tokenizer: Tokenizer) throws -> [String] {
    let r = try ShardReader(path: path, expectVocabSize: tokenizer.vocabSize)
    var docs: [String] = []
    var current: [UInt32] = []
    for i in 0..<r.tokenCount {
        let t = r[i]
        if t == tokenizer.eotId {
            if i > 0 { docs.append(String(decoding: tokenizer.decode(current), as: UTF8.self)) }
            current = []
        } else {
            current.append(t)
        }
    }
    #expect(r[0] == tokenizer.eotId)
    docs.append(String(decoding: tokenizer.decode(current), as: UTF8.self))
    return docs
}

struct IngestPipelineTests {
    @Test func ingestsAFolderEndToEnd() throws {
        let (dir, docs) = try makeCorpus()
        let home = tempDir("home")
        let db = try TrackerDB(home: home)
        let s = try IngestPipeline(home: home, db: db).run(paths: [dir], options: options())
        #expect(s.status == "ingested")
        #expect(s.documents == Int64(docs.count))
        #expect(s.duplicates == 1)
        #expect(s.trainDocuments + s.valDocuments == s.documents)
        #expect(s.valDocuments > 0 && s.trainDocuments > 0)
        #expect(s.bytesPerToken > 1)

        // Shards decode back to exactly the documents, each once, split by hash.
        let tokenizer = try Tokenizer.load(tokenizerJSON: Data(contentsOf: URL(fileURLWithPath: s.tokenizerPath!)))
        var decoded: [String] = []
        for shard in s.shards {
            let d = try documents(in: shard.path, tokenizer: tokenizer)
            #expect(Int64(d.count) == shard.documents)
            decoded += d
            #expect(try FileHashing.sha256(path: shard.path).hex == shard.sha256)
        }
        #expect(decoded.sorted() == docs.sorted())

        // The database names exactly what was written.
        let c = try #require(try db.corpus(named: s.corpus))
        #expect(c.corpus.documents == s.documents && c.corpus.duplicates == 1)
        #expect(c.sources.count == docs.count + 1)
        #expect(c.shards.map(\.split) == ["train", "val"])
        #expect(c.tokenizer.sha256 == s.tokenizerSHA256)
        #expect(try FileHashing.sha256(path: s.tokenizerPath!).hex == c.tokenizer.sha256)
    }

    @Test func sameIngestTwiceDoesNoWork() throws {
        let (dir, _) = try makeCorpus(count: 20)
        let home = tempDir("home")
        let pipeline = IngestPipeline(home: home, db: try TrackerDB(home: home))
        let first = try pipeline.run(paths: [dir], options: options())
        let second = try pipeline.run(paths: [dir], options: options())
        #expect(second.status == "unchanged")
        #expect(second.corpusId == first.corpusId)
        #expect(second.shards.map(\.sha256) == first.shards.map(\.sha256))
        var forced = options()
        forced.force = true
        let third = try pipeline.run(paths: [dir], options: forced)
        #expect(third.status == "ingested")
        #expect(third.shards.map(\.sha256) == first.shards.map(\.sha256))
        #expect(try pipeline.db.corpora().count == 1)
        // Another vocabulary is another corpus.
        let other = try pipeline.run(paths: [dir], options: options(vocab: 280))
        #expect(other.status == "ingested" && other.corpusId != first.corpusId)
    }

    /// Byte-identical shards and identical records for any number of threads, with batches so
    /// small that every pass runs many of them through the workers and their reordering.
    @Test(arguments: [1 << 20, 300])
    func outputDoesNotDependOnThreads(batchBytes: Int) throws {
        let (dir, _) = try makeCorpus()
        var hashes: [[String]] = []
        var records: [IngestedCorpus?] = []
        for threads in [1, 2, 3] {
            let home = tempDir("home")
            let db = try TrackerDB(home: home)
            let pipeline = IngestPipeline(home: home, db: db)
            pipeline.batchBytes = batchBytes
            let s = try pipeline.run(paths: [dir], options: options(threads: threads))
            hashes.append([s.tokenizerSHA256!] + s.shards.map(\.sha256))
            records.append(try recordedCorpus(db))
        }
        #expect(hashes[0] == hashes[1] && hashes[1] == hashes[2])
        #expect(records[0] != nil && records[0] == records[1] && records[1] == records[2])
    }

    /// Pass 2 from the documents pass 1 kept in memory writes exactly what reading the sources
    /// again writes: with room for every document, none, or a few batches (dropped midway); with
    /// many small batches; and when a document moves to validation after pass 1 (a fraction so
    /// small that no document's hash picks it); from a folder and from a .tar.gz.
    @Test(arguments: [
        (1 << 20, 0.1, false), (300, 0.1, false), (300, 1e-9, false), (1 << 20, 1e-9, false), (300, 0.1, true),
    ])
    func keptDocumentsEncodeLikeASecondRead(batchBytes: Int, valFraction: Double, archive: Bool) throws {
        let (folder, _) = try makeCorpus()
        let source = archive ? try tarGz(folder) : folder
        var outputs: [[String]] = []
        var records: [IngestedCorpus?] = []
        var reads: [Int?] = []
        for cacheBytes in [nil, 0, 3000] as [Int?] {
            let home = tempDir("home")
            let db = try TrackerDB(home: home)
            let pipeline = IngestPipeline(home: home, db: db)
            pipeline.batchBytes = batchBytes
            pipeline.documentCacheBytes = cacheBytes
            var o = options()
            o.valFraction = valFraction
            let s = try pipeline.run(paths: [source], options: o)
            #expect(s.valTokens > 0 && s.trainTokens > 0)
            outputs.append(
                [s.tokenizerSHA256!] + s.shards.map(\.sha256) + ["\(s.documents) \(s.trainTokens) \(s.valTokens)"])
            records.append(try recordedCorpus(db))
            reads.append(s.sourceReads)
        }
        #expect(reads == [1, 2, 2])
        #expect(outputs[0] == outputs[1] && outputs[1] == outputs[2])
        #expect(records[0] != nil && records[0] == records[1] && records[1] == records[2])
    }

    /// Small shards: many are finished and checksummed on the finisher's thread while the
    /// encoders go on; the records keep their order and checksums, and say each phase's CPU.
    @Test func manySmallShardsAreRecordedInOrderWithTheirChecksums() throws {
        let (dir, docs) = try makeCorpus(count: 300)
        let home = tempDir("home")
        let db = try TrackerDB(home: home)
        var o = options()
        o.shardTokens = 1024
        let s = try IngestPipeline(home: home, db: db).run(paths: [dir], options: o)
        let train = s.shards.filter { $0.split == "train" }
        #expect(train.count >= 8)
        for split in ["train", "val"] {
            let names = s.shards.filter { $0.split == split }.map { URL(fileURLWithPath: $0.path).lastPathComponent }
            #expect(names == names.indices.map { String(format: "%@_%06d.bin", split, $0) })
        }
        let tokenizer = try Tokenizer.load(tokenizerJSON: Data(contentsOf: URL(fileURLWithPath: s.tokenizerPath!)))
        var decoded: [String] = []
        for shard in s.shards {
            #expect(try FileHashing.sha256(path: shard.path).hex == shard.sha256)
            decoded += try documents(in: shard.path, tokenizer: tokenizer)
        }
        #expect(decoded.sorted() == docs.sorted())
        let c = try #require(try db.corpus(named: s.corpus))
        let recorded = Dictionary(uniqueKeysWithValues: c.shards.map { ("\(home)/\($0.path)", $0) })
        #expect(recorded.count == s.shards.count)
        for shard in s.shards {
            let size = try FileManager.default.attributesOfItem(atPath: shard.path)[.size] as? Int64
            #expect(recorded[shard.path]?.sha256 == shard.sha256 && recorded[shard.path]?.size == size)
        }
        let phases = Set((s.cpuSeconds ?? [:]).filter { $0.value >= 0 }.keys)
        #expect(phases.isSuperset(of: ["read+count", "train", "encode+write", "record"]))
        #expect(s.seconds["hash"] != nil)
    }

    /// The encoders' caches share half the budget, within 64K-8M pieces each, a power of two.
    @Test func encoderCachesFitHalfTheBudget() {
        #expect(BatchEncoder.cachedWords(memoryBudget: 1 << 30, threads: 2) == 1 << 23)
        #expect(BatchEncoder.cachedWords(memoryBudget: 1 << 30, threads: 3) == 1 << 22)
        #expect(BatchEncoder.cachedWords(memoryBudget: 64 << 20, threads: 2) == 1 << 19)
        #expect(BatchEncoder.cachedWords(memoryBudget: 4 << 20, threads: 8) == 1 << 16)
        #expect(BatchEncoder.cachedWords(memoryBudget: 1 << 40, threads: 1) == 1 << 23)
        for threads in 1...16 {
            let slots = BatchEncoder.cachedWords(memoryBudget: 1 << 30, threads: threads)
            #expect(slots * 32 * threads <= 1 << 29 && slots & (slots - 1) == 0)
        }
    }

    /// A shard the finisher cannot finish (its folder is gone) is an error at the next shard or
    /// at the end, and the shards after it are not finished.
    @Test func aShardThatCannotBeFinishedIsAnError() throws {
        let folder = tempDir("gone")
        let first = try ShardWriter(path: folder + "/a.bin", vocabSize: 300, eotId: 256, tokenizerSHA256: [])
        let later = try ShardWriter(path: folder + "/b.bin", vocabSize: 300, eotId: 256, tokenizerSHA256: [])
        try [UInt32(256), 1, 2].withUnsafeBufferPointer { try first.append(document: $0) }
        try FileManager.default.removeItem(atPath: folder)
        let finisher = ShardFinisher()
        finisher.submit(first)
        finisher.submit(later)
        #expect(throws: ShardError.self) { try finisher.finish() }
        #expect(finisher.checksums.isEmpty)
        #expect(throws: ShardError.self) { try finisher.throwIfFailed() }
    }

    @Test func dryRunWritesNothing() throws {
        let (dir, docs) = try makeCorpus(count: 10)
        let home = tempDir("home")
        var o = options()
        o.dryRun = true
        let db = try TrackerDB(home: home)
        let s = try IngestPipeline(home: home, db: db).run(paths: [dir], options: o)
        #expect(s.status == "dry-run" && s.documents == Int64(docs.count))
        #expect(try db.corpora().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: home + "/shards"))
    }

    /// A workspace inside the input folder is not ingested: the same corpus at every run (its
    /// tokenizers made it 10 -> 13 -> 16 sources), with a warning saying it was left out.
    @Test func aWorkspaceInsideTheInputFolderIsNotIngested() throws {
        let (dir, docs) = try makeCorpus(count: 10)
        let home = dir + "/.tracker"
        let db = try TrackerDB(home: home)
        let first = try IngestPipeline(home: home, db: db).run(paths: [dir], options: options())
        #expect(first.status == "ingested" && first.sources == docs.count + 1)
        #expect(first.warnings.contains("\(home): the workspace (--home), not read as part of the corpus"))
        let second = try IngestPipeline(home: home, db: db).run(paths: [dir], options: options())
        #expect(second.status == "unchanged" && second.sources == docs.count + 1)
        #expect(try db.corpora().count == 1)
    }

    /// A dry-run pipeline needs no database: it creates nothing, not even the workspace folder.
    @Test func aDryRunPipelineCreatesNoWorkspace() throws {
        let (dir, docs) = try makeCorpus(count: 10)
        let home = tempDir("home") + "/workspace"
        var o = options()
        o.dryRun = true
        let s = try IngestPipeline(dryRunIn: home).run(paths: [dir], options: o)
        #expect(s.status == "dry-run" && s.documents == Int64(docs.count))
        #expect(!FileManager.default.fileExists(atPath: home))
    }

    /// A --val-fraction that sends every document to validation is an error, as --val-files
    /// holding out everything is (it made a corpus of "train 0, val 60" with exit 0).
    @Test func aValFractionLeavingNothingToTrainOnIsAnError() throws {
        let (dir, docs) = try makeCorpus(count: 60)
        let home = tempDir("home")
        let db = try TrackerDB(home: home)
        var o = options()
        o.valFraction = 0.999999
        #expect(throws: IngestError.allValidation(valFraction: 0.999999, documents: Int64(docs.count))) {
            try IngestPipeline(home: home, db: db).run(paths: [dir], options: o)
        }
        #expect(try db.corpora().isEmpty)
    }

    /// `--val-fraction -0` is `0`: the same settings, hence the same corpus fingerprint.
    @Test func negativeZeroValFractionIsZero() {
        var zero = options()
        zero.valFraction = 0
        var negativeZero = options()
        negativeZero.valFraction = -0.0
        #expect(negativeZero.fingerprintSettings == zero.fingerprintSettings)
        #expect(zero.fingerprintSettings["valFraction"] == "0.0")
    }

    @Test func failuresLeaveNoRowsAndNoFiles() throws {
        let home = tempDir("home")
        let db = try TrackerDB(home: home)
        let pipeline = IngestPipeline(home: home, db: db)
        // A truncated archive.
        let (dir, _) = try makeCorpus(count: 30)
        let archive = try tarGz(dir)
        let data = try Data(contentsOf: URL(fileURLWithPath: archive))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: archive))
        let e = #expect(throws: (any Error).self) { try pipeline.run(paths: [archive], options: options()) }
        #expect("\(e!)".contains("corpus.tar.gz"))
        // Only binary files.
        let bin = tempDir("bin")
        try Data((0..<4096).map { UInt8($0 % 256) }).write(to: URL(fileURLWithPath: bin + "/blob.dat"))
        #expect(throws: IngestError.self) { try pipeline.run(paths: [bin], options: options()) }
        // An empty folder, a path that does not exist, a vocabulary that is too small.
        #expect(throws: (any Error).self) { try pipeline.run(paths: [tempDir("empty")], options: options()) }
        #expect(throws: (any Error).self) { try pipeline.run(paths: ["/nonexistent/corpus"], options: options()) }
        #expect(throws: IngestError.self) { try pipeline.run(paths: [dir], options: options(vocab: 256)) }

        #expect(try db.corpora().isEmpty)
        let left = try FileManager.default.contentsOfDirectory(atPath: home)
        #expect(left.filter { !$0.hasPrefix("tracker.sqlite") }.isEmpty, "left behind: \(left)")
    }

    /// Every size is checked before anything is read or allocated (a vocabulary of 2^32 - 1 used to trap).
    @Test func sizesOutOfRangeAreErrorsNamingTheRange() throws {
        let (dir, _) = try makeCorpus(count: 5)
        let home = tempDir("home")
        let pipeline = IngestPipeline(home: home, db: try TrackerDB(home: home))
        let cases: [(String, Int, ClosedRange<Int>, (inout IngestOptions) -> Void)] = [
            ("--vocab-size", 4_294_967_295, IngestLimits.vocabSize, { $0.vocabSize = 4_294_967_295 }),
            ("--vocab-size", 256, IngestLimits.vocabSize, { $0.vocabSize = 256 }),
            ("--shard-tokens", Int.max, IngestLimits.shardTokens, { $0.shardTokens = Int.max }),
            ("--threads", 0, IngestLimits.threads, { $0.threads = 0 }),
            ("corpus.maxDocumentBytes", Int.max, 1...(1024 << 20), { $0.corpus.maxDocumentBytes = Int.max }),
        ]
        for (option, value, range, change) in cases {
            var o = options()
            change(&o)
            let e = #expect(throws: IngestError.outOfRange(option: option, value: value, range: range)) {
                try pipeline.run(paths: [dir], options: o)
            }
            #expect(
                e?.description
                    == "\(option) \(value) is out of range: it must be between \(range.lowerBound) and \(range.upperBound)"
            )
        }
        #expect(IngestLimits.vocabSize == 257...BPETrainer.maxVocabSize)
        let left = try FileManager.default.contentsOfDirectory(atPath: home).filter { !$0.hasPrefix("tracker.sqlite") }
        #expect(left.isEmpty, "left behind: \(left)")
    }

    @Test func defaultNames() {
        #expect(IngestPipeline.defaultName(for: ["corpora/bundled.tar.xz"]) == "bundled")
        #expect(IngestPipeline.defaultName(for: ["/data/web.jsonl.gz"]) == "web")
        #expect(IngestPipeline.defaultName(for: ["/data/my books/"]) == "my-books")
        #expect(IngestPipeline.isValidName("a.b_c-1"))
        #expect(!IngestPipeline.isValidName("../x"))
    }
}

/// `valFiles`: whole files held out for validation, in folders and inside archives.
struct HeldOutFilesTests {
    /// The documents of a corpus' shards of one split, decoded.
    private func split(_ s: IngestSummary, _ name: String) throws -> [String] {
        let tokenizer = try Tokenizer.load(tokenizerJSON: Data(contentsOf: URL(fileURLWithPath: s.tokenizerPath!)))
        return try s.shards.filter { $0.split == name }.flatMap { try documents(in: $0.path, tokenizer: tokenizer) }
    }

    @Test func namedFilesGoToValidationAndNothingElse() throws {
        let (dir, docs) = try makeCorpus(count: 20)
        let home = tempDir("home")
        var o = options()
        o.valFraction = 0
        o.valFiles = ["doc005.txt", "doc01[0-1].txt"]
        let s = try IngestPipeline(home: home, db: try TrackerDB(home: home)).run(paths: [dir], options: o)
        #expect(try split(s, "val").sorted() == [docs[5], docs[10], docs[11]].sorted())
        #expect(try split(s, "train").count == docs.count - 3)
        #expect(s.valDocuments == 3)
    }

    @Test func heldOutEntriesInsideAnArchive() throws {
        let (dir, docs) = try makeCorpus(count: 12)
        let archive = try tarGz(dir)
        let home = tempDir("home")
        var o = options()
        o.valFiles = ["doc007.txt"]
        let s = try IngestPipeline(home: home, db: try TrackerDB(home: home)).run(paths: [archive], options: o)
        #expect(try split(s, "val").contains(docs[7]))
        #expect(try !split(s, "train").contains(docs[7]))
    }

    @Test func theHoldOutChangesTheFingerprint() throws {
        let (dir, _) = try makeCorpus(count: 10)
        let home = tempDir("home")
        let pipeline = IngestPipeline(home: home, db: try TrackerDB(home: home))
        let plain = try pipeline.run(paths: [dir], options: options())
        var o = options()
        o.valFiles = ["doc001.txt"]
        let heldOut = try pipeline.run(paths: [dir], options: o)
        #expect(heldOut.status == "ingested" && heldOut.corpusId != plain.corpusId)
    }

    @Test func aGlobMatchingNothingOrEverythingIsAClearError() throws {
        let (dir, _) = try makeCorpus(count: 5)
        let home = tempDir("home")
        let pipeline = IngestPipeline(home: home, db: try TrackerDB(home: home))
        var o = options()
        o.valFiles = ["MPL-2.0"]
        #expect(throws: IngestError.valFilesUnmatched(glob: "MPL-2.0")) { try pipeline.run(paths: [dir], options: o) }
        o.valFiles = ["*.txt"]
        let error = #expect(throws: IngestError.self) { try pipeline.run(paths: [dir], options: o) }
        #expect("\(error!)".contains("nothing is left to train on"))
        #expect(try pipeline.db.corpora().isEmpty)
    }
}

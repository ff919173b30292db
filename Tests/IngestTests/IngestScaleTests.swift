// Corpus-scale ingest: a memory budget small enough to spill word counts gives the very same
// tokenizer and shards, a full disk while spilling leaves nothing behind, --min-frequency is part
// of the fingerprint only when it changes the result, and the synthetic Zipfian corpus follows
// Heaps' law.
import BPE
import Basics
import Foundation
import Store
import Testing

@testable import Ingest

private func folder(_ tag: String) throws -> String {
    let d = NSTemporaryDirectory() + "ingest-scale-\(tag)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// A JSONL corpus of about `bytes` of Zipfian text with a Heaps'-law vocabulary.
private func zipfCorpus(bytes: Int64, seed: UInt64 = 1) throws -> String {
    let path = try folder("src") + "/zipf.jsonl"
    var text = ZipfText(seed: seed)
    try text.writeJSONL(to: path, totalBytes: bytes)
    return path
}

private func options(budget: Int? = nil) -> IngestOptions {
    var o = IngestOptions()
    o.vocabSize = 600
    o.valFraction = 0.05
    o.threads = 2
    if let budget { o.memoryBudget = budget }
    return o
}

/// What a workspace holds besides the database.
private func leftovers(_ home: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: home).filter {
        !$0.hasPrefix("tracker.sqlite") && $0 != "tokenizers" && $0 != "shards"
    }
}

struct IngestScaleTests {
    /// In memory and spilled, on one thread and two: the same tokenizer, byte-identical shards
    /// and the same records.
    @Test func aSmallBudgetSpillsAndGivesTheSameCorpus() throws {
        let corpus = try zipfCorpus(bytes: 1_500_000)
        var results: [IngestSummary] = []
        var records: [IngestedCorpus?] = []
        let runs: [(budget: Int?, threads: Int)] = [(nil, 2), (4 << 20, 2), (4 << 20, 1)]
        for (budget, threads) in runs {
            let home = try folder("home")
            let db = try TrackerDB(home: home)
            var o = options(budget: budget)
            o.threads = threads
            let pipeline = IngestPipeline(home: home, db: db)
            pipeline.batchBytes = 64 << 10
            results.append(try pipeline.run(paths: [corpus], options: o))
            records.append(try recordedCorpus(db))
            let left = try leftovers(home)
            #expect(left.isEmpty, "left behind: \(left)")
        }
        let (unbounded, bounded) = (results[0], results[1])
        #expect(unbounded.spilledBytes == 0)
        #expect(bounded.spilledBytes > 0 && bounded.memoryBudgetBytes == 4 << 20)
        #expect(bounded.uniqueWords == unbounded.uniqueWords && bounded.uniqueWords > 20_000)
        #expect(bounded.tokenizerSHA256 == unbounded.tokenizerSHA256)
        #expect(bounded.shards.map(\.sha256) == unbounded.shards.map(\.sha256))
        #expect(bounded.megabytesPerSecond > 0 && bounded.peakMemoryBytes > 0)
        #expect(results[2].shards.map(\.sha256) == unbounded.shards.map(\.sha256))
        #expect(records[0] != nil && records[0] == records[1] && records[1] == records[2])
    }

    /// One word longer than a counting table's budget (a 600 KB run of letters; each of 8
    /// threads' tables may hold 768 KiB): spilled a few times, not once per later word (the
    /// QA's 3 MB word filled 1.9 GB of one-word run files in 15 s), and the same corpus as
    /// counted in memory.
    @Test func aWordLongerThanTheTableBudgetGivesTheSameCorpus() throws {
        let corpus = try zipfCorpus(bytes: 300_000, seed: 8)
        var rng = SplitMix64(seed: 8)
        let long = String((0..<600_000).map { _ in Character(Unicode.Scalar(UInt8(97 + rng.next() % 10))) })
        let word = (corpus as NSString).deletingLastPathComponent + "/a-word.txt"
        try long.write(toFile: word, atomically: true, encoding: .utf8)
        var results: [IngestSummary] = []
        for budget in [nil, 8 << 20] {
            let home = try folder("home")
            var o = options(budget: budget)
            o.threads = 8
            results.append(
                try IngestPipeline(home: home, db: try TrackerDB(home: home)).run(paths: [word, corpus], options: o))
            let left = try leftovers(home)
            #expect(left.isEmpty, "left behind: \(left)")
        }
        let (unbounded, bounded) = (results[0], results[1])
        #expect(unbounded.spilledBytes == 0)
        // Each spill of its table writes the long word again. Before, every word after it did.
        #expect(bounded.spilledBytes > 600_000 && bounded.spilledBytes < 4_000_000, "\(bounded.spilledBytes) bytes")
        #expect(bounded.tokenizerSHA256 == unbounded.tokenizerSHA256)
        #expect(bounded.shards.map(\.sha256) == unbounded.shards.map(\.sha256))
    }

    @Test func aFullDiskWhileSpillingLeavesNothingBehind() throws {
        let corpus = try zipfCorpus(bytes: 1_000_000, seed: 2)
        let home = try folder("home")
        let db = try TrackerDB(home: home)
        var o = options(budget: 4 << 20)
        o.spillQuota = 100_000
        let e = #expect(throws: WordSpillError.self) {
            try IngestPipeline(home: home, db: db).run(paths: [corpus], options: o)
        }
        #expect("\(e!)".hasPrefix("the disk is full"))
        #expect(try db.corpora().isEmpty)
        let left = try FileManager.default.contentsOfDirectory(atPath: home).filter { !$0.hasPrefix("tracker.sqlite") }
        #expect(left.isEmpty, "left behind: \(left)")
    }

    /// A killed ingest leaves its spill folder behind, beside a lock file that nobody holds any
    /// more (the kernel dropped the lock): the next ingest in the workspace deletes both.
    @Test func theNextIngestRemovesTheSpillFolderOfAKilledOne() throws {
        let corpus = try zipfCorpus(bytes: 100_000, seed: 6)
        let home = try folder("home")
        let stale = "\(home)/.spill-12345-678"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: false)
        try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: stale + "/run-1.words"))
        try Data("12345\n".utf8).write(to: URL(fileURLWithPath: stale + ".lock"))
        let summary = try IngestPipeline(home: home, db: try TrackerDB(home: home)).run(
            paths: [corpus], options: options(budget: 4 << 20))
        #expect(summary.status == "ingested")
        let left = try leftovers(home)
        #expect(left.isEmpty, "left behind: \(left)")
    }

    /// A killed ingest (SIGKILL during the encode stage) leaves its staging folder, with the
    /// tokenizer and partial shards: the next ingest deletes it, and one an older version left
    /// without a lock file once its pid is gone, but never the folder of an ingest still running.
    @Test func theNextIngestRemovesTheStagingFolderOfAKilledOne() throws {
        let corpus = try zipfCorpus(bytes: 100_000, seed: 7)
        let home = try folder("home")
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = child.processIdentifier
        func staging(_ name: String, lock: Bool) throws {
            try FileManager.default.createDirectory(
                atPath: "\(home)/\(name)/shards", withIntermediateDirectories: true)
            try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: "\(home)/\(name)/shards/shard-0000.bin"))
            if lock { try Data("\(dead)\n".utf8).write(to: URL(fileURLWithPath: "\(home)/\(name).lock")) }
        }
        try staging(".staging-zipf-0123456789ab-\(dead)-1", lock: true)
        try staging(".staging-zipf-0123456789ab-\(dead)-2", lock: false)
        try staging(".staging-other-0123456789ab-\(getpid())-3", lock: false)
        try staging(".staging-other-0123456789ab-\(dead)-4", lock: true)
        let live = try FileLock(path: "\(home)/.staging-other-0123456789ab-\(dead)-4.lock")
        defer { live.release() }
        let summary = try IngestPipeline(home: home, db: try TrackerDB(home: home)).run(
            paths: [corpus], options: options())
        #expect(summary.status == "ingested")
        let left = try leftovers(home).sorted()
        let kept = [".staging-other-0123456789ab-\(dead)-4", ".staging-other-0123456789ab-\(getpid())-3"]
        #expect(left == (kept + [kept[0] + ".lock"]).sorted(), "left behind: \(left)")
    }

    /// The duplicate-dropping key set answers as a Set does (the all-zero key too), and its
    /// memory, which counts against the budget, is what it says.
    @Test func documentKeySetDropsExactlyTheRepeatedKeys() {
        var rng = SplitMix64(seed: 7)
        var keys = (0..<5_000).map { _ in DocumentKey(hi: rng.next(), lo: rng.next() & 0xFFFF) }
        keys += [DocumentKey(hi: 0, lo: 0), DocumentKey(hi: 0, lo: 1), DocumentKey(hi: 1, lo: 0)]
        keys += keys.prefix(700) + [DocumentKey(hi: 0, lo: 0)]
        var set = DocumentKeySet()
        var reference = Set<DocumentKey>()
        var sizes: [Int] = []
        for key in keys {
            #expect(set.insert(key) == reference.insert(key).inserted)
            sizes.append(set.bytes)
        }
        #expect(set.count == reference.count && set.count == 5_003)
        #expect(set.bytes == 8192 * 16 && sizes.first == 1024 * 16)
        #expect(set.bytes * 3 >= set.count * 4 * 16)
    }

    @Test func minFrequencyIsInTheFingerprintOnlyWhenItChangesTheResult() throws {
        var o = options()
        let base = o.fingerprintSettings
        o.memoryBudget = 64 << 20
        #expect(o.fingerprintSettings == base)
        o.minFrequency = 1
        #expect(o.fingerprintSettings == base)
        o.minFrequency = 5
        #expect(o.fingerprintSettings != base && o.fingerprintSettings["minFrequency"] == "5")

        let corpus = try zipfCorpus(bytes: 200_000, seed: 3)
        let home = try folder("home")
        let pipeline = IngestPipeline(home: home, db: try TrackerDB(home: home))
        let plain = try pipeline.run(paths: [corpus], options: options())
        var rare = options()
        rare.minFrequency = 2_000
        let cut = try pipeline.run(paths: [corpus], options: rare)
        #expect(cut.status == "ingested" && cut.corpusId != plain.corpusId)
        #expect(cut.vocabSize < plain.vocabSize)
        #expect(cut.warnings.first?.contains("allowed only") == true)
    }

    @Test func budgetsOutOfRangeAreErrors() throws {
        let corpus = try zipfCorpus(bytes: 10_000, seed: 4)
        let home = try folder("home")
        let pipeline = IngestPipeline(home: home, db: try TrackerDB(home: home))
        var o = options(budget: 1 << 20)
        #expect(throws: IngestError.memoryBudgetOutOfRange("\(1 << 20) bytes")) {
            try pipeline.run(paths: [corpus], options: o)
        }
        o = options()
        o.minFrequency = -1
        #expect(throws: IngestError.self) { try pipeline.run(paths: [corpus], options: o) }
        #expect(IngestOptions.defaultMemoryBudget() <= 1 << 30)
    }

    /// The generator's vocabulary follows K n^β in the trainer's unit: a fit over the pre-token
    /// words of its text (case, leading space and punctuation pieces included) gives back its K
    /// and β, and its own count agrees with what the pre-tokenizer finds.
    @Test func zipfTextFollowsHeapsLaw() throws {
        var text = ZipfText(seed: 5)
        var bytes: [UInt8] = []
        var fit = HeapsFit()
        for _ in 0..<400 {
            bytes.removeAll(keepingCapacity: true)
            text.appendDocument(bytes: 4096, to: &bytes)
            bytes.withUnsafeBytes { fit.add(document: $0) }
        }
        fit.finish()
        let last = try #require(fit.points.last)
        #expect(last.words == text.words)
        #expect(last.distinct == text.distinct)
        let expected = 25 * pow(Double(text.words), 0.6)
        #expect(abs(Double(text.distinct) - expected) <= 2, "\(text.distinct) vs \(expected)")
        #expect(text.spellings < text.distinct, "a word appears in several forms")
        // Past the first few thousand words (where every word is new and K n^β > n), every
        // checkpoint of the pre-tokenizer's count sits on the law.
        for point in fit.points where point.words >= 10_000 {
            let k = Double(point.distinct) / pow(Double(point.words), 0.6)
            #expect(abs(k - 25) < 0.1, "K \(k) at n = \(point.words)")
        }
        #expect(ZipfText(seed: 5).heapsK == 25)
    }

    /// A budget too small for the trainer's distinct words stops the ingest after counting, with
    /// what the trainer needs; the same corpus goes through with that budget.
    @Test func aBudgetTooSmallForTheTrainerSaysWhatItNeeds() throws {
        let corpus = try zipfCorpus(bytes: 12_000_000)
        let home = try folder("home")
        let pipeline = IngestPipeline(home: home, db: try TrackerDB(home: home))
        var o = options(budget: 4 << 20)
        var needed = 0
        do {
            _ = try pipeline.run(paths: [corpus], options: o)
            Issue.record("an ingest whose trainer needs more than 4 MiB went through")
        } catch IngestError.trainerOverBudget(let words, let neededMiB, let budgetMiB) {
            #expect(words > 50000)
            #expect(neededMiB > 4 && budgetMiB == 4)
            needed = neededMiB
        }
        let left = try leftovers(home)
        #expect(left.isEmpty, "nothing left behind: \(left)")
        o.memoryBudget = needed << 20
        let summary = try pipeline.run(paths: [corpus], options: o)
        #expect(summary.status == "ingested")
        #expect(summary.stagePeakBytes?["train"] != nil)
    }

    /// Plain words are split at white space and lower-cased, punctuation kept.
    @Test func plainWordsAreLowerCasedAndSplitAtWhiteSpace() throws {
        let counter = WordCounter()
        let text = Array("The cat,\tthe Cat.\n\nÉTÉ été".utf8)
        let n = text.withUnsafeBytes { HeapsFit.addPlainWords($0, to: counter) }
        #expect(n == 6)
        #expect(counter.uniqueWords == 4)  // "the", "cat,", "cat.", "été"
    }
}

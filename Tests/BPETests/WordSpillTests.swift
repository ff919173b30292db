// Word counting in bounded memory: counts spilled to disk and merged back are exactly the
// in-memory counts (and train the same merges), damaged spill files and a full disk are clear
// errors, and a failed spill leaves no partial file behind.
import Basics
import Foundation
import TestSupport
import Testing

@testable import BPE

/// Documents with a huge vocabulary: random lowercase words of 1-12 letters (most occur once),
/// mixed with a few frequent ones, numbers and punctuation.
private func hugeVocabularyDocuments(_ count: Int, seed: UInt64) -> [String] {
    var rng = SeededGenerator(seed: seed)
    let frequent = ["the", "of", "and", "a", "to", "in", "is", "'s", ",", ".", "\n"]
    return (0..<count).map { _ in
        var doc = ""
        for _ in 0..<Int.random(in: 50...400, using: &rng) {
            if Bool.random(using: &rng) {
                doc += " " + frequent.randomElement(using: &rng)!
            } else if Int.random(in: 0..<20, using: &rng) == 0 {
                doc += " \(Int.random(in: 0..<100_000, using: &rng))"
            } else {
                let letters = (0..<Int.random(in: 1...12, using: &rng)).map { _ in
                    Character(Unicode.Scalar(UInt8.random(in: 97...122, using: &rng)))
                }
                doc += " " + String(letters)
            }
        }
        return doc
    }
}

/// Every (word, count) of a counter.
private func contents(_ counter: WordCounter) -> [[UInt8]: Int64] {
    var words: [[UInt8]: Int64] = [:]
    counter.forEachWord { word, count in words[Array(word), default: 0] += count }
    return words
}

private func temporaryFolder() -> String {
    NSTemporaryDirectory() + "word-spill-\(UUID().uuidString)"
}

/// Counts `documents` round-robin on `counters` spilling counters and combines them on
/// `threads` threads.
private func spilledCount(
    _ documents: [String], area: SpillArea, counters: Int = 2, threads: Int = 1
) throws -> WordCounter {
    let all = (0..<counters).map { _ in WordCounter(spillingTo: area) }
    for (i, doc) in documents.enumerated() { all[i % counters].add(text: doc) }
    return try WordCounter.combine(all, threads: threads)
}

@Suite struct WordSpillTests {
    @Test func spilledCountsAndMergesEqualTheInMemoryOnes() throws {
        let documents = hugeVocabularyDocuments(300, seed: 1)
        let inMemory = countWords(documents)
        let area = try SpillArea(directory: temporaryFolder(), tableBudget: 96 << 10, partitions: 16)
        defer { area.remove() }
        // Merged on three threads: each a range of the 16 partitions, into a file of its own.
        let spilled = try spilledCount(documents, area: area, counters: 3, threads: 3)
        #expect(spilled.isSpilled)
        #expect(area.filesWritten > 10, "the budget should force many spills: \(area.filesWritten) files")
        #expect(inMemory.uniqueWords > 20_000)
        #expect(spilled.uniqueWords == inMemory.uniqueWords)
        #expect(spilled.totalWords == inMemory.totalWords)
        #expect(spilled.wordBytes == inMemory.wordBytes)
        #expect(contents(spilled) == contents(inMemory))
        // Only the merged files are left: the runs are deleted once merged.
        #expect(try FileManager.default.contentsOfDirectory(atPath: area.directory).count == 3)
        #expect(WordCounter.partitionRanges(16, 3) == [0..<5, 5..<10, 10..<16])
        #expect(WordCounter.partitionRanges(2, 3) == [0..<1, 1..<2])

        let trainer = try BPETrainer(vocabSize: 256 + 400 + 1)
        let fromMemory = trainer.train(inMemory)
        let fromDisk = trainer.train(spilled)
        try spilled.throwIfFailed()
        #expect(fromDisk.merges.map { [$0.0, $0.1] } == fromMemory.merges.map { [$0.0, $0.1] })
        for doc in documents.prefix(20) { #expect(fromDisk.encode(doc) == fromMemory.encode(doc)) }
    }

    /// Memory reserved outside the tables (an ingest's document keys) shrinks what each table may
    /// hold, so the same words spill more, and the counts stay exact.
    @Test func aReserveShrinksTheTablesAndKeepsTheCountsExact() throws {
        let documents = hugeVocabularyDocuments(600, seed: 11)
        let area = try SpillArea(directory: temporaryFolder(), tableBudget: 32 << 20, partitions: 4)
        defer { area.remove() }
        #expect(area.tableLimit == 32 << 20)
        let roomy = try spilledCount(documents, area: area)
        #expect(!roomy.isSpilled && area.filesWritten == 0)
        area.reserve(perTable: 30 << 20)
        #expect(area.tableLimit == 2 << 20)
        area.reserve(perTable: 32 << 20)
        #expect(area.tableLimit == 1 << 20)
        let small = try SpillArea(directory: temporaryFolder(), tableBudget: 512 << 10, partitions: 4)
        defer { small.remove() }
        small.reserve(perTable: 500 << 10)
        #expect(small.tableLimit == 512 << 10)
        let tight = try SpillArea(directory: temporaryFolder(), tableBudget: 32 << 20, partitions: 4)
        defer { tight.remove() }
        tight.reserve(perTable: 31 << 20)
        let spilled = try spilledCount(documents, area: tight)
        #expect(spilled.isSpilled && tight.filesWritten > 2, "\(tight.filesWritten) files")
        #expect(contents(spilled) == contents(roomy))
    }

    @Test func smallCountsAreCombinedInMemory() throws {
        let documents = hugeVocabularyDocuments(20, seed: 2)
        let area = try SpillArea(directory: temporaryFolder(), tableBudget: 64 << 20)
        defer { area.remove() }
        let combined = try spilledCount(documents, area: area)
        #expect(!combined.isSpilled && area.filesWritten == 0)
        #expect(contents(combined) == contents(countWords(documents)))
    }

    @Test func aFullDiskIsAClearErrorAndLeavesNoPartialFile() throws {
        let documents = hugeVocabularyDocuments(200, seed: 3)
        let area = try SpillArea(directory: temporaryFolder(), tableBudget: 96 << 10, partitions: 8, quota: 200_000)
        defer { area.remove() }
        let e = #expect(throws: WordSpillError.self) { try spilledCount(documents, area: area) }
        guard case .diskFull(let directory, _) = e else {
            Issue.record("expected a full disk, got \(String(describing: e))")
            return
        }
        #expect(directory == area.directory && area.hasFailed)
        #expect("\(e!)".contains("the disk is full") && "\(e!)".contains("--memory-budget"))
        // What is left are whole run files only (each readable); the failed one was deleted.
        for name in try FileManager.default.contentsOfDirectory(atPath: area.directory) {
            let file = try WordFile.open(path: area.directory + "/" + name, partitions: 8)
            var buffer: [UInt8] = []
            for p in 0..<8 { try file.forEachEntry(p, buffer: &buffer) { _, _ in } }
        }
    }

    /// Any damage to a spill file is reported as such (never a trap, never different counts).
    @Test(arguments: 0..<4) func damagedSpillFilesAreClearErrors(seed: Int) throws {
        let area = try SpillArea(directory: temporaryFolder(), tableBudget: 96 << 10, partitions: 4)
        defer { area.remove() }
        let spilled = try spilledCount(hugeVocabularyDocuments(60, seed: UInt64(seed)), area: area)
        let original = contents(spilled)
        let path = try #require(try FileManager.default.contentsOfDirectory(atPath: area.directory).first)
        let full = area.directory + "/" + path
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: full)))
        var mutator = Mutator(seed: UInt64(seed))
        for round in 0..<(propertyExamples / 4) {
            let damaged = round == 0 ? Array(bytes.prefix(bytes.count - 1)) : mutator.mutate(bytes, maxEdits: 3)
            guard damaged != bytes else { continue }
            try Data(damaged).write(to: URL(fileURLWithPath: full))
            do {
                let file = try WordFile.open(path: full, partitions: 4)
                var read: [[UInt8]: Int64] = [:]
                var buffer: [UInt8] = []
                for p in 0..<4 {
                    try file.forEachEntry(p, buffer: &buffer) { word, count in read[Array(word), default: 0] += count }
                }
                #expect(read == original, "a damaged file was read with other counts (round \(round))")
            } catch let error as WordSpillError {
                guard case .corrupt(let at, _) = error else {
                    Issue.record("unexpected \(error)")
                    continue
                }
                #expect(at == full && "\(error)".contains("run the command again"))
            }
        }
        // Through the counter: reading back stops and the failure is thrown.
        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: full))
        _ = contents(spilled)
        #expect(throws: WordSpillError.self) { try spilled.throwIfFailed() }
        #expect(area.hasFailed)
    }

    /// A killed process leaves its spill folder behind (its lock file no longer held: the kernel
    /// drops the lock): `removeStale` deletes it, and lock files without a folder, and folders
    /// without a lock file whose pid is gone, but never the folder of a live area.
    @Test func staleSpillFoldersOfDeadProcessesAreRemoved() throws {
        let parent = temporaryFolder()
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        let fm = FileManager.default
        let live = try SpillArea(in: parent, tableBudget: 64 << 10, partitions: 2)
        let liveName = URL(fileURLWithPath: live.directory).lastPathComponent
        _ = try spilledCount(hugeVocabularyDocuments(40, seed: 10), area: live)
        #expect(fm.fileExists(atPath: live.directory + ".lock"))

        // A pid that is surely gone: a child that has exited.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = child.processIdentifier
        func folder(_ name: String, lock: Bool) throws {
            try fm.createDirectory(atPath: "\(parent)/\(name)", withIntermediateDirectories: false)
            try Data("words".utf8).write(to: URL(fileURLWithPath: "\(parent)/\(name)/run-1.words"))
            if lock { try Data("\(dead)\n".utf8).write(to: URL(fileURLWithPath: "\(parent)/\(name).lock")) }
        }
        try folder(".spill-\(dead)-1", lock: true)  // killed: its lock file is held by nobody
        try folder(".spill-\(dead)-2", lock: false)  // an older version's folder, its process gone
        try folder(".spill-\(getpid())-3", lock: false)  // an older version's folder, its process alive
        try Data().write(to: URL(fileURLWithPath: "\(parent)/.spill-\(dead)-4.lock"))  // killed before mkdir
        // One held by a live process (here: another open file description of this one).
        try folder(".spill-\(dead)-5", lock: true)
        let holder = try FileLock(path: "\(parent)/.spill-\(dead)-5.lock")

        let removed = SpillArea.removeStale(in: parent).map { URL(fileURLWithPath: $0).lastPathComponent }
        #expect(removed == [".spill-\(dead)-1", ".spill-\(dead)-2"])
        let left = try fm.contentsOfDirectory(atPath: parent).sorted()
        let expected = [
            ".spill-\(dead)-5", ".spill-\(dead)-5.lock", ".spill-\(getpid())-3", liveName, liveName + ".lock",
        ]
        #expect(left == expected.sorted())
        #expect(try fm.contentsOfDirectory(atPath: live.directory).count == 1)

        holder.release()
        live.remove()
        #expect(
            SpillArea.removeStale(in: parent).map { URL(fileURLWithPath: $0).lastPathComponent } == [".spill-\(dead)-5"]
        )
        #expect(try fm.contentsOfDirectory(atPath: parent) == [".spill-\(getpid())-3"])
    }

    /// One word longer than the table's budget grows its arena past the budget: the spill that
    /// follows gives the arena back, so later words go on filling runs instead of each spilling a
    /// run of its own (the disk filled with one file per word), and the counts stay exact.
    @Test func aWordLongerThanTheBudgetSpillsOnceNotAtEveryLaterWord() throws {
        var rng = SeededGenerator(seed: 12)
        let long = String(
            (0..<1_500_000).map { _ in Character(Unicode.Scalar(UInt8.random(in: 97...106, using: &rng))) })
        let documents = [long] + hugeVocabularyDocuments(30, seed: 12) + [long]
        let area = try SpillArea(directory: temporaryFolder(), tableBudget: 1 << 20, partitions: 4)
        defer { area.remove() }
        let spilled = try spilledCount(documents, area: area, counters: 1)
        // Before: 6,000 and more run files, one per word after the long one.
        #expect(area.filesWritten <= 6, "\(area.filesWritten) files")
        #expect(spilled.isSpilled)
        #expect(contents(spilled) == contents(countWords(documents)))
    }

    @Test func aCombinedCounterIsReadOnly() throws {
        let area = try SpillArea(directory: temporaryFolder(), tableBudget: 64 << 10, partitions: 2)
        defer { area.remove() }
        let spilled = try spilledCount(hugeVocabularyDocuments(40, seed: 9), area: area)
        #expect(spilled.isSpilled)
        spilled.add(text: "more words")
        #expect(throws: WordSpillError.readOnlyCounter) { try spilled.throwIfFailed() }
    }

    /// HF's min_frequency: training stops at the first pair seen fewer times; 0 and 1 change nothing.
    @Test func minFrequencyStopsEarly() throws {
        let counter = countWords(hugeVocabularyDocuments(40, seed: 4))
        let merges = { (minFrequency: Int) in
            try BPETrainer(vocabSize: 256 + 300 + 1, minFrequency: minFrequency).train(counter).merges.map {
                [$0.0, $0.1]
            }
        }
        let all = try merges(0)
        #expect(try merges(1) == all)
        let some = try merges(50)
        #expect(some.count < all.count && some.count > 0)
        #expect(Array(all.prefix(some.count)) == some)
        #expect(throws: BPEError.invalidMinFrequency(-1)) { try merges(-1) }
    }
}

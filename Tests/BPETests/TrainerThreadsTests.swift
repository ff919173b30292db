import Foundation
import Synchronization
import Testing

// The trainer on several threads and with HF's min_frequency: the merges of 1, 2 and 4 threads
// are identical (every step forced onto the threads), the tracking threshold for rare pairs
// changes nothing, the UInt32 word store learns what the UInt16 one does, and min_frequency
// stops where the naive reference stops. The parts under it: the team of the merge steps runs
// every chunk once, and the words are handed over the same on any number of threads.
@testable import BPE

@Suite struct TrainerThreadsTests {
    /// Zipf-like documents over a small alphabet: many shared pairs, many ties, long lists.
    func generatedDocuments(_ seed: UInt64, count: Int) -> [String] {
        var rng = SeededGenerator(seed: seed)
        let words = (0..<400).map { _ in
            String((0..<Int.random(in: 1...9, using: &rng)).map { _ in "abcdeéz1'".randomElement(using: &rng)! })
        }
        return (0..<count).map { _ in
            (0..<Int.random(in: 20...200, using: &rng)).map { _ in
                words[min(words.count - 1, Int(1 / Double.random(in: 0.0025...1, using: &rng)) - 1)]
            }.joined(separator: Bool.random(using: &rng) ? " " : "  ")
        }
    }

    func merges(_ trainer: BPETrainer, _ counter: WordCounter, threads: Int) -> [[UInt32]] {
        trainer.train(counter, threads: threads).merges.map { [$0.0, $0.1] }
    }

    @Test(arguments: [1, 2, 3]) func sameMergesOnAnyThreadCount(seed: UInt64) throws {
        let counter = countWords(generatedDocuments(seed, count: 60) + (try fixtureDocuments("edge_cases.txt")))
        var trainer = try BPETrainer(vocabSize: 256 + 400 + 1)
        trainer.parallelMinimumHolders = 1
        let one = merges(trainer, counter, threads: 1)
        #expect(one.count > 100)
        for threads in [2, 4] { #expect(merges(trainer, counter, threads: threads) == one, "\(threads) threads") }
        trainer.parallelMinimumHolders = 5  // mixed: small steps on one thread, large ones on four
        #expect(merges(trainer, counter, threads: 4) == one)
    }

    @Test func parallelMatchesReference() throws {
        let documents = generatedDocuments(9, count: 12)
        var trainer = try BPETrainer(vocabSize: 256 + 150 + 1)
        trainer.parallelMinimumHolders = 1
        let slow = ReferenceTrainer.train(wordCounts: ReferenceTrainer.wordCounts(documents), mergeCount: 150)
        #expect(merges(trainer, countWords(documents), threads: 3) == slow.map { [$0.0, $0.1] })
    }

    /// Untracked rare pairs never change a merge, whether the recount comes early, late or never.
    @Test(arguments: [1, 3, 12, 100_000]) func sameMergesForAnyTrackingThreshold(threshold: Int) throws {
        let documents = generatedDocuments(8, count: 10)
        var trainer = try BPETrainer(vocabSize: 256 + 3000 + 1)
        trainer.trackingThreshold = Int64(threshold)
        trainer.parallelMinimumHolders = 3
        let slow = ReferenceTrainer.train(wordCounts: ReferenceTrainer.wordCounts(documents), mergeCount: 3000)
        #expect(slow.count < 3000)  // ran out of pairs: every count down to 1 was merged
        #expect(merges(trainer, countWords(documents), threads: 2) == slow.map { [$0.0, $0.1] })
    }

    /// Past 65,535 tokens the words are stored as UInt32: same merges (training stops early).
    @Test func wideTokenIdsLearnTheSameMerges() throws {
        let counter = countWords(generatedDocuments(4, count: 3))
        let narrow = merges(try BPETrainer(vocabSize: 60_000), counter, threads: 2)
        let wide = merges(try BPETrainer(vocabSize: 70_000), counter, threads: 2)
        #expect(narrow.count < 60_000 - 257)
        #expect(wide == narrow)
    }

    /// Word counts past UInt32 (kept aside from the 4-byte counts) weigh in whole, at and around
    /// the boundary, on one thread and on several.
    @Test func countsBeyondFourBillionLearnLikeTheReference() throws {
        var wordCounts = ReferenceTrainer.wordCounts(generatedDocuments(7, count: 6))
        let big: [(String, Int64)] = [
            (" qv", 4_294_967_294), (" xw", 4_294_967_295), (" kj", 4_294_967_296), (" ggy", 9_000_000_001),
        ]
        for (word, count) in big { wordCounts[Array(word.utf8)] = count }
        let counter = WordCounter()
        for (word, count) in wordCounts { word.withUnsafeBytes { counter.add(word: $0, count: count) } }
        var trainer = try BPETrainer(vocabSize: 256 + 80 + 1)
        trainer.parallelMinimumHolders = 1
        let slow = ReferenceTrainer.train(wordCounts: wordCounts, mergeCount: 80).map { [$0.0, $0.1] }
        #expect(slow.count == 80)
        #expect(merges(trainer, counter, threads: 1) == slow)
        #expect(merges(trainer, counter, threads: 3) == slow)
    }

    @Test(arguments: [2, 3, 10]) func minFrequencyStopsLikeTheReference(minFrequency: Int) throws {
        let documents = generatedDocuments(5, count: 8)
        let trainer = try BPETrainer(vocabSize: 256 + 2000 + 1, minFrequency: minFrequency)
        let slow = ReferenceTrainer.train(
            wordCounts: ReferenceTrainer.wordCounts(documents), mergeCount: 2000, minFrequency: Int64(minFrequency))
        let fast = merges(trainer, countWords(documents), threads: 2)
        #expect(fast == slow.map { [$0.0, $0.1] })
        let unlimited = merges(try BPETrainer(vocabSize: 256 + 2000 + 1), countWords(documents), threads: 2)
        #expect(fast.count < unlimited.count)
        #expect(Array(unlimited.prefix(fast.count)) == fast)
    }

    @Test func minFrequencyOffIsTheDefault() throws {
        let counter = countWords(generatedDocuments(6, count: 4))
        let off = merges(try BPETrainer(vocabSize: 600), counter, threads: 1)
        #expect(merges(try BPETrainer(vocabSize: 600, minFrequency: 1), counter, threads: 1) == off)
        #expect(merges(try BPETrainer(vocabSize: 600, minFrequency: 0), counter, threads: 1) == off)
        #expect(throws: BPEError.invalidMinFrequency(-1)) { try BPETrainer(vocabSize: 600, minFrequency: -1) }
        #expect(BPEError.invalidMinFrequency(-1).description.contains("0 (no limit) or more"))
    }

    /// Many steps of 1 to 8 chunks on 3 threads (2 helpers): each chunk runs exactly once.
    @Test func mergeTeamRunsEveryChunkOnce() {
        let steps = 1000
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: steps * 8)
        hits.initialize(repeating: 0, count: steps * 8)
        defer { hits.deallocate() }
        let team = MergeTeam(threads: 3)
        for step in 0..<steps { team.run(step % 8 + 1) { c in hits[step * 8 + c] += 1 } }
        team.finish()
        let wrong = (0..<steps * 8).filter { i in hits[i] != (i % 8 <= (i / 8) % 8 ? 1 : 0) }
        #expect(wrong.isEmpty, "chunks run \(wrong.prefix(5).map { hits[$0] }) times at \(wrong.prefix(5))")
    }

    /// Helpers that went to sleep between steps (a pause longer than their spin) wake for the
    /// next step: each step's two chunks wait for each other, so they need two threads at once.
    /// `finish` also wakes and stops sleeping helpers.
    @Test func mergeTeamWakesSleepingHelpers() {
        let team = MergeTeam(threads: 2)
        let pause = UInt32(2 * MergeTeam.spinNanoseconds / 1000 + 1000)  // microseconds
        let started = Atomic<Int>(0)
        let timedOut = Atomic<Int>(0)
        for step in 0..<20 where timedOut.load(ordering: .relaxed) == 0 {
            usleep(pause)
            team.run(2) { _ in
                started.wrappingAdd(1, ordering: .relaxed)
                let deadline = Date().addingTimeInterval(60)
                while started.load(ordering: .relaxed) < 2 * (step + 1) {
                    if Date() > deadline {
                        timedOut.wrappingAdd(1, ordering: .relaxed)
                        return
                    }
                }
            }
        }
        usleep(pause)
        team.finish()
        #expect(timedOut.load(ordering: .relaxed) == 0, "a step ran without the sleeping helper for 60 s")
    }

    /// A counter of more than 2 x 65,536 words is read on several threads: the same words in the
    /// same order with the same counts (those past UInt32 included) as on one, and the same merges.
    @Test func wordsLoadTheSameOnAnyThreadCount() throws {
        let counter = WordCounter()
        var rng = SeededGenerator(seed: 11)
        for i in 0..<140_000 {
            let count = i % 9973 == 0 ? Int64(UInt32.max) + Int64(i) : Int64.random(in: 1...50, using: &rng)
            Array(" w\(i * 7919 % 140_000)".utf8).withUnsafeBytes { counter.add(word: $0, count: count) }
        }
        Array("x".utf8).withUnsafeBytes { counter.add(word: $0, count: 3) }  // one byte: no pair, left out
        let one = MergeLearner<UInt16>.loadWords(counter, threads: 1)
        let three = MergeLearner<UInt16>.loadWords(counter, threads: 3)
        defer {
            for words in [one, three] {
                words.symbols.deallocate()
                words.words.entries.deallocate()
            }
        }
        #expect(one.n == 140_000 && three.n == one.n)
        #expect((0...2 * one.n).allSatisfy { one.words.entries[$0] == three.words.entries[$0] })
        #expect((0..<one.words.end(one.n - 1)).allSatisfy { one.symbols[$0] == three.symbols[$0] })
        #expect((0..<one.n).allSatisfy { one.words.count($0) == three.words.count($0) })
        #expect(one.words.large.count == 15 && one.words.large == three.words.large)
        var trainer = try BPETrainer(vocabSize: 256 + 40 + 1)
        trainer.parallelMinimumHolders = 1
        #expect(merges(trainer, counter, threads: 2) == merges(trainer, counter, threads: 1))
    }
}

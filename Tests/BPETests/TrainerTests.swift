// The fast trainer: the Wikipedia example with exact merges and ids, identity with the naive
// reference trainer on the fixture and on random texts (many ties), settings errors, early stop,
// and parallel word counting.
import BPE
import Foundation
import Testing

@Suite struct TrainerTests {
    /// a = 64, b = 65, c = 66, d = 67 in byte-level order.
    @Test func wikipediaExample() throws {
        let counter = countWords(["aaabdaaabac"])
        let tokenizer = try BPETrainer(vocabSize: 256 + 3 + 1).train(counter)
        // (a,a) 4 times; then (aa,a) and (a,b) tie at 2 and the smaller pair (a,b) wins.
        #expect(tokenizer.merges.map { [$0.0, $0.1] } == [[64, 64], [64, 65], [256, 257]])
        #expect(tokenizer.encode("aaabdaaabac") == [258, 67, 258, 64, 66])
        #expect(tokenizer.vocabSize == 260)
        #expect(tokenizer.eotId == 259)
    }

    /// The word table of HF's `test_train` (trainer.rs): 're' (3), then 'are' and 'is' tie at 2
    /// and the smaller pair (a = 64, re = 256) < (i = 72, s = 82) goes first, as in HF.
    @Test func huggingFaceWordTable() throws {
        let table: [(String, Int64)] = [
            ("roses", 1), ("are", 2), ("red", 1), ("voilets", 1), ("blue", 1), ("BERT", 1),
            ("is", 2), ("big", 1), ("and", 1), ("so", 1), ("GPT-2", 1),
        ]
        let counter = WordCounter()
        for (word, count) in table {
            Array(word.utf8).withUnsafeBytes { counter.add(word: $0, count: count) }
        }
        let tokenizer = try BPETrainer(vocabSize: 256 + 3 + 1).train(counter)
        #expect(tokenizer.merges.map { [$0.0, $0.1] } == [[81, 68], [64, 256], [72, 82]])
        #expect(
            tokenizer.merges.map { tokenizer.tokenString($0.0) + tokenizer.tokenString($0.1) }
                == ["re", "are", "is"])
    }

    @Test func baseIdsFollowByteLevelOrder() {
        #expect(ByteLevel.idOfByte == ReferenceTrainer.idOfByte)
        #expect(ByteLevel.idOfByte[Int(UInt8(ascii: "!"))] == 0)
        #expect(ByteLevel.idOfByte[Int(UInt8(ascii: "~"))] == 93)
        #expect(ByteLevel.string(of: Array(" hi\n".utf8)) == "\u{120}hi\u{10A}")
    }

    @Test func matchesReferenceOnFixture() throws {
        let documents = try fixtureDocuments("edge_cases.txt")
        let fast = try BPETrainer(vocabSize: 256 + 300 + 1).train(countWords(documents))
        let slow = ReferenceTrainer.train(
            wordCounts: ReferenceTrainer.wordCounts(documents), mergeCount: 300)
        #expect(fast.merges.map { [$0.0, $0.1] } == slow.map { [$0.0, $0.1] })
    }

    @Test(arguments: 0..<12) func matchesReferenceOnRandomTexts(seed: Int) throws {
        var rng = SeededGenerator(seed: UInt64(seed))
        let documents = (0..<Int.random(in: 1...6, using: &rng)).map { _ in
            seed % 2 == 0
                ? randomSmallAlphabetText(Int.random(in: 0...120, using: &rng), &rng)
                : randomText(Int.random(in: 0...60, using: &rng), &rng)
        }
        let mergeCount = Int.random(in: 1...80, using: &rng)
        let fast = try BPETrainer(vocabSize: 256 + mergeCount + 1).train(countWords(documents))
        let slow = ReferenceTrainer.train(
            wordCounts: ReferenceTrainer.wordCounts(documents), mergeCount: mergeCount)
        #expect(fast.merges.map { [$0.0, $0.1] } == slow.map { [$0.0, $0.1] })
    }

    @Test func rejectsTooSmallVocabulary() {
        #expect(throws: BPEError.vocabularyTooSmall(requested: 256, minimum: 257)) {
            try BPETrainer(vocabSize: 256)
        }
        let message = BPEError.vocabularyTooSmall(requested: 256, minimum: 257).description
        #expect(message.contains("at least 257"))
        // Too large: an error before anything is allocated (4294967295 used to trap).
        for huge in [BPETrainer.maxVocabSize + 1, 4_294_967_295, Int.max] {
            #expect(throws: BPEError.vocabularyTooLarge(requested: huge, maximum: BPETrainer.maxVocabSize)) {
                try BPETrainer(vocabSize: huge)
            }
        }
        #expect(throws: BPEError.invalidSpecialToken("")) {
            try BPETrainer(vocabSize: 300, specialTokens: [""])
        }
    }

    @Test func smallestVocabularyHasNoMerges() throws {
        let tokenizer = try BPETrainer(vocabSize: 257).train(countWords(["hello hello"]))
        #expect(tokenizer.merges.isEmpty)
        #expect(tokenizer.eotId == 256)
        #expect(tokenizer.decode(tokenizer.encode("hello")) == Array("hello".utf8))
    }

    @Test func stopsWhenNoPairIsLeft() throws {
        var calls: [(Int, Int)] = []
        let tokenizer = try BPETrainer(vocabSize: 1000).train(countWords(["ab ab"])) {
            calls.append(($0, $1))
        }
        #expect(tokenizer.merges.map { [$0.0, $0.1] } == [[64, 65], [220, 256]])
        #expect(tokenizer.vocabSize == 256 + 2 + 1)
        #expect(calls.last?.0 == 2 && calls.last?.1 == 1000 - 257)
    }

    @Test func parallelCountingEqualsSequential() throws {
        var rng = SeededGenerator(seed: 7)
        let documents = (0..<40).map { _ in Array(randomText(30, &rng).utf8) }
        let parallel = WordCounter.count(documentCount: documents.count, threads: 2) { i, body in
            documents[i].withUnsafeBytes { body($0) }
        }
        let sequential = WordCounter()
        for doc in documents { doc.withUnsafeBytes { sequential.add(document: $0) } }
        #expect(parallel.uniqueWords == sequential.uniqueWords)
        #expect(parallel.totalWords == sequential.totalWords)
        var counts: [[UInt8]: Int64] = [:]
        sequential.forEachWord { counts[Array($0)] = $1 }
        parallel.forEachWord { #expect(counts[Array($0)] == $1) }
        let a = try BPETrainer(vocabSize: 400).train(parallel)
        let b = try BPETrainer(vocabSize: 400).train(sequential)
        #expect(a.merges.map { [$0.0, $0.1] } == b.merges.map { [$0.0, $0.1] })
    }
}

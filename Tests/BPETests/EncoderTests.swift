// Encoding: decode(encode(s)) == s for any text and any bytes (property tests, tiktoken style),
// the scan and heap merge paths agree, long repetitive input, plain-text special tokens, and
// document-parallel encoding that keeps the order.
import Basics
import Foundation
import PropertyBased
import Testing

@testable import BPE

@Suite struct EncoderTests {
    static let tokenizer: Tokenizer = {
        var rng = SeededGenerator(seed: 3)
        var documents = (0..<30).map { _ in randomText(40, &rng) }
        do { documents += try fixtureDocuments("edge_cases.txt") } catch { Issue.record(error) }
        return try! BPETrainer(vocabSize: 256 + 400 + 1).train(countWords(documents))
    }()

    @Test func roundTripsArbitraryText() async {
        let tokenizer = Self.tokenizer
        // Any scalar value; surrogate code points (not scalars) become U+FFFD.
        let scalars = Gen<UInt32>.value(in: 0...0x10FFFF).map { Unicode.Scalar($0) ?? "\u{FFFD}" }
        let snippets = Gen<String?>.element(of: trickySnippets)
        await propertyCheck(
            count: propertyExamples, input: scalars.array(of: 0...40), snippets.array(of: 0...20)
        ) { scalars, snippets in
            let text = String(String.UnicodeScalarView(scalars)) + snippets.compactMap { $0 }.joined()
            #expect(tokenizer.decode(tokenizer.encode(text)) == Array(text.utf8))
        }
    }

    @Test func roundTripsArbitraryBytes() async {
        let encoder = Self.tokenizer.makeEncoder()
        let bytes = Gen<UInt8>.value(in: 0...255).array(of: 0...80)
        await propertyCheck(count: propertyExamples, input: bytes) { bytes in
            var ids: [UInt32] = []
            bytes.withUnsafeBytes { encoder.encode($0, into: &ids) }
            #expect(Self.tokenizer.decode(ids) == bytes)
        }
    }

    @Test func scanAndHeapPathsAgree() {
        let encoder = Self.tokenizer.makeEncoder()
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<200 {
            let piece = Array(randomSmallAlphabetText(Int.random(in: 1...30, using: &rng), &rng).utf8)
            let scanned = piece.withUnsafeBytes { raw -> [UInt32] in
                encoder.mergePiece(raw.baseAddress!, raw.count)
                return encoder.scratch
            }
            let heaped = piece.withUnsafeBytes { raw -> [UInt32] in
                encoder.mergePiece(raw.baseAddress!, raw.count, forceHeap: true)
                return encoder.scratch
            }
            #expect(scanned == heaped)
        }
    }

    @Test func longRepetitiveInput() {
        let text = String(repeating: "a", count: 20_000) + String(repeating: "!?", count: 5_000)
        let ids = Self.tokenizer.encode(text)
        #expect(Self.tokenizer.decode(ids) == Array(text.utf8))
    }

    @Test func specialTokenTextIsPlainText() {
        let tokenizer = Self.tokenizer
        let ids = tokenizer.encode("a<|endoftext|>b")
        #expect(!ids.contains(tokenizer.eotId))
        #expect(tokenizer.decode([tokenizer.eotId]) == Array("<|endoftext|>".utf8))
    }

    @Test func encodeDocumentsKeepsOrder() {
        var rng = SeededGenerator(seed: 9)
        let documents = (0..<50).map { _ in Array(randomText(Int.random(in: 0...50, using: &rng), &rng).utf8) }
        let parallel = encodeDocuments(Self.tokenizer, documents, threads: 2)
        let encoder = Self.tokenizer.makeEncoder()
        for (doc, ids) in zip(documents, parallel) {
            var expected: [UInt32] = []
            doc.withUnsafeBytes { encoder.encode($0, into: &expected) }
            #expect(ids == expected)
        }
    }

    /// The reused buffer of each thread holds exactly one document's ids at a time: a short
    /// document after a long one shows none of the long one's ids, and each document is seen once.
    @Test func forEachEncodedDocumentReusesItsBufferCleanly() {
        var rng = SeededGenerator(seed: 11)
        let documents = (0..<60).map { i in
            Array(randomText(i % 3 == 0 ? 400 : Int.random(in: 0...8, using: &rng), &rng).utf8)
        }
        let seen = ResultSlots<[UInt32]>(count: documents.count)
        let calls = ResultSlots<Int>(count: documents.count)
        for threads in [1, 2] {
            forEachEncodedDocument(Self.tokenizer, count: documents.count, threads: threads) { i, body in
                documents[i].withUnsafeBytes { body($0) }
            } consume: { i, ids in
                seen[i] = Array(ids)
                calls[i] = (calls[i] ?? 0) + 1
            }
            for (i, doc) in documents.enumerated() {
                #expect(seen[i] == Self.tokenizer.encode(String(decoding: doc, as: UTF8.self)), "document \(i)")
            }
        }
        #expect(calls.values.allSatisfy { $0 == 2 })
    }
}

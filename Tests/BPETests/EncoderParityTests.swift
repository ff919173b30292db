import BPE
import Foundation
import PropertyBased
import TestSupport
import Testing

// The encoder's exactness: the same ids as a naive reference encoder (the rank-greedy merge
// written plainly, with a dictionary of merges and arrays) on random Unicode text, random bytes
// (invalid UTF-8 included) and the bundled corpus, with caches small enough to be emptied and
// regrown; and the same ids as tiktoken built from our merges (bench/bpe_reference.py's
// `same-ids`, the check bench/bpe.sh makes) on random text.
@testable import BPE

/// The rank-greedy BPE of each pre-token piece, without any cache or buffer tricks.
struct ReferenceEncoder {
    let ranks: [UInt64: Int]

    init(_ tokenizer: Tokenizer) {
        var ranks: [UInt64: Int] = [:]
        for (rank, (left, right)) in tokenizer.merges.enumerated() {
            ranks[UInt64(left) << 32 | UInt64(right)] = rank
        }
        self.ranks = ranks
    }

    func encode(_ bytes: [UInt8]) -> [UInt32] {
        var ids: [UInt32] = []
        bytes.withUnsafeBytes { raw in
            PreTokenizer.forEachPiece(raw) { start, end in
                ids += merge(bytes[start..<end].map { ReferenceTrainer.idOfByte[Int($0)] })
            }
        }
        return ids
    }

    /// Merges the lowest-ranked adjacent pair (the leftmost on ties) until none is a merge.
    func merge(_ piece: [UInt32]) -> [UInt32] {
        var parts = piece
        while parts.count > 1 {
            var best: (rank: Int, at: Int)? = nil
            for i in 0..<(parts.count - 1) {
                if let r = ranks[UInt64(parts[i]) << 32 | UInt64(parts[i + 1])], r < (best?.rank ?? Int.max) {
                    best = (r, i)
                }
            }
            guard let (rank, at) = best else { break }
            parts[at] = UInt32(256 + rank)
            parts.remove(at: at + 1)
        }
        return parts
    }
}

@Suite struct EncoderParityTests {
    /// A tokenizer with enough merges that many words take four ids or more.
    static let tokenizer: Tokenizer = {
        var rng = SeededGenerator(seed: 21)
        var documents = (0..<60).map { _ in randomText(60, &rng) }
        documents += (0..<60).map { _ in randomSmallAlphabetText(120, &rng) }
        do { documents += try fixtureDocuments("edge_cases.txt") } catch { Issue.record(error) }
        return try! BPETrainer(vocabSize: 256 + 1500 + 1).train(countWords(documents))
    }()
    static let reference = ReferenceEncoder(tokenizer)

    /// Long id lists compared with a short message: where they first differ.
    func expectSameIds(
        _ ids: [UInt32], _ expected: [UInt32], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let difference = (0..<min(ids.count, expected.count)).first { ids[$0] != expected[$0] }
        #expect(ids.count == expected.count, sourceLocation: sourceLocation)
        #expect(difference == nil, "first difference at id \(difference ?? 0)", sourceLocation: sourceLocation)
    }

    /// Ids from an encoder whose caches hold only a few pieces, so they replace pieces and empty often.
    func smallCacheIds(_ encoder: Encoder, _ bytes: [UInt8]) -> [UInt32] {
        var ids: [UInt32] = [7]
        bytes.withUnsafeBytes { encoder.encode($0, into: &ids) }
        return Array(ids.dropFirst())
    }

    @Test func sameIdsAsTheReferenceOnRandomText() async {
        let encoder = Encoder(Self.tokenizer, cachedWords: 40, cachedLongWords: 4)
        let scalars = Gen<UInt32>.value(in: 0...0x10FFFF).map { Unicode.Scalar($0) ?? "\u{FFFD}" }
        let snippets = Gen<String?>.element(of: trickySnippets + ["aaaa", "abab", "babababa", " aab"])
        await propertyCheck(
            count: propertyExamples, input: scalars.array(of: 0...30), snippets.array(of: 0...60)
        ) { scalars, snippets in
            let text = String(String.UnicodeScalarView(scalars)) + snippets.compactMap { $0 }.joined()
            let bytes = Array(text.utf8)
            #expect(smallCacheIds(encoder, bytes) == Self.reference.encode(bytes), "\(text.debugDescription)")
        }
    }

    /// With 16-bit ids in the cache slots (six fit; this vocabulary allows it) and with 32-bit
    /// ones (three fit, as for a vocabulary past 2^16).
    @Test(arguments: [true, false]) func sameIdsAsTheReferenceOnRandomBytes(narrowIds: Bool) async {
        let encoder = Encoder(Self.tokenizer, cachedWords: 40, cachedLongWords: 4, narrowIds: narrowIds)
        // Mostly letters and spaces (long words, cache hits), with any byte mixed in.
        let byte = Gen<UInt8?>.element(of: Array("aabbc  é'".utf8) + [0x80, 0xC3, 0xFF, 0x00])
            .map { $0 ?? 0x61 }
        let anyByte = Gen<UInt8>.value(in: 0...255)
        await propertyCheck(count: propertyExamples, input: byte.array(of: 0...200), anyByte.array(of: 0...40)) {
            let bytes = $0 + $1 + $0
            #expect(smallCacheIds(encoder, bytes) == Self.reference.encode(bytes), "\(bytes)")
        }
    }

    @Test func sameIdsAcrossTheStagingBufferAndForHugePieces() {
        let encoder = Self.tokenizer.makeEncoder()
        var rng = SeededGenerator(seed: 23)
        var bytes: [UInt8] = []
        while bytes.count < 3 * Encoder.stagedCapacity {
            bytes += Array(randomSmallAlphabetText(Int.random(in: 1...40, using: &rng), &rng).utf8)
        }
        bytes += [UInt8](repeating: 0x61, count: Encoder.stagedCapacity + 5) + Array(" ab ab".utf8)
        bytes += [UInt8](repeating: 0x20, count: 300) + Array("x".utf8)
        expectSameIds(smallCacheIds(encoder, bytes), Self.reference.encode(bytes))
    }

    @Test func sameIdsWhenBytePairsRankPastSixteenBits() throws {
        // Every pair of bytes merges; "th" and "he" last, at ranks 65534 and 65535, past what
        // the encoder's 16-bit table of byte-pair ranks holds itself.
        let late: [(UInt8, UInt8)] = [(0x74, 0x68), (0x68, 0x65)]
        var merges: [(UInt32, UInt32)] = []
        for a in 0..<256 {
            for b in 0..<256 where !late.contains(where: { Int($0.0) == a && Int($0.1) == b }) {
                merges.append((ReferenceTrainer.idOfByte[a], ReferenceTrainer.idOfByte[b]))
            }
        }
        var rng = SeededGenerator(seed: 29)
        merges.shuffle(using: &rng)
        merges += late.map { (ReferenceTrainer.idOfByte[Int($0.0)], ReferenceTrainer.idOfByte[Int($0.1)]) }
        let tokenizer = try Tokenizer(merges: merges)
        let reference = ReferenceEncoder(tokenizer)
        var text = ""
        for _ in 0..<400 { text += ["the", " other", " then", "theme", " hethe", " x"].randomElement(using: &rng)! }
        text += randomText(200, &rng)
        let bytes = Array(text.utf8)
        #expect(smallCacheIds(tokenizer.makeEncoder(), bytes) == reference.encode(bytes))
    }

    @Test(.tags(.slow)) func sameIdsAsTheReferenceOnTheBundledCorpus() throws {
        let text = try bundledCorpusText()
        let documents = text.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        let counter = WordCounter()
        for doc in documents.prefix(documents.count / 4) { doc.withUnsafeBytes { counter.add(document: $0) } }
        let tokenizer = try BPETrainer(vocabSize: 4096).train(counter)
        let reference = ReferenceEncoder(tokenizer)
        let expected = documents.map { reference.encode($0) }
        let encoder = Encoder(tokenizer, cachedWords: 1000, cachedLongWords: 10)
        expectSameIds(documents.flatMap { smallCacheIds(encoder, $0) }, expected.flatMap { $0 })
        let parallel = encodeDocuments(tokenizer, documents, threads: 2)
        #expect(parallel.map(\.count) == expected.map(\.count))
        expectSameIds(parallel.flatMap { $0 }, expected.flatMap { $0 })
    }

    @Test(.requires("python3 with the tiktoken package", pythonCanImport("tiktoken")))
    func sameIdsAsTiktoken() throws {
        var rng = SeededGenerator(seed: 29)
        var texts = (0..<300).map { _ in randomText(Int.random(in: 0...80, using: &rng), &rng) }
        texts += try fixtureDocuments("edge_cases.txt")
        texts += (0..<100).map { _ in randomSmallAlphabetText(200, &rng) }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokenizerFile = dir.appendingPathComponent("tokenizer.json")
        try Self.tokenizer.tokenizerJSON().write(to: tokenizerFile)
        let docs = dir.appendingPathComponent("docs")
        try FileManager.default.createDirectory(at: docs, withIntermediateDirectories: true)
        for (i, text) in texts.enumerated() {
            try Data(text.utf8).write(to: docs.appendingPathComponent(String(format: "%05d.txt", i)))
        }
        let ids = encodeDocuments(Self.tokenizer, texts.map { Array($0.utf8) }, threads: 2)
        let lines = ids.map { "[" + $0.map(String.init).joined(separator: ",") + "]\n" }.joined()
        let idsFile = dir.appendingPathComponent("ids.jsonl")
        try Data(lines.utf8).write(to: idsFile)
        let out = try runProcess(
            "python3",
            [packageRoot + "/bench/bpe_reference.py", "same-ids", tokenizerFile.path, docs.path, idsFile.path])
        let result = try JSONSerialization.jsonObject(with: out) as! [String: Any]
        #expect(result["documents"] as? Int == texts.count)
        #expect(result["identical"] as? Bool == true, "differing documents: \(result["differing"] ?? "")")
    }
}

// Parity with HF tokenizers (python `tokenizers`; without it skipped with a warning, failed under CI=true):
// the BpeTrainer (ByteLevel, add_prefix_space False, GPT-2 regex, full byte alphabet, no special
// tokens, vocab_size V - 1) learns our merges, merge for merge; and `Tokenizer.from_file` on our
// tokenizer.json encodes texts to our ids. The bundled corpus will join these documents later.
import BPE
import Foundation
import TestSupport
import Testing

private let trainScript = """
    import json, sys
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    docs = json.load(open(sys.argv[1], encoding="utf-8"))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=int(sys.argv[2]) - 1, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=int(sys.argv[3]))
    tok.train_from_iterator(docs, trainer)
    merges = json.loads(tok.to_str())["model"]["merges"]
    print(json.dumps([m if isinstance(m, list) else m.split(" ") for m in merges]))
    """

private let encodeScript = """
    import json, sys
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(sys.argv[1])
    texts = json.load(open(sys.argv[2], encoding="utf-8"))
    print(json.dumps([tok.encode(t).ids for t in texts]))
    """

@Suite(.requires("python3 with the tokenizers package", pythonHasTokenizers))
struct HuggingFaceParityTests {
    /// HF's merges for `documents` at vocabulary size V (HF trains V - 1 without the special).
    func huggingFaceMerges(_ documents: [String], vocabSize: Int, minFrequency: Int = 0) throws -> [[String]] {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("docs.json")
        try JSONSerialization.data(withJSONObject: documents).write(to: file)
        let out = try runPython(trainScript, [file.path, String(vocabSize), String(minFrequency)])
        return try JSONSerialization.jsonObject(with: out) as! [[String]]
    }

    func ourMerges(_ documents: [String], vocabSize: Int, minFrequency: Int = 0, threads: Int = 2) throws
        -> [[String]]
    {
        let tokenizer = try BPETrainer(vocabSize: vocabSize, minFrequency: minFrequency)
            .train(countWords(documents), threads: threads)
        return tokenizer.merges.map { [tokenizer.tokenString($0.0), tokenizer.tokenString($0.1)] }
    }

    @Test func sameMergesOnEdgeCases() throws {
        var documents = try fixtureDocuments("edge_cases.txt")
        documents.append("aaabdaaabac")
        var rng = SeededGenerator(seed: 11)
        documents += (0..<8).map { _ in randomSmallAlphabetText(80, &rng) }
        documents += (0..<8).map { _ in randomText(40, &rng) }
        let ours = try ourMerges(documents, vocabSize: 256 + 500 + 1)
        #expect(ours == (try huggingFaceMerges(documents, vocabSize: 256 + 500 + 1)))
    }

    func englishDocuments() throws -> [String] {
        let dir = "/usr/share/common-licenses"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        let documents = names.sorted().compactMap { name -> String? in
            try? String(contentsOfFile: "\(dir)/\(name)", encoding: .utf8)
        }
        try #require(!documents.isEmpty, "no English documents in \(dir)")
        return documents
    }

    @Test(arguments: [1, 2]) func sameMergesOnEnglishText(threads: Int) throws {
        let documents = try englishDocuments()
        let ours = try ourMerges(documents, vocabSize: 2048, threads: threads)
        #expect(ours.count == 2048 - 257)
        #expect(ours == (try huggingFaceMerges(documents, vocabSize: 2048)))
    }

    /// HF's min_frequency: both stop at the first pair seen fewer times, long before V.
    @Test(arguments: [2, 7, 40]) func sameMergesWithMinFrequency(minFrequency: Int) throws {
        let documents = try englishDocuments()
        let ours = try ourMerges(documents, vocabSize: 30_000, minFrequency: minFrequency)
        #expect(ours.count < 30_000 - 257)
        #expect(ours == (try huggingFaceMerges(documents, vocabSize: 30_000, minFrequency: minFrequency)))
    }

    @Test func huggingFaceLoadsOurFileAndGivesOurIds() throws {
        let documents = try fixtureDocuments("edge_cases.txt")
        var rng = SeededGenerator(seed: 13)
        let tokenizer = try BPETrainer(vocabSize: 256 + 300 + 1).train(
            countWords(documents + (0..<20).map { _ in randomText(40, &rng) }))
        var texts = documents + ["", "Hello world", "  spaces  ", "It's 1,234.5!"]
        texts += (0..<20).map { _ in randomText(30, &rng) }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("tokenizer.json")
        try tokenizer.tokenizerJSON().write(to: file)
        let textsFile = dir.appendingPathComponent("texts.json")
        try JSONSerialization.data(withJSONObject: texts).write(to: textsFile)
        let out = try runPython(encodeScript, [file.path, textsFile.path])
        let theirs = try JSONSerialization.jsonObject(with: out) as! [[Int]]
        for (text, ids) in zip(texts, theirs) {
            #expect(tokenizer.encode(text).map(Int.init) == ids, "\(text)")
        }
        let loaded = try Tokenizer.load(tokenizerJSON: Data(contentsOf: file))
        #expect(loaded.tokenizerJSON() == tokenizer.tokenizerJSON())
    }
}

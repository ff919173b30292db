// tokenizer.json: deterministic output, a save/load round trip in Swift, and clear errors for
// files this module cannot use.
import BPE
import Foundation
import Testing

@Suite struct TokenizerJSONTests {
    static func trained() throws -> Tokenizer {
        try BPETrainer(vocabSize: 256 + 200 + 1).train(countWords(fixtureDocuments("edge_cases.txt")))
    }

    @Test func roundTrips() throws {
        let tokenizer = try Self.trained()
        let json = tokenizer.tokenizerJSON()
        #expect(json == tokenizer.tokenizerJSON())
        let loaded = try Tokenizer.load(tokenizerJSON: json)
        #expect(loaded.merges.map { [$0.0, $0.1] } == tokenizer.merges.map { [$0.0, $0.1] })
        #expect(loaded.specialTokens == ["<|endoftext|>"])
        #expect(loaded.vocabSize == tokenizer.vocabSize)
        #expect(loaded.eotId == UInt32(tokenizer.vocabSize - 1))
        let text = try fixture("edge_cases.txt")
        #expect(loaded.encode(text) == tokenizer.encode(text))
        #expect(loaded.tokenizerJSON() == json)
    }

    @Test func writesHuggingFaceLayout() throws {
        let tokenizer = try Self.trained()
        let root = try JSONSerialization.jsonObject(with: tokenizer.tokenizerJSON()) as! [String: Any]
        let model = root["model"] as! [String: Any]
        let vocab = model["vocab"] as! [String: Int]
        #expect(vocab.count == tokenizer.vocabSize)
        #expect(vocab["!"] == 0 && vocab["\u{120}"] == 220 && vocab["<|endoftext|>"] == 456)
        #expect(model["ignore_merges"] as? Bool == false)
        let added = (root["added_tokens"] as! [[String: Any]])[0]
        #expect(added["id"] as? Int == 456 && added["special"] as? Bool == true)
        let pre = root["pre_tokenizer"] as! [String: Any]
        #expect(pre["type"] as? String == "ByteLevel" && pre["add_prefix_space"] as? Bool == false)
    }

    @Test func rejectsOtherFiles() throws {
        #expect(throws: BPEError.self) { try Tokenizer.load(tokenizerJSON: Data("[]".utf8)) }
        #expect(throws: BPEError.self) {
            try Tokenizer.load(tokenizerJSON: Data(#"{"model": {"type": "WordPiece"}}"#.utf8))
        }
        var text = String(decoding: try Self.trained().tokenizerJSON(), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"!\": 0", with: "\"!\": 7")
        #expect(throws: BPEError.self) { try Tokenizer.load(tokenizerJSON: Data(text.utf8)) }
    }

    @Test func rejectsMergesOfUnknownTokens() {
        #expect(throws: BPEError.self) { try Tokenizer(merges: [(1, 256)]) }
    }
}

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

    /// A merge naming a token with a negative or later id is an error, not a trap.
    @Test func rejectsMergesOfOutOfRangeIds() throws {
        let json = try Self.trained().tokenizerJSON()
        var root = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        var model = try #require(root["model"] as? [String: Any])
        var vocab = try #require(model["vocab"] as? [String: Int])
        var merges = try #require(model["merges"] as? [[String]])
        // A last merge joins "qq", a token no merge makes, and "t" into the next id.
        merges.append(["qq", "t"])
        model["merges"] = merges
        vocab["qqt"] = 256 + merges.count - 1
        for id in [-1, Int(UInt32.max) + 5, 10_000] {
            vocab["qq"] = id
            model["vocab"] = vocab
            root["model"] = model
            let bad = try JSONSerialization.data(withJSONObject: root)
            #expect(throws: BPEError.self) { try Tokenizer.load(tokenizerJSON: bad) }
        }
    }

    @Test func rejectsVocabulariesBeyondTwoToTheTwenty() throws {
        // Valid merges of tokens of at most three bytes, one more than fits (the limit is
        // checked before anything else, so this is quick).
        let fits = (1 << 20) - 256 - 1
        let merges = (0...fits).map { (i: Int) -> (UInt32, UInt32) in
            let right = i < 65_536 ? i / 256 : 256 + i % 65_536
            return (UInt32(i % 256), UInt32(right))
        }
        let e = #expect(throws: BPEError.self) { try Tokenizer(merges: merges) }
        #expect("\(e!)".contains("1048577 tokens are more than the 1048576"), "\(e!)")
    }

    @Test func missingOrUnreadableFilesNameTheFile() throws {
        let dir = NSTemporaryDirectory() + "tokjson-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for path in [dir + "/missing.json", dir] {
            let e = #expect(throws: BPEError.self) { try Tokenizer.load(path: path) }
            let message = "\(e!)"
            #expect(message.hasPrefix(path + ": cannot read the tokenizer ("), "\(message)")
            #expect(message.contains("--force") && !message.contains("NSCocoaErrorDomain"))
        }
        try Data("{}".utf8).write(to: URL(fileURLWithPath: dir + "/bad.json"))
        let e = #expect(throws: BPEError.self) { try Tokenizer.load(path: dir + "/bad.json") }
        #expect("\(e!)".contains(dir + "/bad.json: "))
        let good = dir + "/good.json"
        try Self.trained().tokenizerJSON().write(to: URL(fileURLWithPath: good))
        #expect(try Tokenizer.load(path: good).vocabSize == 457)
    }
}

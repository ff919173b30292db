// Fuzzing tokenizer.json loading: thousands of byte-mutated files and of structurally mutated
// ones (ids, merges, special tokens and types changed in the parsed JSON). Every input either
// loads a tokenizer that encodes and decodes, or fails with a BPEError. No trap, no hang.
import BPE
import Basics
import Foundation
import TestSupport
import Testing

/// Longest a single input may take before it counts as a hang.
private let hangBound = Duration.seconds(5)

/// Loads `data`; a loaded tokenizer must round-trip text. Returns whether it loaded.
private func check(_ data: Data, _ n: Int) -> Bool {
    let start = ContinuousClock.now
    defer { #expect(ContinuousClock.now - start < hangBound, "input \(n) took too long") }
    do {
        let tokenizer = try Tokenizer.load(tokenizerJSON: data)
        let text = "Hello, wörld! 42 <|endoftext|> tabs\tand  spaces"
        let ids = tokenizer.encode(text)
        #expect(ids.allSatisfy { Int($0) < tokenizer.vocabSize }, "input \(n)")
        #expect(String(decoding: tokenizer.decode(ids), as: UTF8.self) == text, "input \(n)")
        return true
    } catch let error as BPEError {
        #expect(!error.description.isEmpty)
    } catch {
        Issue.record("input \(n): not a BPEError: \(error)")
    }
    return false
}

struct TokenizerFuzzTests {
    static func seedJSON() throws -> Data {
        let docs = ["the cat sat on the mat", "the dog sat on the log", "cats and dogs", "a\ttab and\nlines"]
        return try BPETrainer(vocabSize: 256 + 24 + 1).train(countWords(docs)).tokenizerJSON()
    }

    @Test func byteMutatedFilesLoadOrFailWithABPEError() throws {
        let seed = [UInt8](try Self.seedJSON())
        var mutator = Mutator(seed: 1)
        var loaded = 0
        for n in 0..<1500 where check(Data(mutator.mutate(seed, maxEdits: 3)), n) { loaded += 1 }
        #expect(loaded > 0)  // some edits (inside a string of the vocab, say) leave a valid file
    }

    @Test func structurallyMutatedFilesLoadOrFailWithABPEError() throws {
        let root = try #require(try JSONSerialization.jsonObject(with: Self.seedJSON()) as? [String: Any])
        var mutator = Mutator(seed: 2)
        let values: [Any] = [
            -1, 0, 1, 255, 256, 257, 280, 281, Int(Int32.max), Int(UInt32.max) + 1, Int.max, Int.min, 1.5, "x", "",
            NSNull(),
            [Any](), [String: Any](), true, ["a", "b"], ["Ġ", "t"],
        ]
        func anyValue() -> Any { values[mutator.int(values.count)] }
        var loaded = 0
        for n in 0..<1200 {
            var r = root
            var model = r["model"] as! [String: Any]
            var vocab = model["vocab"] as! [String: Int]
            var merges = model["merges"] as! [[String]]
            var added = r["added_tokens"] as! [[String: Any]]
            for _ in 0..<(1 + mutator.int(3)) {
                switch mutator.int(11) {
                case 0:  // an id changed
                    let key = Array(vocab.keys)[mutator.int(vocab.count)]
                    vocab[key] = [-1, 0, 255, 256, 300, Int(UInt32.max) + 7, Int.max][mutator.int(7)]
                case 1:  // a token removed or added
                    if mutator.int(2) == 0 {
                        vocab.removeValue(forKey: Array(vocab.keys)[mutator.int(vocab.count)])
                    } else {
                        vocab["zz\(n)"] = mutator.int(400)
                    }
                case 2 where !merges.isEmpty:  // merges swapped, dropped or duplicated
                    let i = mutator.int(merges.count)
                    let j = mutator.int(merges.count)
                    switch mutator.int(3) {
                    case 0: merges.swapAt(i, j)
                    case 1: merges.remove(at: i)
                    default: merges.insert(merges[j], at: i)
                    }
                case 3 where !merges.isEmpty:  // a merge of one, three or unknown parts
                    let i = mutator.int(merges.count)
                    merges[i] = [[merges[i][0]], merges[i] + ["x"], ["nope", merges[i][1]], []][mutator.int(4)]
                case 4:  // the special token's id or content
                    if !added.isEmpty {
                        added[0][["id", "content"][mutator.int(2)]] = anyValue()
                    }
                case 5:  // special tokens repeated or removed
                    added = mutator.int(2) == 0 ? added + added : []
                case 6:  // a top-level or model key replaced by another type
                    let keys = ["model", "pre_tokenizer", "added_tokens", "decoder"]
                    r[keys[mutator.int(keys.count)]] = anyValue()
                case 7:
                    let keys = ["type", "vocab", "merges"]
                    model[keys[mutator.int(keys.count)]] = anyValue()
                case 8:  // merges as "left right" strings, HF's older spelling
                    model["merges"] = merges.map { $0.joined(separator: " ") }
                case 9:  // a last merge of a token no merge makes, with any id, into the next id
                    let left = "q\(mutator.int(4))"
                    vocab[left] = [-1, 0, 300, Int(UInt32.max) + 1, Int.min, 256 + merges.count][mutator.int(6)]
                    let right = Array(vocab.keys)[mutator.int(vocab.count)]
                    merges.append([left, right])
                    vocab[left + right] = 256 + merges.count - 1
                default:  // a byte token renamed
                    if let key = vocab.keys.filter({ $0.count == 1 }).randomElement(using: &mutator.rng) {
                        vocab["\(key)\(key)"] = vocab.removeValue(forKey: key)
                    }
                }
            }
            if model["vocab"] is [String: Int] { model["vocab"] = vocab }
            if model["merges"] is [[String]] { model["merges"] = merges }
            if r["model"] is [String: Any] { r["model"] = model }
            if r["added_tokens"] is [[String: Any]] { r["added_tokens"] = added }
            let data = try JSONSerialization.data(withJSONObject: r)
            if check(data, n) { loaded += 1 }
        }
        #expect(loaded > 0)
    }
}

// Saving and loading HF tokenizers' `tokenizer.json` (tokenizers/src/tokenizer/serialization.rs
// and models/bpe/serialization.rs): a BPE model with vocab and merges, the ByteLevel
// pre-tokenizer (add_prefix_space false, GPT-2 regex) and decoder, and the special tokens as
// added tokens at the end of the vocabulary. `Tokenizer.from_file` loads what we write and
// gives our ids; the writer is hand-rolled so the bytes are deterministic (vocab in id order).
import Foundation

extension Tokenizer {
    /// The tokenizer as HF `tokenizer.json` bytes (deterministic).
    public func tokenizerJSON() -> Data {
        var s = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
        s += "  \"added_tokens\": ["
        for (k, token) in specialTokens.enumerated() {
            s += k == 0 ? "\n" : ",\n"
            s += "    {\"id\": \(256 + merges.count + k), \"content\": \(jsonString(token)), "
            s += "\"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
            s += "\"normalized\": false, \"special\": true}"
        }
        s += specialTokens.isEmpty ? "],\n" : "\n  ],\n"
        s += "  \"normalizer\": null,\n"
        s += "  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
        s += "\"trim_offsets\": true, \"use_regex\": true},\n"
        s += "  \"post_processor\": null,\n"
        s += "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
        s += "\"trim_offsets\": true, \"use_regex\": true},\n"
        s += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
        s += "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n"
        s += "    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n"
        s += "    \"vocab\": {"
        for id in 0..<vocabSize {
            s += id == 0 ? "\n      " : ",\n      "
            s += "\(jsonString(tokenString(UInt32(id)))): \(id)"
        }
        s += "\n    },\n    \"merges\": ["
        for (i, (left, right)) in merges.enumerated() {
            s += i == 0 ? "\n      " : ",\n      "
            s += "[\(jsonString(tokenString(left))), \(jsonString(tokenString(right)))]"
        }
        s += merges.isEmpty ? "]\n  }\n}\n" : "\n    ]\n  }\n}\n"
        return Data(s.utf8)
    }

    /// The token as tokenizer.json spells it: byte-level characters, or a special token's text.
    public func tokenString(_ id: UInt32) -> String {
        if isSpecial(id) { return specialTokens[Int(id) - 256 - merges.count] }
        return ByteLevel.string(of: bytes(of: id))
    }

    /// Loads the tokenizer.json at `path`; a missing or unreadable file, or one that is not a
    /// tokenizer, is a `BPEError` that names the file.
    public static func load(path: String) throws -> Tokenizer {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BPEError.unreadableTokenizer(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw BPEError.unreadableTokenizer(path: path, reason: "not a regular file")
        }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw BPEError.unreadableTokenizer(path: path, reason: String(cString: strerror(errno))) }
            if n == 0 { break }
            data.append(contentsOf: chunk[..<n])
        }
        do {
            return try load(tokenizerJSON: data)
        } catch BPEError.invalidTokenizerFile(let reason) {
            throw BPEError.invalidTokenizerFile("\(path): \(reason)")
        }
    }

    /// Loads a tokenizer.json written by `tokenizerJSON()` or by HF tokenizers for a byte-level
    /// BPE trained as ours is (all 256 bytes in byte-level order, merge i is token 256 + i).
    public static func load(tokenizerJSON data: Data) throws -> Tokenizer {
        let bad = { (reason: String) in BPEError.invalidTokenizerFile(reason) }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw bad("the file is not a JSON object")
        }
        guard let model = root["model"] as? [String: Any], model["type"] as? String == "BPE" else {
            throw bad("model.type is not \"BPE\"")
        }
        guard let pre = root["pre_tokenizer"] as? [String: Any], pre["type"] as? String == "ByteLevel",
            pre["add_prefix_space"] as? Bool == false, pre["use_regex"] as? Bool ?? true
        else { throw bad("pre_tokenizer is not ByteLevel with add_prefix_space false") }
        guard let vocab = model["vocab"] as? [String: Int] else { throw bad("model.vocab is missing") }
        guard let rawMerges = model["merges"] as? [Any] else { throw bad("model.merges is missing") }
        for b in 0..<256 where vocab[ByteLevel.string(of: [UInt8(b)])] != Int(ByteLevel.idOfByte[b]) {
            throw bad("byte \(b) does not have the byte-level id \(ByteLevel.idOfByte[b])")
        }
        var merges: [(UInt32, UInt32)] = []
        for (i, raw) in rawMerges.enumerated() {
            let parts: [String]
            if let pair = raw as? [String] {
                parts = pair
            } else if let line = raw as? String {
                parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else {
                throw bad("merge \(i) is neither a pair nor a string")
            }
            guard parts.count == 2, let left = vocab[parts[0]], let right = vocab[parts[1]] else {
                throw bad("merge \(i) does not name two vocabulary tokens")
            }
            guard vocab[parts[0] + parts[1]] == 256 + i else {
                throw bad("merge \(i) does not produce token \(256 + i)")
            }
            guard (0..<256 + i).contains(left), (0..<256 + i).contains(right) else {
                throw bad("merge \(i) joins tokens \(left) and \(right), but only ids 0..<\(256 + i) exist before it")
            }
            merges.append((UInt32(left), UInt32(right)))
        }
        var specials: [(Int, String)] = []
        for case let token as [String: Any] in root["added_tokens"] as? [Any] ?? [] {
            guard let id = token["id"] as? Int, let content = token["content"] as? String else {
                throw bad("an added token lacks id or content")
            }
            specials.append((id, content))
        }
        specials.sort { $0.0 < $1.0 }
        for (k, (id, content)) in specials.enumerated() where id != 256 + merges.count + k {
            throw bad("special token \(content) has id \(id), expected \(256 + merges.count + k)")
        }
        let expected = 256 + merges.count + specials.count
        guard vocab.count == expected || vocab.count == expected - specials.count else {
            throw bad("model.vocab has \(vocab.count) tokens, expected \(expected)")
        }
        return try Tokenizer(merges: merges, specialTokens: specials.map(\.1))
    }
}

/// A JSON string literal for `s`.
func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

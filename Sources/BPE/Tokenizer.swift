// A trained byte-level BPE tokenizer: the merges, the bytes of every token, and the special
// tokens. The vocabulary is derived from the merges (minbpe): ids 0..<256 are the bytes in
// GPT-2/HF byte-level order, merge i makes id 256 + i, special tokens take the last ids.
// Encoding lives in Encoder.swift, tokenizer.json in TokenizerJSON.swift.

/// An immutable tokenizer, shared by all threads; each thread encodes with its own `Encoder`.
public final class Tokenizer: Sendable {
    /// The merges in rank order: merge i joins (left, right) into token 256 + i.
    public let merges: [(UInt32, UInt32)]
    /// Special tokens, in id order, at the end of the vocabulary.
    public let specialTokens: [String]
    /// Byte offsets of each token in `tokenBytes` (count = vocabSize + 1).
    let tokenOffsets: [Int]
    let tokenBytes: [UInt8]
    /// (left, right) -> merge rank.
    let mergeRanks: RankTable

    /// The vocabulary size V = 256 + merges + special tokens.
    public var vocabSize: Int { 256 + merges.count + specialTokens.count }
    /// The id of the first special token (`<|endoftext|>` by default), V - specialTokens.count.
    public var eotId: UInt32 { UInt32(256 + merges.count) }

    /// A tokenizer from merges and special tokens; throws if a merge names a later token or
    /// the vocabulary would exceed 2^20 tokens (the trainer's limit too).
    public convenience init(merges: [(UInt32, UInt32)], specialTokens: [String] = ["<|endoftext|>"])
        throws
    {
        let size = 256 + merges.count + specialTokens.count
        guard size <= RankTable.maxVocabSize else {
            throw BPEError.invalidTokenizerFile(
                "its \(size) tokens are more than the \(RankTable.maxVocabSize) this encoder supports")
        }
        for (i, (left, right)) in merges.enumerated() where left >= 256 + i || right >= 256 + i {
            throw BPEError.invalidTokenizerFile(
                "merge \(i) joins tokens \(left) and \(right), but only ids below \(256 + i) exist")
        }
        var seen = Set<String>()
        for token in specialTokens where token.isEmpty || !seen.insert(token).inserted {
            throw BPEError.invalidSpecialToken(token)
        }
        self.init(validMerges: merges, specialTokens: specialTokens)
    }

    init(validMerges merges: [(UInt32, UInt32)], specialTokens: [String]) {
        self.merges = merges
        self.specialTokens = specialTokens
        var offsets = [0]
        var bytes: [UInt8] = []
        for id in 0..<256 {
            bytes.append(ByteLevel.byteOfId[id])
            offsets.append(bytes.count)
        }
        // Each token appends copies of earlier bytes: index by index, because appending a slice
        // of `bytes` to itself copies the whole array every time (the slice shares its storage).
        for (left, right) in merges {
            for i in offsets[Int(left)]..<offsets[Int(left) + 1] { bytes.append(bytes[i]) }
            for i in offsets[Int(right)]..<offsets[Int(right) + 1] { bytes.append(bytes[i]) }
            offsets.append(bytes.count)
        }
        for token in specialTokens {
            bytes.append(contentsOf: token.utf8)
            offsets.append(bytes.count)
        }
        tokenOffsets = offsets
        tokenBytes = bytes
        mergeRanks = RankTable(merges)
    }

    /// The bytes of token `id` (a special token's bytes are its UTF-8 text).
    public func bytes(of id: UInt32) -> ArraySlice<UInt8> {
        precondition(Int(id) < vocabSize, "token id \(id) is outside the vocabulary of \(vocabSize)")
        return tokenBytes[tokenOffsets[Int(id)]..<tokenOffsets[Int(id) + 1]]
    }

    /// True if `id` is a special token.
    public func isSpecial(_ id: UInt32) -> Bool { Int(id) >= 256 + merges.count }

    /// The bytes the ids stand for; special tokens decode to their text.
    public func decode(_ ids: [UInt32]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        tokenBytes.withUnsafeBufferPointer { bytes in
            tokenOffsets.withUnsafeBufferPointer { offsets in
                for id in ids {
                    precondition(
                        Int(id) < vocabSize, "token id \(id) is outside the vocabulary of \(vocabSize)")
                    out.append(contentsOf: bytes[offsets[Int(id)]..<offsets[Int(id) + 1]])
                }
            }
        }
        return out
    }

    /// A new encoder with an empty cache; use one per thread.
    public func makeEncoder() -> Encoder { Encoder(self) }

    /// Encodes a string as plain text (convenience; hot paths keep an `Encoder`).
    public func encode(_ text: String) -> [UInt32] {
        var ids: [UInt32] = []
        var text = text
        let encoder = makeEncoder()
        text.withUTF8 { encoder.encode(UnsafeRawBufferPointer($0), into: &ids) }
        return ids
    }
}

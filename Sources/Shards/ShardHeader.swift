// The token shard format: llm.c's layout, so llm.c's dataloader reads our train/val files as is.
//
//   header: 256 little-endian Int32 (1024 bytes)
//     [0] magic 20240520          [1] version: 1 = UInt16 tokens, 2 = UInt32 tokens
//     [2] token count             [3] vocabulary size   [4] end-of-text id   [5] documents
//     [8..<16] the tokenizer's SHA-256 (32 bytes), so a shard can be matched to its tokenizer
//   then `token count` tokens, little-endian, 2 or 4 bytes each.
// llm.c reads [0], [1] and [2] only; the rest is ours and zero in llm.c's own files.

public enum ShardSplit: String, Codable, Sendable, CaseIterable { case train, val }

public struct ShardHeader: Equatable, Sendable {
    public static let magic: Int32 = 20_240_520
    public static let byteCount = 1024
    /// Vocabularies up to this size fit in UInt16 tokens (version 1).
    public static let maxUInt16Vocab = 65_536
    /// The header counts tokens in an Int32.
    public static let maxTokens = Int(Int32.max)

    public var version: Int32
    public var tokenCount: Int
    public var vocabSize: Int
    public var eotId: UInt32
    public var documents: Int
    public var tokenizerSHA256: [UInt8]  // 32 bytes, or empty when unknown

    public var bytesPerToken: Int { version == 1 ? 2 : 4 }

    public init(tokenCount: Int, vocabSize: Int, eotId: UInt32, documents: Int, tokenizerSHA256: [UInt8]) {
        self.version = vocabSize <= Self.maxUInt16Vocab ? 1 : 2
        self.tokenCount = tokenCount
        self.vocabSize = vocabSize
        self.eotId = eotId
        self.documents = documents
        self.tokenizerSHA256 = tokenizerSHA256
    }

    /// The 1024 header bytes.
    public func encoded() -> [UInt8] {
        var words = [Int32](repeating: 0, count: 256)
        words[0] = Self.magic
        words[1] = version
        words[2] = Int32(clamping: tokenCount)
        words[3] = Int32(clamping: vocabSize)
        words[4] = Int32(bitPattern: eotId)
        words[5] = Int32(clamping: documents)
        if tokenizerSHA256.count == 32 {
            for i in 0..<8 {
                var w: UInt32 = 0
                for j in 0..<4 { w |= UInt32(tokenizerSHA256[4 * i + j]) << (8 * UInt32(j)) }
                words[8 + i] = Int32(bitPattern: w)
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(Self.byteCount)
        for w in words { withUnsafeBytes(of: w.littleEndian) { out.append(contentsOf: $0) } }
        return out
    }

    /// Parses and checks a header; `path` only names the file in errors.
    public static func decode(_ raw: UnsafeRawBufferPointer, path: String) throws -> ShardHeader {
        guard raw.count >= byteCount else { throw ShardError.tooSmall(path: path, size: raw.count) }
        func word(_ i: Int) -> Int32 { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
        guard word(0) == magic else { throw ShardError.badMagic(path: path, found: word(0)) }
        let version = word(1)
        guard version == 1 || version == 2 else { throw ShardError.badVersion(path: path, found: version) }
        for (i, field) in [(2, "token count"), (3, "vocabulary size"), (5, "document count")] where word(i) < 0 {
            throw ShardError.badHeaderField(path: path, field: field, found: word(i))
        }
        var sha = [UInt8]()
        for i in 8..<16 {
            let w = UInt32(bitPattern: word(i))
            for j in 0..<4 { sha.append(UInt8(truncatingIfNeeded: w >> (8 * UInt32(j)))) }
        }
        if sha.allSatisfy({ $0 == 0 }) { sha = [] }
        var h = ShardHeader(
            tokenCount: Int(word(2)), vocabSize: Int(word(3)), eotId: UInt32(bitPattern: word(4)),
            documents: Int(word(5)), tokenizerSHA256: sha)
        h.version = version
        return h
    }
}

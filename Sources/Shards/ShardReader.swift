import Basics

// A memory-mapped shard. Opening checks magic, version, file size against the token count,
// (optionally) that every token is inside the vocabulary, with a vectorised maximum over the
// mapped tokens, and (optionally) the file's recorded SHA-256, once per file version
// (ShardChecksumCache).
#if canImport(Glibc)
    import Glibc
#endif

public final class ShardReader: @unchecked Sendable {
    public let path: String
    public let header: ShardHeader
    private let file: MappedFile
    /// `file`'s first byte, kept apart for the token reads.
    private let base: UnsafeRawPointer

    public var tokenCount: Int { header.tokenCount }

    /// Maps `path`. With `expectVocabSize`, also checks it matches the header; with `checkTokens`,
    /// that every token is below the vocabulary (the expected one, else the header's); with
    /// `expectSHA256` (hex), that the file's checksum is the recorded one. The checksum is
    /// computed once per version of the file (path, device, inode, size, modification and change
    /// time) and remembered in a sidecar file next to it, so a changed byte is caught without
    /// rehashing an unchanged corpus on every run.
    public init(path: String, expectVocabSize: Int? = nil, checkTokens: Bool = true, expectSHA256: String? = nil)
        throws
    {
        self.path = path
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch let e as BasicsError { throw ShardError.io(e) }
        let size = file.size
        guard size >= ShardHeader.byteCount, let start = file.bytes.baseAddress else {
            throw ShardError.tooSmall(path: path, size: size)
        }
        self.file = file
        base = start
        let raw = file.bytes
        let h = try ShardHeader.decode(raw, path: path)
        let expected = ShardHeader.byteCount + h.tokenCount * h.bytesPerToken
        guard expected == size else { throw ShardError.sizeMismatch(path: path, expected: expected, actual: size) }
        if let v = expectVocabSize, h.vocabSize != 0, h.vocabSize != v {
            throw ShardError.vocabularyMismatch(path: path, shard: h.vocabSize, expected: v)
        }
        header = h
        if let sha = expectSHA256 {
            try ShardChecksumCache.verify(path: path, stat: file.status, contents: raw, expected: sha)
        }
        let limit = expectVocabSize ?? h.vocabSize
        if checkTokens && limit > 0 { try checkRange(limit: limit) }
    }

    private func checkRange(limit: Int) throws {
        guard tokenCount > 0, Int(maxToken()) >= limit else { return }
        let lim = UInt32(clamping: limit)
        for i in 0..<tokenCount where token(i) >= lim {
            throw ShardError.tokenOutOfRange(path: path, index: i, token: token(i), vocabSize: limit)
        }
    }

    /// The largest token id in the shard (0 when it is empty), read 16 or 32 tokens at a time.
    public func maxToken() -> UInt32 {
        let body = base + ShardHeader.byteCount
        let n = tokenCount
        var i = 0
        var result: UInt32 = 0
        #if _endian(little)
            if header.version == 1 {
                var acc = SIMD32<UInt16>(repeating: 0)
                while i + 32 <= n {
                    acc = pointwiseMax(acc, body.loadUnaligned(fromByteOffset: 2 * i, as: SIMD32<UInt16>.self))
                    i += 32
                }
                result = UInt32(acc.max())
            } else {
                var acc = SIMD16<UInt32>(repeating: 0)
                while i + 16 <= n {
                    acc = pointwiseMax(acc, body.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<UInt32>.self))
                    i += 16
                }
                result = acc.max()
            }
        #endif
        while i < n {
            result = max(result, token(i))
            i += 1
        }
        return result
    }

    /// Token `i` (0-based).
    @inlinable public subscript(i: Int) -> UInt32 {
        precondition(i >= 0 && i < tokenCount)
        return token(i)
    }

    @usableFromInline func token(_ i: Int) -> UInt32 {
        let p = base + ShardHeader.byteCount
        if header.version == 1 {
            return UInt32(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        }
        return UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
    }

    /// Copies tokens [start, start+count) into `out` as Int32 (the engine's token type).
    public func copy(from start: Int, count: Int, into out: UnsafeMutablePointer<Int32>) {
        precondition(start >= 0 && count >= 0 && start + count <= tokenCount)
        for i in 0..<count { out[i] = Int32(bitPattern: token(start + i)) }
    }
}

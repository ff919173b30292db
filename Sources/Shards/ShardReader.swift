import Basics

// A memory-mapped shard. Opening checks magic, version, file size against the token count,
// and (optionally) that every token is inside the vocabulary.
#if canImport(Glibc)
    import Glibc
#endif

public final class ShardReader: @unchecked Sendable {
    public let path: String
    public let header: ShardHeader
    private let base: UnsafeRawPointer
    private let mappedSize: Int

    public var tokenCount: Int { header.tokenCount }

    /// Maps `path`. With `vocabSize`, also checks it matches the header and scans the token range.
    public init(path: String, expectVocabSize: Int? = nil, checkTokens: Bool = true) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ShardError.io(.io(path: path, errno: errno, action: "open")) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ShardError.io(.io(path: path, errno: errno, action: "stat")) }
        let size = Int(st.st_size)
        guard size >= ShardHeader.byteCount else { throw ShardError.tooSmall(path: path, size: size) }
        guard let p = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw ShardError.io(.io(path: path, errno: errno, action: "mmap"))
        }
        base = UnsafeRawPointer(p)
        mappedSize = size
        do {
            let h = try ShardHeader.decode(UnsafeRawBufferPointer(start: base, count: size), path: path)
            let expected = ShardHeader.byteCount + h.tokenCount * h.bytesPerToken
            guard expected == size else { throw ShardError.sizeMismatch(path: path, expected: expected, actual: size) }
            if let v = expectVocabSize, h.vocabSize != 0, h.vocabSize != v {
                throw ShardError.vocabularyMismatch(path: path, shard: h.vocabSize, expected: v)
            }
            header = h
            let limit = expectVocabSize ?? h.vocabSize
            if checkTokens && limit > 0 { try checkRange(limit: limit) }
        } catch {
            munmap(UnsafeMutableRawPointer(mutating: base), size)
            throw error
        }
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), mappedSize) }

    private func checkRange(limit: Int) throws {
        let lim = UInt32(limit)
        for i in 0..<tokenCount where self[i] >= lim {
            throw ShardError.tokenOutOfRange(path: path, index: i, token: self[i], vocabSize: limit)
        }
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

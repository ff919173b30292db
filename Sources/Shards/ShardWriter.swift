import Basics

// Writes one shard: tokens stream into `<path>.tmp`, the header is patched with the final count,
// the file is fsynced and renamed into place, so a crash or a full disk never leaves a
// half-written shard under the final name.
#if canImport(Glibc)
    import Glibc
#endif

public final class ShardWriter {
    public let path: String
    private let tmpPath: String
    private let fd: Int32
    private let vocabSize: Int
    private let eotId: UInt32
    private let tokenizerSHA256: [UInt8]
    private let wide: Bool
    private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 20
    public private(set) var tokenCount = 0
    public private(set) var documents = 0
    private var closed = false

    /// Creates `<path>.tmp`; nothing appears at `path` until `finish()`.
    public init(path: String, vocabSize: Int, eotId: UInt32, tokenizerSHA256: [UInt8]) throws {
        guard vocabSize <= Int(UInt32.max) else { throw ShardError.vocabularyTooLarge(vocabSize: vocabSize) }
        self.path = path
        self.tmpPath = path + ".tmp"
        self.vocabSize = vocabSize
        self.eotId = eotId
        self.tokenizerSHA256 = tokenizerSHA256
        self.wide = vocabSize > ShardHeader.maxUInt16Vocab
        fd = open(tmpPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ShardError.io(.io(path: tmpPath, errno: errno, action: "create")) }
        buffer.reserveCapacity(bufferLimit + 4096)
        // Placeholder header; the real one is written by finish().
        buffer.append(contentsOf: [UInt8](repeating: 0, count: ShardHeader.byteCount))
    }

    deinit {
        if !closed { discard() }
    }

    /// Appends one document's tokens (the caller includes the end-of-text separator).
    public func append(document tokens: UnsafeBufferPointer<UInt32>) throws {
        documents += 1
        try append(tokens)
    }

    public func append(_ tokens: UnsafeBufferPointer<UInt32>) throws {
        guard tokens.count <= ShardHeader.maxTokens - tokenCount else {
            throw ShardError.tooManyTokens(path: path, limit: ShardHeader.maxTokens)
        }
        tokenCount += tokens.count
        if wide {
            for t in tokens { withUnsafeBytes(of: t.littleEndian) { buffer.append(contentsOf: $0) } }
        } else {
            for t in tokens {
                precondition(t < UInt32(vocabSize), "token \(t) outside vocabulary \(vocabSize)")
                let v = UInt16(truncatingIfNeeded: t)
                buffer.append(UInt8(truncatingIfNeeded: v))
                buffer.append(UInt8(truncatingIfNeeded: v >> 8))
            }
        }
        if buffer.count >= bufferLimit { try flush() }
    }

    private func flush() throws {
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ raw: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < raw.count {
            let n = write(fd, raw.baseAddress! + off, raw.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw ShardError.io(.io(path: tmpPath, errno: errno, action: "write"))
            }
            off += n
        }
    }

    /// Patches the header, fsyncs and renames the file into place. Returns the header written.
    @discardableResult
    public func finish() throws -> ShardHeader {
        try flush()
        let header = ShardHeader(
            tokenCount: tokenCount, vocabSize: vocabSize, eotId: eotId, documents: documents,
            tokenizerSHA256: tokenizerSHA256)
        let bytes = header.encoded()
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        guard n == ShardHeader.byteCount else {
            throw ShardError.io(.io(path: tmpPath, errno: n < 0 ? errno : EIO, action: "write the header of"))
        }
        guard fsync(fd) == 0 else { throw ShardError.io(.io(path: tmpPath, errno: errno, action: "fsync")) }
        close(fd)
        closed = true
        guard rename(tmpPath, path) == 0 else {
            let e = errno
            unlink(tmpPath)
            throw ShardError.io(.io(path: path, errno: e, action: "rename into place"))
        }
        return header
    }

    /// Closes and deletes the temporary file (on error or cancellation).
    public func discard() {
        if closed { return }
        close(fd)
        unlink(tmpPath)
        closed = true
    }
}

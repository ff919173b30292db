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
    /// Bytes waiting to be written: the placeholder header first, then little-endian ids.
    private let buffer: UnsafeMutableRawPointer
    private var buffered = 0
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
        buffer = .allocate(byteCount: bufferLimit, alignment: 64)
        // Placeholder header; the real one is written by finish().
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: ShardHeader.byteCount)
        buffered = ShardHeader.byteCount
    }

    deinit {
        if !closed { discard() }
        buffer.deallocate()
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
        let width = wide ? 4 : 2
        var done = 0
        while done < tokens.count {
            if bufferLimit - buffered < width { try flush() }
            let n = min(tokens.count - done, (bufferLimit - buffered) / width)
            let out = buffer + buffered
            if wide {
                for i in 0..<n {
                    out.storeBytes(of: tokens[done + i].littleEndian, toByteOffset: 4 * i, as: UInt32.self)
                }
            } else {
                var largest: UInt32 = 0
                for i in 0..<n {
                    let t = tokens[done + i]
                    largest = max(largest, t)
                    out.storeBytes(of: UInt16(truncatingIfNeeded: t).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                }
                precondition(largest < UInt32(vocabSize), "token \(largest) outside vocabulary \(vocabSize)")
            }
            buffered += n * width
            done += n
        }
    }

    private func flush() throws {
        try writeAll(UnsafeRawBufferPointer(start: buffer, count: buffered))
        buffered = 0
    }

    private func writeAll(_ raw: UnsafeRawBufferPointer) throws {
        do { try AtomicFile.writeAll(fd, raw, path: tmpPath) } catch { throw ShardError.io(error) }
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
        do {
            try AtomicFile.sync(fd, temporary: tmpPath)
            close(fd)
            closed = true
            try AtomicFile.moveIntoPlace(tmpPath, path)
        } catch {
            throw ShardError.io(error)
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

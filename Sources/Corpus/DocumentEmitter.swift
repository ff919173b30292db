// The per-source state shared by the plain-file and archive readers: it turns the bytes of one
// entry into documents (a whole entry, or one per JSONL line), checks UTF-8, and keeps the stats
// and warnings. One emitter per `read` call, so concurrent reads share nothing.
#if canImport(Glibc)
    import Glibc
#endif

/// Where an entry's bytes come from, in chunks: a file descriptor or a libarchive entry.
protocol ChunkSource {
    /// Reads up to `count` bytes into `buffer`; 0 at the end of the entry.
    mutating func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int
    /// Discards the rest of the entry.
    mutating func skipRest() throws
}

/// An error thrown by the caller's document callback, carried through unchanged.
struct CallerError: Error {
    let error: any Error
}

final class DocumentEmitter {
    let options: CorpusOptions
    let source: String
    var stats = CorpusStats()
    /// The entry being read (one document, or the pending part of a JSONL line).
    let buffer = ByteBuffer(capacity: 256 << 10)
    private let scratch = ByteBuffer(capacity: 4096)
    private var badLines = 0
    private var firstBadLine = ""

    init(options: CorpusOptions, source: String) {
        self.options = options
        self.source = source
        stats.sources = 1
    }

    func warn(_ entry: String?, _ message: String) {
        stats.warningCount += 1
        if stats.warnings.count < options.maxWarnings {
            stats.warnings.append("\(CorpusError.label(source, entry)): \(message)")
        }
    }

    /// Reads one entry to its end and emits its document(s). `sizeHint` is the size the header
    /// claims, used only to size the buffer (never trusted beyond `maxDocumentBytes`).
    func consume<S: ChunkSource>(
        _ chunks: inout S, entry: String, jsonl: Bool, sizeHint: Int64, body: (Document) throws -> Void
    ) throws {
        if jsonl {
            try consumeLines(&chunks, entry: entry, body: body)
        } else {
            try consumeWhole(&chunks, entry: entry, sizeHint: sizeHint, body: body)
        }
    }

    private func consumeWhole<S: ChunkSource>(
        _ chunks: inout S, entry: String, sizeHint: Int64, body: (Document) throws -> Void
    ) throws {
        let limit = options.maxDocumentBytes
        buffer.count = 0
        buffer.reserve(Int(min(max(sizeHint, 0), Int64(limit))) + 1)
        var sniffed = !options.skipBinary
        while true {
            if buffer.spare == 0 {
                if buffer.count > limit {
                    try chunks.skipRest()
                    stats.skippedOversized += 1
                    warn(entry, "larger than \(limit) bytes, skipped (raise the document size limit to keep it)")
                    return
                }
                buffer.reserve(min(buffer.capacity * 2, limit + 1))
            }
            let n = try chunks.read(into: buffer.base + buffer.count, count: buffer.spare)
            if n == 0 { break }
            buffer.count += n
            if !sniffed && buffer.count >= ContentKind.sniffLength {
                sniffed = true
                if try skipIfBinary(&chunks, entry: entry) { return }
            }
        }
        if buffer.count > limit {
            stats.skippedOversized += 1
            warn(entry, "larger than \(limit) bytes, skipped (raise the document size limit to keep it)")
            return
        }
        if !sniffed, try skipIfBinary(&chunks, entry: entry) { return }
        try emit(buffer.bytes, entry: entry, body: body)
    }

    private func skipIfBinary<S: ChunkSource>(_ chunks: inout S, entry: String) throws -> Bool {
        let head = UnsafeRawBufferPointer(start: buffer.base, count: min(buffer.count, ContentKind.sniffLength))
        guard ContentKind.looksBinary(head) else { return false }
        try chunks.skipRest()
        stats.skippedBinaryContent += 1
        warn(entry, "binary content (NUL or control bytes), skipped")
        return true
    }

    /// JSONL: one document per line, read in chunks so a file of any size streams through a
    /// buffer of at most `maxDocumentBytes`; a longer line is dropped up to its newline.
    private func consumeLines<S: ChunkSource>(
        _ chunks: inout S, entry: String, body: (Document) throws -> Void
    ) throws {
        let limit = options.maxDocumentBytes
        buffer.count = 0
        badLines = 0
        var line = 0
        var discarding = false
        var scanned = 0
        while true {
            if buffer.spare == 0 {
                if buffer.count > limit {
                    if !discarding {
                        stats.skippedOversized += 1
                        warn("\(entry)#L\(line + 1)", "line longer than \(limit) bytes, skipped")
                    }
                    discarding = true
                    buffer.count = 0
                    scanned = 0
                } else {
                    buffer.reserve(min(buffer.capacity * 2, limit + 1))
                }
            }
            let n = try chunks.read(into: buffer.base + buffer.count, count: buffer.spare)
            if n == 0 { break }
            buffer.count += n
            var start = 0
            while let nl = newline(from: scanned) {
                line += 1
                if discarding {
                    discarding = false
                } else {
                    try emitLine(
                        UnsafeRawBufferPointer(start: buffer.base + start, count: nl - start),
                        entry: entry, line: line, body: body)
                }
                start = nl + 1
                scanned = start
            }
            buffer.removeFirst(start)
            scanned = buffer.count
        }
        if buffer.count > 0 && !discarding {
            line += 1
            try emitLine(buffer.bytes, entry: entry, line: line, body: body)
        }
        if badLines > 0 {
            warn(
                entry,
                "\(badLines) JSONL line(s) skipped (first: \(firstBadLine)); "
                    + "each line must be an object with a string \"text\" field")
        }
    }

    private func newline(from offset: Int) -> Int? {
        guard offset < buffer.count, let hit = memchr(buffer.base + offset, 0x0A, buffer.count - offset) else {
            return nil
        }
        return buffer.base.distance(to: UnsafeMutableRawPointer(hit))
    }

    private func emitLine(
        _ raw: UnsafeRawBufferPointer, entry: String, line: Int, body: (Document) throws -> Void
    ) throws {
        var text = raw
        if text.last == 0x0D { text = UnsafeRawBufferPointer(rebasing: text.dropLast()) }
        if text.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
        if text.count > options.maxDocumentBytes {
            stats.skippedOversized += 1
            warn("\(entry)#L\(line)", "line longer than \(options.maxDocumentBytes) bytes, skipped")
            return
        }
        do {
            try JSONLText.extract(text, into: scratch)
        } catch {
            stats.skippedJSONLLines += 1
            if badLines == 0 { firstBadLine = "line \(line): \(error.reason)" }
            badLines += 1
            return
        }
        try emit(scratch.bytes, entry: "\(entry)#L\(line)", body: body)
    }

    /// Checks one document's UTF-8 (skipping or repairing it) and hands it to the caller.
    func emit(_ bytes: UnsafeRawBufferPointer, entry: String, body: (Document) throws -> Void) throws {
        var text = bytes
        if text.count >= 3 && text[0] == 0xEF && text[1] == 0xBB && text[2] == 0xBF {
            text = UnsafeRawBufferPointer(rebasing: text.dropFirst(3))
        }
        if text.isEmpty {
            stats.skippedEmpty += 1
            return
        }
        if let bad = UTF8Validation.firstInvalid(text) {
            guard options.repairInvalidUTF8 else {
                stats.invalidUTF8Skipped += 1
                warn(entry, "invalid UTF-8 at byte \(bad), skipped (use --repair-utf8 to keep it with U+FFFD)")
                return
            }
            let repaired = ByteBuffer(capacity: text.count + 16)
            UTF8Validation.repair(text, into: repaired)
            stats.invalidUTF8Repaired += 1
            warn(entry, "invalid UTF-8 at byte \(bad), repaired with U+FFFD")
            try deliver(repaired.bytes, entry: entry, body: body)
            return
        }
        try deliver(text, entry: entry, body: body)
    }

    private func deliver(_ text: UnsafeRawBufferPointer, entry: String, body: (Document) throws -> Void) throws {
        stats.documents += 1
        stats.documentBytes += Int64(text.count)
        do {
            try body(Document(source: source, entry: entry, bytes: text))
        } catch {
            throw CallerError(error: error)
        }
    }
}

// Reads an archive's documents: walks it with libarchive (ArchiveWalker), on a read-ahead thread
// when asked, and turns each item into stats, warnings and documents on the caller's thread.

enum ArchiveReader {
    /// Streams the entries of the archive open at `fd` (not closed here) through `emitter`.
    static func read(
        fd: Int32, fileSize: Int64, kind: SourceKind, emitter: DocumentEmitter, progress: ((Int64) -> Void)?,
        body: (Document) throws -> Void
    ) throws {
        let threaded = emitter.options.readAheadThread
        let walker = try ArchiveWalker(
            fd: fd, fileSize: fileSize, kind: kind, options: emitter.options, path: emitter.source,
            progress: threaded ? nil : progress)
        defer {
            emitter.stats.compressedBytes = walker.compressedBytes
            emitter.stats.uncompressedBytes = walker.dataBytes
        }
        if threaded {
            var pipe = ReadAheadPipe(walker: walker, progress: progress)
            defer { pipe.stop() }
            try drive(&pipe, emitter: emitter, body: body)
        } else {
            var stream = walker
            try drive(&stream, emitter: emitter, body: body)
        }
    }

    private static func drive<S: ItemStream>(
        _ stream: inout S, emitter: DocumentEmitter, body: (Document) throws -> Void
    ) throws {
        var entries = 0
        while let item = try stream.next() {
            switch item {
            case .warning(let name, let message):
                emitter.warn(name, message)
            case .skipped(let reason, let name, let warning):
                entries += 1
                emitter.stats.entriesSeen += 1
                switch reason {
                case .filtered: emitter.stats.skippedFiltered += 1
                case .binaryName: emitter.stats.skippedBinaryName += 1
                case .nonRegular: emitter.stats.skippedNonRegular += 1
                case .unreadable: emitter.stats.skippedUnreadable += 1
                }
                if let warning { emitter.warn(name, warning) }
            case .document(let name, let sizeHint, let jsonl):
                entries += 1
                emitter.stats.entriesSeen += 1
                do {
                    try emitter.consume(&stream, entry: name, jsonl: jsonl, sizeHint: sizeHint, body: body)
                } catch let failure as EntryFailure {
                    emitter.stats.skippedUnreadable += 1
                    emitter.warn(name, "cannot be decoded (libarchive: \(failure.message)), skipped")
                }
            }
        }
        if entries == 0 { emitter.warn(nil, "archive has no file entries") }
    }
}

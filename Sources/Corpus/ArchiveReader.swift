// Reads an archive or a compressed stream with libarchive, entirely in memory (never
// archive_write_disk, so `../` and absolute entry paths are harmless), one entry at a time, with
// a guard against compression bombs and progress in compressed bytes.
#if canImport(Glibc)
    import Glibc
#endif
import CArchive

/// An entry libarchive could not decode (encrypted, bad checksum) while the archive can go on.
struct EntryFailure: Error {
    let message: String
}

/// Counts decompressed bytes against the expansion limit and reports compressed progress.
final class ExpansionMeter {
    let archive: OpaquePointer
    let options: CorpusOptions
    let path: String
    let progress: ((Int64) -> Void)?
    /// Entry data handed out (zip decompresses inside the format, which filter counts miss).
    var dataBytes: Int64 = 0
    private var reported: Int64 = -1

    init(archive: OpaquePointer, options: CorpusOptions, path: String, progress: ((Int64) -> Void)?) {
        self.archive = archive
        self.options = options
        self.path = path
        self.progress = progress
    }

    /// Bytes consumed from the file; seekable formats (zip, 7z) jump over parts they never read,
    /// so a finished archive counts as wholly consumed.
    var compressedBytes: Int64 { max(archive_filter_bytes(archive, -1), finishedSize) }
    private var finishedSize: Int64 = 0

    func finish(fileSize: Int64) throws {
        try check()
        finishedSize = fileSize
        try check()
    }

    func check() throws {
        let compressed = compressedBytes
        let uncompressed = max(archive_filter_bytes(archive, 0), dataBytes)
        let (scaled, overflow) = compressed.multipliedReportingOverflow(by: options.maxExpansionRatio)
        let limit = overflow ? Int64.max : scaled.addingReportingOverflow(options.expansionSlackBytes).partialValue
        if uncompressed > limit {
            throw CorpusError.compressionBomb(
                path: path, compressedBytes: compressed, uncompressedBytes: uncompressed, limit: limit)
        }
        if compressed != reported {
            reported = compressed
            progress?(compressed)
        }
    }
}

/// The data of the current libarchive entry, read in big blocks straight into the document buffer.
struct ArchiveEntryChunks: ChunkSource {
    let meter: ExpansionMeter
    let entry: String

    mutating func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        let n = archive_read_data(meter.archive, buffer, count)
        if n < 0 { throw ArchiveReader.failure(meter, entry: entry, code: Int32(n)) }
        meter.dataBytes += Int64(n)
        try meter.check()
        return n
    }

    mutating func skipRest() throws {
        let r = archive_read_data_skip(meter.archive)
        if r != ARCHIVE_OK { throw ArchiveReader.failure(meter, entry: entry, code: r) }
        try meter.check()
    }
}

enum ArchiveReader {
    private static let typeMask: UInt32 = 0o170000
    private static let regular: UInt32 = 0o100000
    private static let directory: UInt32 = 0o040000

    /// Streams the entries of the archive open at `fd` (not closed here) through `emitter`.
    static func read(
        fd: Int32, fileSize: Int64, kind: SourceKind, emitter: DocumentEmitter, progress: ((Int64) -> Void)?,
        body: (Document) throws -> Void
    ) throws {
        guard let a = archive_read_new() else { fatalError("libarchive: out of memory") }
        defer { archive_read_free(a) }
        archive_read_support_filter_all(a)
        // Every format that has a real signature; never mtree, which claims plain text.
        for enable in [
            archive_read_support_format_tar, archive_read_support_format_zip, archive_read_support_format_7zip,
            archive_read_support_format_rar, archive_read_support_format_rar5, archive_read_support_format_cpio,
            archive_read_support_format_ar, archive_read_support_format_iso9660, archive_read_support_format_xar,
            archive_read_support_format_cab, archive_read_support_format_lha, archive_read_support_format_warc,
        ] { _ = enable(a) }
        if kind == .compressed {
            archive_read_support_format_raw(a)
            archive_read_support_format_empty(a)
        }
        let path = emitter.source
        let meter = ExpansionMeter(archive: a, options: emitter.options, path: path, progress: progress)
        defer {
            emitter.stats.compressedBytes = meter.compressedBytes
            emitter.stats.uncompressedBytes = meter.dataBytes
        }
        if archive_read_open_fd(a, fd, 1 << 20) != ARCHIVE_OK {
            throw CorpusError.archive(path: path, entry: nil, detail: message(a))
        }
        let filter = PathFilter(include: emitter.options.include, exclude: emitter.options.exclude)
        var entry: OpaquePointer?
        var previous: String?
        var entries = 0
        while true {
            let r = archive_read_next_header(a, &entry)
            if r == ARCHIVE_EOF { break }
            if r == ARCHIVE_RETRY { continue }
            if r == ARCHIVE_FATAL {
                let after = previous.map { "after \($0)" }
                throw CorpusError.archive(path: path, entry: after, detail: message(a))
            }
            try meter.check()
            guard let entry else { break }
            let name = entryName(a, entry, path: path)
            previous = name
            if r == ARCHIVE_WARN { emitter.warn(name, "libarchive warning: \(message(a))") }
            if r == ARCHIVE_FAILED {
                emitter.stats.skippedUnreadable += 1
                emitter.warn(name, "unreadable entry (libarchive: \(message(a))), skipped")
                continue
            }
            let type = UInt32(archive_entry_filetype(entry)) & typeMask
            if type == directory { continue }
            entries += 1
            emitter.stats.entriesSeen += 1
            if archive_entry_hardlink(entry) != nil || type != regular {
                emitter.stats.skippedNonRegular += 1
                emitter.warn(name, "\(describe(type, hardlink: archive_entry_hardlink(entry) != nil)) skipped "
                    + "(only regular files are read)")
                continue
            }
            if name.hasPrefix("/") || name.split(separator: "/").contains("..") {
                emitter.warn(name, "absolute or ../ entry path: harmless (nothing is written to disk), read as text")
            }
            if !filter.accepts(name) {
                emitter.stats.skippedFiltered += 1
                continue
            }
            let ext = ContentKind.fileExtension(name)
            if archive_format(a) == ARCHIVE_FORMAT_RAW && ContentKind.archiveExtensions.contains(ext) {
                throw CorpusError.corruptArchive(
                    path: path, entry: nil, detail: "the compressed stream holds no readable \(ext) archive")
            }
            if emitter.options.skipBinary
                && (ContentKind.binaryExtensions.contains(ext) || ContentKind.archiveExtensions.contains(ext))
            {
                emitter.stats.skippedBinaryName += 1
                continue
            }
            var chunks = ArchiveEntryChunks(meter: meter, entry: name)
            let hint = archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : 0
            do {
                try emitter.consume(
                    &chunks, entry: name, jsonl: ContentKind.isJSONL(name), sizeHint: hint, body: body)
            } catch let failure as EntryFailure {
                emitter.stats.skippedUnreadable += 1
                emitter.warn(name, "cannot be decoded (libarchive: \(failure.message)), skipped")
            }
        }
        try meter.finish(fileSize: fileSize)
        if entries == 0 { emitter.warn(nil, "archive has no file entries") }
    }

    /// A fatal libarchive code ends the source; any other failure only skips the entry.
    static func failure(_ meter: ExpansionMeter, entry: String, code: Int32) -> any Error {
        let text = message(meter.archive)
        if code == ARCHIVE_FATAL { return CorpusError.archive(path: meter.path, entry: entry, detail: text) }
        return EntryFailure(message: text)
    }

    static func message(_ a: OpaquePointer) -> String {
        guard let c = archive_error_string(a) else { return "unknown error" }
        return String(decoding: UnsafeRawBufferPointer(start: c, count: strlen(c)), as: UTF8.self)
    }

    /// The entry's path as UTF-8 (bytes that are not UTF-8 are replaced); for a single compressed
    /// file (libarchive's raw format) the file name without its compression extension.
    private static func entryName(_ a: OpaquePointer, _ entry: OpaquePointer, path: String) -> String {
        if archive_format(a) == ARCHIVE_FORMAT_RAW { return ContentKind.decompressedName(path) }
        guard let c = archive_entry_pathname_utf8(entry) ?? archive_entry_pathname(entry) else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: c, count: strlen(c)), as: UTF8.self)
    }

    private static func describe(_ type: UInt32, hardlink: Bool) -> String {
        if hardlink { return "hardlink" }
        switch type {
        case 0o120000: return "symlink"
        case 0o020000, 0o060000: return "device"
        case 0o010000: return "fifo"
        case 0o140000: return "socket"
        default: return "non-regular entry"
        }
    }
}

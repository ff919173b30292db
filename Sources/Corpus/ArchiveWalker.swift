import CArchive

// Walks an archive or a compressed stream with libarchive, entirely in memory (never
// archive_write_disk, so `../` and absolute entry paths are harmless): classifies each entry
// (document, or skipped and why), hands out document data in big blocks, and guards against
// compression bombs. It runs on the caller's thread or on a read-ahead thread (ReadAheadPipe).
#if canImport(Glibc)
    import Glibc
#endif

/// An entry libarchive could not decode (encrypted, bad checksum) while the archive can go on.
struct EntryFailure: Error {
    let message: String
}

/// What the walker found at the next entry, in archive order.
enum ArchiveItem: Sendable {
    /// A regular file to read as a document (or as JSONL lines).
    case document(name: String, sizeHint: Int64, jsonl: Bool)
    /// An entry that is counted and not read.
    case skipped(SkipReason, name: String, warning: String?)
    /// A note about the next item (a libarchive warning, a `../` path).
    case warning(name: String, message: String)
}

enum SkipReason: Sendable { case filtered, binaryName, nonRegular, unreadable }

/// The consumer side of a walk: items in order, each document's data as a `ChunkSource`.
protocol ItemStream: ChunkSource {
    /// The next item; nil at the end of the archive (after the bomb check and final progress).
    mutating func next() throws -> ArchiveItem?
}

final class ArchiveWalker: ItemStream {
    private let a: OpaquePointer
    private let path: String
    private let options: CorpusOptions
    private let filter: PathFilter
    private let fileSize: Int64
    private let progress: ((Int64) -> Void)?
    /// Entry data handed out (zip decompresses inside the format, which filter counts miss).
    private(set) var dataBytes: Int64 = 0
    private var finishedSize: Int64 = 0
    private var reported: Int64 = -1
    private var pending: [ArchiveItem] = []
    private var previous: String?
    private var current = ""
    private var ended = false
    /// Set at a damaged header (ARCHIVE_RETRY) until the next readable one: the blocks libarchive
    /// skips in between (a lost entry's header and data) are one loss, reported once.
    private var skippingDamage = false

    /// Opens the archive at `fd` (which the caller closes after the walker is gone).
    init(
        fd: Int32, fileSize: Int64, kind: SourceKind, options: CorpusOptions, path: String,
        progress: ((Int64) -> Void)?
    ) throws {
        guard let a = archive_read_new() else { fatalError("libarchive: out of memory") }
        self.a = a
        self.path = path
        self.options = options
        self.fileSize = fileSize
        self.progress = progress
        self.filter = PathFilter(include: options.include, exclude: options.exclude)
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
        if archive_read_open_fd(a, fd, 1 << 20) != ARCHIVE_OK {
            throw CorpusError.archive(path: path, entry: nil, detail: Self.message(a))
        }
    }

    deinit { archive_read_free(a) }

    /// Bytes consumed from the file; seekable formats (zip, 7z) jump over parts they never read,
    /// so a finished archive counts as wholly consumed.
    var compressedBytes: Int64 { max(archive_filter_bytes(a, -1), finishedSize) }

    func next() throws -> ArchiveItem? {
        if !pending.isEmpty { return pending.removeFirst() }
        if ended { return nil }
        while true {
            var entry: OpaquePointer?
            let r = archive_read_next_header(a, &entry)
            if r == ARCHIVE_EOF {
                try check()
                finishedSize = fileSize
                try check()
                ended = true
                return pending.isEmpty ? nil : pending.removeFirst()
            }
            if r == ARCHIVE_RETRY {
                // A damaged header (a tar header whose checksum fails): libarchive skips it and
                // reads on to the next valid one, so at least one entry is lost. Counted as an
                // unreadable entry with libarchive's reason, as an entry that cannot be decoded is
                // (a corrupt archive ends with ARCHIVE_FATAL instead, and is an error).
                if !skippingDamage {
                    skippingDamage = true
                    pending.append(
                        .skipped(
                            .unreadable, name: previous.map { "after \($0)" } ?? "",
                            warning: "damaged entry header (libarchive: \(Self.message(a))): "
                                + "entries up to the next readable header skipped"))
                }
                continue
            }
            skippingDamage = false
            if r == ARCHIVE_FATAL {
                throw CorpusError.archive(path: path, entry: previous.map { "after \($0)" }, detail: Self.message(a))
            }
            try check()
            guard let entry else { continue }
            let name = entryName(entry)
            previous = name
            current = name
            if r == ARCHIVE_WARN {
                pending.append(.warning(name: name, message: "libarchive warning: \(Self.message(a))"))
            }
            guard let item = try classify(entry, name: name, failed: r == ARCHIVE_FAILED) else { continue }
            pending.append(item)
            return pending.removeFirst()
        }
    }

    /// Decides what to do with an entry; nil for folders, which are not entries of their own.
    private func classify(_ entry: OpaquePointer, name: String, failed: Bool) throws -> ArchiveItem? {
        if failed {
            return .skipped(
                .unreadable, name: name, warning: "unreadable entry (libarchive: \(Self.message(a))), skipped")
        }
        let type = UInt32(archive_entry_filetype(entry)) & 0o170000
        if type == 0o040000 { return nil }
        let hardlink = archive_entry_hardlink(entry) != nil
        if hardlink || type != 0o100000 {
            let kind = hardlink ? "hardlink" : Self.describe(type)
            return .skipped(.nonRegular, name: name, warning: "\(kind) skipped (only regular files are read)")
        }
        if name.hasPrefix("/") || name.split(separator: "/").contains("..") {
            pending.append(
                .warning(
                    name: name,
                    message: "absolute or ../ entry path: harmless (nothing is written to disk), read as text"))
        }
        if !filter.accepts(name) { return .skipped(.filtered, name: name, warning: nil) }
        let ext = ContentKind.fileExtension(name)
        if archive_format(a) == ARCHIVE_FORMAT_RAW && ContentKind.archiveExtensions.contains(ext) {
            throw CorpusError.corruptArchive(
                path: path, entry: nil, detail: "the compressed stream holds no readable \(ext) archive")
        }
        if options.skipBinary
            && (ContentKind.binaryExtensions.contains(ext) || ContentKind.archiveExtensions.contains(ext))
        {
            return .skipped(.binaryName, name: name, warning: nil)
        }
        let hint = archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : 0
        return .document(name: name, sizeHint: hint, jsonl: ContentKind.isJSONL(name))
    }

    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        let n = archive_read_data(a, buffer, count)
        if n < 0 { throw failure(Int32(n)) }
        dataBytes += Int64(n)
        try check()
        return n
    }

    func skipRest() throws {
        let r = archive_read_data_skip(a)
        if r != ARCHIVE_OK { throw failure(r) }
        try check()
    }

    /// Rejects a compression bomb, and reports progress when the compressed count moved.
    private func check() throws {
        let compressed = compressedBytes
        let uncompressed = max(archive_filter_bytes(a, 0), dataBytes)
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

    /// A fatal libarchive code ends the source; any other failure only skips the entry.
    private func failure(_ code: Int32) -> any Error {
        if code == ARCHIVE_FATAL { return CorpusError.archive(path: path, entry: current, detail: Self.message(a)) }
        return EntryFailure(message: Self.message(a))
    }

    static func message(_ a: OpaquePointer) -> String {
        guard let c = archive_error_string(a) else { return "unknown error" }
        return String(decoding: UnsafeRawBufferPointer(start: c, count: strlen(c)), as: UTF8.self)
    }

    /// The entry's path as UTF-8 (bytes that are not UTF-8 are replaced); for a single compressed
    /// file (libarchive's raw format) the file name without its compression extension.
    private func entryName(_ entry: OpaquePointer) -> String {
        if archive_format(a) == ARCHIVE_FORMAT_RAW { return ContentKind.decompressedName(path) }
        guard let c = archive_entry_pathname_utf8(entry) ?? archive_entry_pathname(entry) else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: c, count: strlen(c)), as: UTF8.self)
    }

    private static func describe(_ type: UInt32) -> String {
        switch type {
        case 0o120000: return "symlink"
        case 0o020000, 0o060000: return "device"
        case 0o010000: return "fifo"
        case 0o140000: return "socket"
        default: return "non-regular entry"
        }
    }
}

// The one error type of the Corpus module: fatal problems with a source, each a single line that
// names the file (and entry) and says what to do about it.

/// A problem that stops reading one source. Entry-level trouble (a binary file, an oversized
/// document, a symlink) is not an error: it is counted in `CorpusStats` and listed as a warning.
public enum CorpusError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The path does not exist.
    case notFound(path: String)
    /// The path exists but cannot be opened or listed (`reason` is the OS's message).
    case unreadable(path: String, reason: String)
    /// The path is a fifo, socket or device, not a file or a directory.
    case notRegularFile(path: String)
    /// A read from the disk failed midway.
    case io(path: String, reason: String)
    /// The archive ends early (libarchive's message in `detail`).
    case truncatedArchive(path: String, entry: String?, detail: String)
    /// The archive is damaged or not in a format libarchive reads.
    case corruptArchive(path: String, entry: String?, detail: String)
    /// The archive decompresses to far more bytes than its size allows.
    case compressionBomb(path: String, compressedBytes: Int64, uncompressedBytes: Int64, limit: Int64)

    public var description: String { text(suggestingContinueOnError: true) }

    /// The message as a warning under `--continue-on-error`, which no longer suggests passing it.
    public var warning: String { text(suggestingContinueOnError: false) }

    private func text(suggestingContinueOnError: Bool) -> String {
        switch self {
        case .notFound(let path):
            return "\(path): no such file or directory: check the path"
        case .unreadable(let path, let reason):
            return "\(path): cannot read (\(reason)): check the file's permissions"
        case .notRegularFile(let path):
            return "\(path): not a regular file or directory (fifo, socket or device): pass files or folders"
        case .io(let path, let reason):
            return "\(path): read failed (\(reason)): check the disk and run the command again"
        case .truncatedArchive(let path, let entry, let detail):
            return "\(Self.label(path, entry)): truncated archive (libarchive: \(detail)): "
                + "re-download or re-create the archive"
        case .corruptArchive(let path, let entry, let detail):
            return "\(Self.label(path, entry)): corrupt or unsupported archive (libarchive: \(detail)): "
                + "re-download or re-create it"
                + (suggestingContinueOnError ? " (or pass --continue-on-error to skip it)" : "")
        case .compressionBomb(let path, let compressed, let uncompressed, let limit):
            return "\(path): looks like a compression bomb (\(compressed) compressed bytes expanded to more than "
                + "\(uncompressed) bytes, limit \(limit)): unpack and inspect it, or raise the expansion limit"
        }
    }

    /// "file" or "file: entry", the prefix of every message.
    static func label(_ path: String, _ entry: String?) -> String {
        guard let entry, !entry.isEmpty else { return path }
        return "\(path): \(entry)"
    }

    /// Sorts a fatal libarchive message into a truncated or a corrupt archive.
    static func archive(path: String, entry: String?, detail: String) -> CorpusError {
        let lower = detail.lowercased()
        let truncated = ["truncated", "premature end", "unexpected end", "unexpected eof"]
        if truncated.contains(where: lower.contains) {
            return .truncatedArchive(path: path, entry: entry, detail: detail)
        }
        return .corruptArchive(path: path, entry: entry, detail: detail)
    }
}

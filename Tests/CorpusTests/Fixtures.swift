// Test fixtures made at run time: archives written with libarchive's write API into a fresh
// temporary folder, plus a helper that reads a source into an array of documents.
import CArchive
import Foundation
import Testing

@testable import Corpus

/// One entry of a fixture archive.
struct FixtureEntry {
    enum Kind {
        case file, directory
        case symlink(String)
        case hardlink(String)
        case fifo
    }
    var path: String
    var data: [UInt8] = []
    var kind: Kind = .file

    static func file(_ path: String, _ text: String) -> FixtureEntry {
        FixtureEntry(path: path, data: Array(text.utf8))
    }
    static func file(_ path: String, bytes: [UInt8]) -> FixtureEntry {
        FixtureEntry(path: path, data: bytes)
    }
}

enum ArchiveFormat { case tar, zip, sevenZip, raw }
enum ArchiveFilter { case none, gzip, xz, bzip2, zstd }

/// A fresh temporary folder per test, removed by the caller with `remove()`.
struct TempDir {
    let path: String

    init() {
        var template = Array((NSTemporaryDirectory() + "/corpus-test-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let full = file(name)
        try? FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: full, contents: Data(bytes))
        return full
    }

    @discardableResult
    func write(_ name: String, _ text: String) -> String { write(name, Array(text.utf8)) }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

enum Fixtures {
    /// Writes `entries` as an archive at `path` with libarchive's write API.
    @discardableResult
    static func archive(
        _ path: String, format: ArchiveFormat, filter: ArchiveFilter = .none, _ entries: [FixtureEntry]
    ) -> String {
        let a = archive_write_new()!
        defer { archive_write_free(a) }
        switch format {
        case .tar: archive_write_set_format_pax_restricted(a)
        case .zip: archive_write_set_format_zip(a)
        case .sevenZip: archive_write_set_format_7zip(a)
        case .raw: archive_write_set_format_raw(a)
        }
        switch filter {
        case .none: break
        case .gzip: archive_write_add_filter_gzip(a)
        case .xz: archive_write_add_filter_xz(a)
        case .bzip2: archive_write_add_filter_bzip2(a)
        case .zstd: archive_write_add_filter_zstd(a)
        }
        precondition(archive_write_open_filename(a, path) == ARCHIVE_OK, String(cString: archive_error_string(a)))
        for item in entries {
            let e = archive_entry_new()!
            defer { archive_entry_free(e) }
            archive_entry_set_pathname(e, item.path)
            archive_entry_set_perm(e, 0o644)
            switch item.kind {
            case .file:
                archive_entry_set_filetype(e, 0o100000)
                archive_entry_set_size(e, Int64(item.data.count))
            case .directory:
                archive_entry_set_filetype(e, 0o040000)
            case .symlink(let target):
                archive_entry_set_filetype(e, 0o120000)
                archive_entry_set_symlink(e, target)
            case .hardlink(let target):
                archive_entry_set_filetype(e, 0o100000)
                archive_entry_set_hardlink(e, target)
                archive_entry_set_size(e, 0)
            case .fifo:
                archive_entry_set_filetype(e, 0o010000)
            }
            precondition(archive_write_header(a, e) == ARCHIVE_OK, String(cString: archive_error_string(a)))
            if !item.data.isEmpty {
                let written = item.data.withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) }
                precondition(written == item.data.count, "short archive write")
            }
        }
        precondition(archive_write_close(a) == ARCHIVE_OK, String(cString: archive_error_string(a)))
        return path
    }

    /// The same small tree in every format: nested folders, markdown, and a JSONL file.
    static let tree: [FixtureEntry] = [
        FixtureEntry(path: "docs", kind: .directory),
        .file("docs/a.txt", "Alpha text.\n"),
        .file("docs/deep/b.md", "# Beta\n\nSome *markdown*.\n"),
        .file("notes.jsonl", "{\"text\": \"first line\"}\n{\"id\": 2, \"text\": \"second\\nline\"}\n"),
        .file("zeta.txt", "Zeta ünïcødé ✓\n"),
    ]

    static let treeDocuments: [String: String] = [
        "docs/a.txt": "Alpha text.\n",
        "docs/deep/b.md": "# Beta\n\nSome *markdown*.\n",
        "notes.jsonl#L1": "first line",
        "notes.jsonl#L2": "second\nline",
        "zeta.txt": "Zeta ünïcødé ✓\n",
    ]
}

/// A document copied out of the callback.
struct ReadDocument: Equatable {
    var source: String
    var entry: String
    var text: String
}

/// Reads one source and copies its documents out.
func readAll(
    _ path: String, _ options: CorpusOptions = CorpusOptions(), progress: ((Int64) -> Void)? = nil
) throws -> ([ReadDocument], CorpusStats) {
    let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
    var docs: [ReadDocument] = []
    let stats = try CorpusScanner.read(SourceFile(path: path, size: size), options: options, progress: progress) {
        docs.append(ReadDocument(source: $0.source, entry: $0.entry, text: String(decoding: $0.bytes, as: UTF8.self)))
    }
    return (docs, stats)
}

// Every format libarchive reads yields the same documents: tar with each compression filter, zip,
// 7z, single compressed files, plain files, and folders (with archives inside).
import Foundation
import Testing

@testable import Corpus

@Suite struct FormatTests {
    static let archives: [(String, ArchiveFormat, ArchiveFilter)] = [
        ("tree.tar", .tar, .none), ("tree.tar.gz", .tar, .gzip), ("tree.tgz", .tar, .gzip),
        ("tree.tar.xz", .tar, .xz), ("tree.tar.bz2", .tar, .bzip2), ("tree.tar.zst", .tar, .zstd),
        ("tree.zip", .zip, .none), ("tree.7z", .sevenZip, .none),
    ]

    @Test(arguments: archives.map(\.0), [true, false])
    func archiveFormats(_ name: String, readAhead: Bool) throws {
        let dir = TempDir()
        defer { dir.remove() }
        let (_, format, filter) = Self.archives.first { $0.0 == name }!
        let path = Fixtures.archive(dir.file(name), format: format, filter: filter, Fixtures.tree)
        let (docs, stats) = try readAll(path, CorpusOptions(readAheadThread: readAhead))
        #expect(Dictionary(uniqueKeysWithValues: docs.map { ($0.entry, $0.text) }) == Fixtures.treeDocuments)
        #expect(docs.map(\.entry) == ["docs/a.txt", "docs/deep/b.md", "notes.jsonl#L1", "notes.jsonl#L2", "zeta.txt"])
        #expect(docs.allSatisfy { $0.source == path })
        #expect(stats.documents == 5)
        #expect(stats.entriesSeen == 4)
        #expect(stats.skipped == 0)
        #expect(stats.documentBytes == Int64(Fixtures.treeDocuments.values.map(\.utf8.count).reduce(0, +)))
        let size = Int64(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int)
        #expect(stats.compressedBytes == size, "\(stats.compressedBytes) vs \(size)")
        #expect(stats.uncompressedBytes >= stats.documentBytes)
        #expect(stats.warnings.isEmpty)
    }

    @Test(arguments: [ArchiveFilter.gzip, .xz, .bzip2, .zstd])
    func singleCompressedFile(_ filter: ArchiveFilter) throws {
        let dir = TempDir()
        defer { dir.remove() }
        let ext = [ArchiveFilter.gzip: "gz", .xz: "xz", .bzip2: "bz2", .zstd: "zst"][filter]!
        let text = String(repeating: "The quick brown fox.\n", count: 500)
        let path = Fixtures.archive(dir.file("story.txt.\(ext)"), format: .raw, filter: filter, [.file("x", text)])
        let (docs, stats) = try readAll(path)
        #expect(docs == [ReadDocument(source: path, entry: "story.txt", text: text)])
        #expect(stats.uncompressedBytes == Int64(text.utf8.count))
    }

    @Test func compressedJSONL() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let path = Fixtures.archive(
            dir.file("data.jsonl.gz"), format: .raw, filter: .gzip, [.file("x", "{\"text\":\"a\"}\n{\"text\":\"b\"}\n")]
        )
        let (docs, _) = try readAll(path)
        #expect(docs.map(\.entry) == ["data.jsonl#L1", "data.jsonl#L2"])
        #expect(docs.map(\.text) == ["a", "b"])
    }

    @Test func plainFiles() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let text = dir.write("hello.txt", "Hello, world.\n")
        let (docs, stats) = try readAll(text)
        #expect(docs == [ReadDocument(source: text, entry: "", text: "Hello, world.\n")])
        #expect(stats.compressedBytes == 14 && stats.uncompressedBytes == 14)

        let bom = dir.write("bom.txt", [0xEF, 0xBB, 0xBF] + Array("after bom".utf8))
        #expect(try readAll(bom).0.map(\.text) == ["after bom"])

        let empty = dir.write("empty.txt", "")
        let (none, emptyStats) = try readAll(empty)
        #expect(none.isEmpty && emptyStats.skippedEmpty == 1)
    }

    /// libarchive's mtree format would claim this text; it must stay one plain document.
    @Test func mtreeLookingTextIsPlain() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let text = "#mtree\n. type=dir\n./a type=file size=3\n"
        let path = dir.write("spec.txt", text)
        #expect(try readAll(path).0.map(\.text) == [text])
    }

    @Test func foldersExpandSortedWithArchivesInside() throws {
        let dir = TempDir()
        defer { dir.remove() }
        dir.write("corpus/b.txt", "B")
        dir.write("corpus/a/z.txt", "Z")
        dir.write("corpus/a/y.md", "Y")
        Fixtures.archive(dir.file("corpus/c.tar.gz"), format: .tar, filter: .gzip, [.file("inner.txt", "inner")])
        let sources = try CorpusScanner.sources(for: [
            dir.file("corpus"), dir.file("corpus/b.txt"), dir.file("corpus/"),
        ])
        let names = sources.map { String($0.path.dropFirst(dir.path.count + 1)) }
        #expect(names == ["corpus/a/y.md", "corpus/a/z.txt", "corpus/b.txt", "corpus/c.tar.gz"])
        #expect(sources[0].size == 1)
        var texts: [String] = []
        for source in sources {
            _ = try CorpusScanner.read(source, options: CorpusOptions(), progress: nil) {
                texts.append(String(decoding: $0.bytes, as: UTF8.self))
            }
        }
        #expect(texts == ["Y", "Z", "B", "inner"])
    }

    /// Documents bigger than the read-ahead blocks, JSONL spanning blocks, skips and oversized
    /// entries: the read-ahead thread gives exactly what a single thread gives.
    @Test func readAheadMatchesSingleThread() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var entries: [FixtureEntry] = []
        for i in 0..<30 {
            let size = [10, 300_000, 700_000, 1 << 18][i % 4]
            entries.append(.file("doc\(i).txt", String(repeating: "line \(i) of text\n", count: size / 16)))
            if i % 7 == 0 { entries.append(.file("skip\(i).png", "x")) }
        }
        let lines = (0..<40_000).map { "{\"text\": \"jsonl line \($0)\"}" }.joined(separator: "\n")
        entries.append(.file("big.jsonl", lines))
        let path = Fixtures.archive(dir.file("big.tar.gz"), format: .tar, filter: .gzip, entries)
        for limit in [64 << 20, 500_000] {
            let (single, singleStats) = try readAll(
                path, CorpusOptions(maxDocumentBytes: limit, readAheadThread: false))
            var (threaded, threadedStats) = try readAll(
                path, CorpusOptions(maxDocumentBytes: limit, readAheadThread: true))
            #expect(single == threaded)
            // Read-ahead also decompresses the tails of skipped documents, which a single thread skips.
            #expect(threadedStats.uncompressedBytes >= singleStats.uncompressedBytes)
            threadedStats.uncompressedBytes = singleStats.uncompressedBytes
            #expect(singleStats == threadedStats)
            #expect(single.count > 40_000)
        }
        var stopped = 0
        #expect(throws: CancellationError.self) {
            _ = try CorpusScanner.read(SourceFile(path: path, size: 0), options: CorpusOptions(), progress: nil) { _ in
                stopped += 1
                if stopped == 3 { throw CancellationError() }
            }
        }
    }

    @Test func progressReportsCompressedBytes() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let path = Fixtures.archive(dir.file("t.tar.gz"), format: .tar, filter: .gzip, Fixtures.tree)
        var reports: [Int64] = []
        let (_, stats) = try readAll(path) { reports.append($0) }
        #expect(!reports.isEmpty)
        #expect(reports == reports.sorted())
        #expect(reports.last == stats.compressedBytes)
    }

    /// `read` keeps no global state: two threads reading at once see what one thread sees.
    @Test func concurrentReadsAgree() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let paths = [
            Fixtures.archive(dir.file("t.tar.xz"), format: .tar, filter: .xz, Fixtures.tree),
            Fixtures.archive(dir.file("t.zip"), format: .zip, Fixtures.tree),
        ]
        let expected = try paths.map { try readAll($0).0.map(\.text) }
        let results = ResultBox(count: 2 * 8)
        DispatchQueue.concurrentPerform(iterations: 2 * 8) { i in
            results.set(i, (try? readAll(paths[i % 2]).0.map(\.text)) ?? [])
        }
        for i in 0..<(2 * 8) { #expect(results.get(i) == expected[i % 2]) }
    }
}

/// Results written from concurrent iterations, under a lock.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [[String]]
    init(count: Int) { values = Array(repeating: [], count: count) }
    func set(_ i: Int, _ v: [String]) {
        lock.lock()
        values[i] = v
        lock.unlock()
    }
    func get(_ i: Int) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return values[i]
    }
}

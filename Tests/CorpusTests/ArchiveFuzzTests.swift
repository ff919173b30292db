// Fuzzing the archive reader: real tar, tar.gz, tar.xz, tar.bz2, tar.zst, zip, 7z, .xz and JSONL
// bytes, mutated and read through libarchive as ingest reads them (with and without the
// read-ahead thread). Every input either reads, and then every document is valid UTF-8 within
// the size cap, or fails with a CorpusError naming the file. No trap, no hang.
import Basics
import Foundation
import TestSupport
import Testing

@testable import Corpus

/// Longest a single input may take before it counts as a hang (a few milliseconds is usual).
private let hangBound = Duration.seconds(5)

struct ArchiveFuzzTests {
    static let formats: [(String, ArchiveFormat, ArchiveFilter)] = [
        ("f.tar", .tar, .none), ("f.tar.gz", .tar, .gzip), ("f.tar.xz", .tar, .xz), ("f.tar.bz2", .tar, .bzip2),
        ("f.tar.zst", .tar, .zstd), ("f.zip", .zip, .none), ("f.7z", .sevenZip, .none),
        ("f.jsonl.xz", .raw, .xz),
    ]

    static let entries: [FixtureEntry] =
        Fixtures.tree + [
            .file("bin/blob.dat", bytes: (0..<300).map { UInt8($0 % 256) }),
            .file("latin1.txt", bytes: Array("caf".utf8) + [0xE9, 0x0A]),
            FixtureEntry(path: "link", kind: .symlink("docs/a.txt")),
            .file("big.txt", String(repeating: "many words in a line. ", count: 200)),
        ]

    @Test(arguments: formats.map(\.0))
    func mutatedArchivesReadOrFailWithACorpusError(_ name: String) throws {
        let dir = TempDir()
        defer { dir.remove() }
        let (_, format, filter) = Self.formats.first { $0.0 == name }!
        let entries =
            format == .raw
            ? [.file("data", bytes: Fixtures.tree.first { $0.path.hasSuffix(".jsonl") }!.data)]
            : Self.entries
        let seedPath = Fixtures.archive(dir.file("seed-" + name), format: format, filter: filter, entries)
        let seed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: seedPath)))
        // Small caps, so a mutation that inflates the data is cut off early.
        let maxDocument = 4096
        var mutator = Mutator(seed: UInt64(name.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) }))
        var read = 0
        var failed = 0
        let path = dir.file(name)
        for n in 0..<250 {
            let input = mutator.mutate(seed, focus: 0..<min(seed.count, 512))
            _ = FileManager.default.createFile(atPath: path, contents: Data(input))
            let options = CorpusOptions(
                maxDocumentBytes: maxDocument, continueOnError: n % 4 == 0, maxExpansionRatio: 20,
                expansionSlackBytes: 1 << 20, readAheadThread: n % 2 == 0)
            let start = ContinuousClock.now
            do {
                let stats = try CorpusScanner.read(
                    SourceFile(path: path, size: Int64(input.count)), options: options, progress: nil
                ) {
                    doc in
                    #expect(doc.bytes.count <= maxDocument, "input \(n): \(doc.entry) is \(doc.bytes.count) bytes")
                    #expect(
                        String(validating: doc.bytes, as: UTF8.self) != nil, "input \(n): \(doc.entry) is not UTF-8")
                }
                #expect(stats.documents >= 0 && stats.warningCount >= stats.warnings.count)
                read += 1
            } catch let error as CorpusError {
                #expect(error.description.hasPrefix(path), "input \(n): \(error)")
                failed += 1
            } catch {
                Issue.record("input \(n): not a CorpusError: \(error)")
            }
            #expect(ContinuousClock.now - start < hangBound, "input \(n) took too long")
        }
        #expect(read > 0 && failed + read == 250)
    }
}

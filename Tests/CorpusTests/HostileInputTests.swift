// Bad and hostile input: truncated and corrupt archives, bombs, links and devices, escaping entry
// paths, binary and non-UTF-8 content, oversized documents, and paths that do not exist.
import Foundation
import Testing

@testable import Corpus

@Suite struct HostileInputTests {
    @Test func truncatedTarGzThrowsNamingTheFile() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var entries: [FixtureEntry] = []
        var state: UInt64 = 42
        for i in 0..<300 {
            // Random letters compress poorly, so half the file is well inside the entry data.
            let text = String(
                (0..<2000).map { _ -> Character in
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    return Character(Unicode.Scalar(UInt8(97 + (state >> 33) % 26)))
                })
            entries.append(.file("doc\(i).txt", text))
        }
        let whole = Fixtures.archive(dir.file("whole.tar.gz"), format: .tar, filter: .gzip, entries)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: whole))
        let cut = dir.write("corpus.tar.gz", Array(bytes.prefix(bytes.count / 2)))
        var kept = 0
        let error = #expect(throws: CorpusError.self) {
            _ = try CorpusScanner.read(SourceFile(path: cut, size: 0), options: CorpusOptions(), progress: nil) { _ in
                kept += 1
            }
        }
        guard case .truncatedArchive(let path, _, let detail) = error else {
            Issue.record("expected a truncated archive, got \(String(describing: error))")
            return
        }
        #expect(path == cut && !detail.isEmpty)
        #expect(kept > 0 && kept < 300)
        let message = error!.description
        #expect(message.hasPrefix(cut + ": ") && message.contains("truncated archive (libarchive: "))
        #expect(message.hasSuffix("re-download or re-create the archive"))

        let (_, stats) = try readAll(cut, CorpusOptions(continueOnError: true))
        #expect(stats.failedSources == 1 && stats.documents == kept)
        #expect(stats.warnings.last?.contains("truncated archive") == true)
    }

    @Test func corruptZipThrows() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let zip = Fixtures.archive(dir.file("ok.zip"), format: .zip, Fixtures.tree)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: zip)))
        for i in 30..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: i &* 7) }
        let bad = dir.write("bad.zip", bytes)
        #expect {
            _ = try readAll(bad)
        } throws: { error in
            guard let error = error as? CorpusError, case .corruptArchive = error else { return false }
            return error.description.hasPrefix(bad)
        }
        let (_, stats) = try readAll(bad, CorpusOptions(continueOnError: true))
        #expect(stats.failedSources == 1 && stats.warningCount >= 1)
        // Under --continue-on-error the warning says what happened, not to pass --continue-on-error.
        let warning = try #require(stats.warnings.first { $0.contains("corrupt or unsupported archive") })
        #expect(warning.hasPrefix(bad) && !warning.contains("--continue-on-error"))
        #expect(warning.contains("continuing on error"))
    }

    /// A tar header whose checksum fails: libarchive skips to the next valid header, and the lost
    /// entry is counted as unreadable with a warning naming the archive and libarchive's reason
    /// (it was dropped silently: "entries 2, warnings 0").
    @Test func aDamagedTarHeaderIsACountedWarning() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let entries = (1...3).map { FixtureEntry.file("d\($0).txt", "document number \($0)\n") }
        let tar = Fixtures.archive(dir.file("three.tar"), format: .tar, entries)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: tar)))
        bytes[1025] = UInt8(ascii: "X")  // in d2.txt's header (d1.txt: header 0-511, data 512-1023)
        let damaged = dir.write("damaged.tar", bytes)
        let (docs, stats) = try readAll(damaged)
        #expect(docs.map(\.entry) == ["d1.txt", "d3.txt"])
        #expect(stats.entriesSeen == 3 && stats.skippedUnreadable == 1 && stats.warningCount == 1)
        let warning = try #require(stats.warnings.first)
        #expect(warning.hasPrefix(damaged + ": after d1.txt: damaged entry header (libarchive: "), "\(warning)")
        #expect(warning.contains("Damaged tar archive"), "\(warning)")
        // Damage in the last header: reported before the end too.
        bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: tar)))
        bytes[2049] = UInt8(ascii: "X")
        let (lastDocs, lastStats) = try readAll(dir.write("damaged-last.tar", bytes))
        #expect(lastDocs.map(\.entry) == ["d1.txt", "d2.txt"])
        #expect(lastStats.skippedUnreadable == 1 && lastStats.warnings.first?.contains("after d2.txt") == true)
    }

    @Test func compressionBombIsRejected() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let text = String(repeating: "all work and no play\n", count: 200_000)  // 4.2 MB, compresses ~500x
        let bomb = Fixtures.archive(dir.file("bomb.tar.gz"), format: .tar, filter: .gzip, [.file("a.txt", text)])
        let options = CorpusOptions(maxDocumentBytes: 1 << 20, maxExpansionRatio: 50, expansionSlackBytes: 0)
        #expect {
            _ = try readAll(bomb, options)
        } throws: { error in
            guard let error = error as? CorpusError, case .compressionBomb(let path, _, _, _) = error else {
                return false
            }
            return path == bomb && error.description.contains("compression bomb")
        }
        let (_, relaxed) = try readAll(bomb, CorpusOptions(maxDocumentBytes: 1 << 20))
        #expect(relaxed.skippedOversized == 1 && relaxed.documents == 0)
    }

    @Test func linksDevicesAndEscapingPaths() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let path = Fixtures.archive(
            dir.file("links.tar"), format: .tar,
            [
                .file("real.txt", "real"),
                FixtureEntry(path: "link.txt", kind: .symlink("/etc/passwd")),
                FixtureEntry(path: "hard.txt", kind: .hardlink("real.txt")),
                FixtureEntry(path: "pipe", kind: .fifo),
                .file("../evil.txt", "evil"),
                .file("/abs/path.txt", "absolute"),
            ])
        let (docs, stats) = try readAll(path)
        #expect(docs.map(\.text) == ["real", "evil", "absolute"])
        #expect(stats.skippedNonRegular == 3)
        #expect(stats.warnings.contains { $0.contains("link.txt: symlink skipped") })
        #expect(stats.warnings.contains { $0.contains("../evil.txt: absolute or ../ entry path: harmless") })
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/../evil.txt"))
    }

    @Test func binaryEntriesAreSkippedByNameAndContent() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let nested = Fixtures.archive(dir.file("n.tar.gz"), format: .tar, filter: .gzip, [.file("x.txt", "x")])
        let path = Fixtures.archive(
            dir.file("mixed.zip"), format: .zip,
            [
                .file("text.txt", "text"),
                .file("photo.png", bytes: [0x89, 0x50, 0x4E, 0x47]),
                .file("nested.tar.gz", bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: nested)))),
                .file("blob.dat", bytes: Array("abc".utf8) + [0, 1, 2] + Array(repeating: 65, count: 9000)),
                .file("controls.txt", bytes: Array(repeating: 0x01, count: 50) + Array(repeating: 65, count: 50)),
            ])
        let (docs, stats) = try readAll(path)
        #expect(docs.map(\.entry) == ["text.txt"])
        #expect(stats.skippedBinaryName == 2 && stats.skippedBinaryContent == 2)
        let (all, _) = try readAll(path, CorpusOptions(repairInvalidUTF8: true, skipBinary: false))
        #expect(all.count == 5)

        let loose = dir.write("picture.jpg", "not really a jpeg")
        #expect(try readAll(loose).1.skippedBinaryName == 1)
        let binaryFile = dir.write("data.bin2", [0, 0, 0, 1])
        #expect(try readAll(binaryFile).1.skippedBinaryContent == 1)
    }

    @Test func invalidUTF8IsSkippedOrRepaired() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let path = dir.write("latin1.txt", Array("caf".utf8) + [0xE9] + Array(" au lait".utf8))
        let (skipped, stats) = try readAll(path)
        #expect(skipped.isEmpty && stats.invalidUTF8Skipped == 1 && stats.invalidUTF8Repaired == 0)
        #expect(stats.warnings.first?.contains("invalid UTF-8 at byte 3") == true)
        let (repaired, repairStats) = try readAll(path, CorpusOptions(repairInvalidUTF8: true))
        #expect(repaired.map(\.text) == ["caf\u{FFFD} au lait"])
        #expect(repairStats.invalidUTF8Repaired == 1 && repairStats.invalidUTF8Skipped == 0)
    }

    @Test func oversizedDocumentsAndLinesAreSkipped() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let big = String(repeating: "x", count: 5000)
        let path = Fixtures.archive(
            dir.file("sizes.tar.xz"), format: .tar, filter: .xz,
            [
                .file("small.txt", "small"),
                .file("big.txt", big),
                .file("lines.jsonl", "{\"text\":\"ok\"}\n{\"text\":\"\(big)\"}\n{\"text\":\"after\"}\n"),
            ])
        let (docs, stats) = try readAll(path, CorpusOptions(maxDocumentBytes: 1000))
        #expect(docs.map(\.text) == ["small", "ok", "after"])
        #expect(docs.map(\.entry) == ["small.txt", "lines.jsonl#L1", "lines.jsonl#L3"])
        #expect(stats.skippedOversized == 2)
        let plain = dir.write("big.txt", big)
        #expect(try readAll(plain, CorpusOptions(maxDocumentBytes: 4999)).1.skippedOversized == 1)
        #expect(try readAll(plain, CorpusOptions(maxDocumentBytes: 5000)).1.documents == 1)
    }

    @Test func emptyArchives() throws {
        let dir = TempDir()
        defer { dir.remove() }
        for (name, format, filter) in [
            ("empty.tar.gz", ArchiveFormat.tar, ArchiveFilter.gzip), ("empty.zip", .zip, .none),
            ("empty.tar", .tar, .none),
        ] {
            let path = Fixtures.archive(dir.file(name), format: format, filter: filter, [])
            let (docs, stats) = try readAll(path)
            #expect(docs.isEmpty && stats.entriesSeen == 0, "\(name)")
            #expect(stats.warnings == ["\(path): archive has no file entries"], "\(name)")
        }
    }

    @Test func missingAndVanishingPaths() throws {
        let dir = TempDir()
        defer { dir.remove() }
        #expect(throws: CorpusError.notFound(path: dir.file("nope.txt"))) {
            try CorpusScanner.sources(for: [dir.file("nope.txt")])
        }
        #expect(CorpusError.notFound(path: "x").description == "x: no such file or directory: check the path")
        // Tests run as root, so chmod 000 cannot make a file unreadable; a file that vanishes
        // between listing and reading exercises the same path.
        dir.write("folder/gone.txt", "soon gone")
        let sources = try CorpusScanner.sources(for: [dir.file("folder")])
        try FileManager.default.removeItem(atPath: dir.file("folder/gone.txt"))
        #expect(throws: CorpusError.notFound(path: dir.file("folder/gone.txt"))) {
            _ = try CorpusScanner.read(sources[0], options: CorpusOptions(), progress: nil) { _ in }
        }
        mkfifo(dir.file("fifo"), 0o600)
        #expect(throws: CorpusError.notRegularFile(path: dir.file("fifo"))) {
            try CorpusScanner.sources(for: [dir.file("fifo")])
        }
    }

    /// A file name that is not UTF-8 cannot be named by a String path: it is a warning naming the
    /// folder and saying to rename the file (it was skipped without a word).
    @Test func aFileNameThatIsNotUTF8IsAWarning() throws {
        let dir = TempDir()
        defer { dir.remove() }
        dir.write("folder/good.txt", "good")
        let bad: [UInt8] = Array(dir.file("folder/bad").utf8) + [0xFF, 0xFE] + Array(".txt".utf8) + [0]
        let fd = bad.withUnsafeBufferPointer {
            open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_WRONLY | O_CREAT, 0o644)
        }
        try #require(fd >= 0)
        close(fd)
        let listing = try CorpusScanner.listSources(for: [dir.file("folder")])
        #expect(listing.files.map(\.path) == [dir.file("folder/good.txt")])
        #expect(listing.warnings.count == 1)
        let warning = try #require(listing.warnings.first)
        #expect(warning.hasPrefix(dir.file("folder") + ": the file name 'bad"), "\(warning)")
        #expect(warning.contains("is not valid UTF-8") && warning.hasSuffix("rename the file"), "\(warning)")
    }

    /// The workspace inside an input folder is not walked (its tokenizers were read as documents,
    /// a few more at every ingest), with a warning saying so; nor is it when named directly.
    @Test func theSkippedFolderIsNotWalked() throws {
        let dir = TempDir()
        defer { dir.remove() }
        dir.write("corpus/a.txt", "alpha")
        dir.write("corpus/.tracker/tokenizers/x.json", "{}")
        let listing = try CorpusScanner.listSources(for: [dir.file("corpus")], skipping: dir.file("corpus/.tracker"))
        #expect(listing.files.map(\.path) == [dir.file("corpus/a.txt")])
        #expect(
            listing.warnings == [
                "\(dir.file("corpus/.tracker")): the workspace (--home), not read as part of the corpus"
            ])
        #expect(try CorpusScanner.sources(for: [dir.file("corpus")]).count == 2)
        let named = try CorpusScanner.listSources(
            for: [dir.file("corpus/.tracker")], skipping: dir.file("corpus/.tracker/"))
        #expect(named.files.isEmpty && named.warnings.count == 1)
    }

    @Test func callerErrorsPassThrough() throws {
        struct Stop: Error {}
        let dir = TempDir()
        defer { dir.remove() }
        let path = Fixtures.archive(dir.file("t.tar"), format: .tar, Fixtures.tree)
        #expect(throws: Stop.self) {
            _ = try CorpusScanner.read(
                SourceFile(path: path, size: 0), options: CorpusOptions(continueOnError: true),
                progress: nil
            ) { _ in throw Stop() }
        }
    }
}

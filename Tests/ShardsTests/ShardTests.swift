// Shard round trips and every header failure (llm.c's three checks plus the token range).
import Basics
import Foundation
import Shards
import Testing

#if canImport(Glibc)
    import Glibc
#endif

private func tempDir() -> String {
    let d = NSTemporaryDirectory() + "shards-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

private func writeShard(_ path: String, tokens: [UInt32], vocab: Int, docs: Int = 1) throws -> ShardHeader {
    let w = try ShardWriter(path: path, vocabSize: vocab, eotId: UInt32(vocab - 1), tokenizerSHA256: Array(0..<32))
    try tokens.withUnsafeBufferPointer { try w.append(document: $0) }
    for _ in 1..<max(docs, 1) { try [UInt32]().withUnsafeBufferPointer { try w.append(document: $0) } }
    return try w.finish()
}

struct ShardTests {
    @Test(arguments: [300, 8192, 65_536, 70_000])
    func roundTrip(vocab: Int) throws {
        let path = tempDir() + "/train_000000.bin"
        let tokens = (0..<5000).map { UInt32($0 * 7919 % vocab) }
        let h = try writeShard(path, tokens: tokens, vocab: vocab)
        #expect(h.version == (vocab <= 65_536 ? 1 : 2))
        let r = try ShardReader(path: path)
        #expect(r.tokenCount == tokens.count)
        #expect((0..<tokens.count).map { r[$0] } == tokens)
        #expect(r.header.vocabSize == vocab && r.header.eotId == UInt32(vocab - 1))
        #expect(r.header.tokenizerSHA256 == Array(0..<32))
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        #expect(size == 1024 + tokens.count * (vocab <= 65_536 ? 2 : 4))
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
    }

    @Test func headerIsLLMCLayout() throws {
        let path = tempDir() + "/a.bin"
        _ = try writeShard(path, tokens: [1, 2, 3], vocab: 50_257)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let words = data.prefix(12).withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
        #expect(words == [20_240_520, 1, 3])
        #expect(data[1024] == 1 && data[1025] == 0 && data[1026] == 2)
    }

    @Test func nothingAppearsBeforeFinish() throws {
        let path = tempDir() + "/b.bin"
        let w = try ShardWriter(path: path, vocabSize: 300, eotId: 299, tokenizerSHA256: [])
        try [1, 2, 3].withUnsafeBufferPointer { try w.append(document: $0) }
        #expect(!FileManager.default.fileExists(atPath: path))
        w.discard()
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
    }

    @Test func badMagic() throws {
        let path = tempDir() + "/c.bin"
        try Data(repeating: 7, count: 2048).write(to: URL(fileURLWithPath: path))
        #expect(throws: ShardError.badMagic(path: path, found: 0x0707_0707)) { try ShardReader(path: path) }
    }

    @Test func badVersion() throws {
        let path = tempDir() + "/d.bin"
        _ = try writeShard(path, tokens: [1, 2], vocab: 300)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[4] = 9
        try data.write(to: URL(fileURLWithPath: path))
        #expect(throws: ShardError.badVersion(path: path, found: 9)) { try ShardReader(path: path) }
    }

    @Test func truncatedFile() throws {
        let path = tempDir() + "/e.bin"
        _ = try writeShard(path, tokens: Array(repeating: 5, count: 100), vocab: 300)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(1024 + 150).write(to: URL(fileURLWithPath: path))
        #expect(throws: ShardError.sizeMismatch(path: path, expected: 1224, actual: 1174)) {
            try ShardReader(path: path)
        }
        try data.prefix(10).write(to: URL(fileURLWithPath: path))
        #expect(throws: ShardError.tooSmall(path: path, size: 10)) { try ShardReader(path: path) }
    }

    @Test func tokenOutOfRangeAndWrongVocabulary() throws {
        let path = tempDir() + "/f.bin"
        _ = try writeShard(path, tokens: [1, 2, 299], vocab: 300)
        #expect(throws: ShardError.vocabularyMismatch(path: path, shard: 300, expected: 200)) {
            try ShardReader(path: path, expectVocabSize: 200)
        }
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[1024 + 2] = 0xFF
        data[1024 + 3] = 0x01  // token 511 at index 1
        try data.write(to: URL(fileURLWithPath: path))
        #expect(throws: ShardError.tokenOutOfRange(path: path, index: 1, token: 511, vocabSize: 300)) {
            try ShardReader(path: path)
        }
        let unchecked = try ShardReader(path: path, checkTokens: false)
        #expect(unchecked[1] == 511)
    }

    @Test(arguments: [(2, "token count"), (3, "vocabulary size"), (5, "document count")])
    func negativeHeaderFieldsSayWhatIsWrong(word: Int, field: String) throws {
        let path = tempDir() + "/g.bin"
        _ = try writeShard(path, tokens: [1, 2], vocab: 300)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        for i in 0..<4 { data[4 * word + i] = 0xFF }  // -1
        try data.write(to: URL(fileURLWithPath: path))
        let e = #expect(throws: ShardError.badHeaderField(path: path, field: field, found: -1)) {
            try ShardReader(path: path)
        }
        #expect(e.map { "\($0)".contains("\(field) is -1") && !"\($0)".contains("version") } == true)
    }

    /// Every position, in the vectorised body and the scalar tail, of both token widths.
    @Test(arguments: [300, 70_000])
    func outOfRangeTokenFoundAnywhere(vocab: Int) throws {
        let path = tempDir() + "/h.bin"
        let count = 101
        for bad in [0, 15, 31, 32, 63, 96, 100] {
            var tokens = (0..<count).map { UInt32($0 % vocab) }
            tokens[bad] = UInt32(vocab)
            _ = try writeShard(path, tokens: tokens, vocab: vocab + 1)  // then the header says `vocab`
            var data = try Data(contentsOf: URL(fileURLWithPath: path))
            withUnsafeBytes(of: Int32(vocab).littleEndian) { for i in 0..<4 { data[12 + i] = $0[i] } }
            try data.write(to: URL(fileURLWithPath: path))
            let r = try ShardReader(path: path, checkTokens: false)
            #expect(r.maxToken() == UInt32(vocab))
            for expect in [nil, vocab] {
                #expect(
                    throws: ShardError.tokenOutOfRange(path: path, index: bad, token: UInt32(vocab), vocabSize: vocab)
                ) {
                    try ShardReader(path: path, expectVocabSize: expect)
                }
            }
        }
    }

    @Test func recordedChecksumIsVerifiedOncePerVersionOfTheFile() throws {
        let dir = tempDir()
        let path = dir + "/train_000000.bin"
        _ = try writeShard(path, tokens: (0..<4000).map { UInt32($0 % 300) }, vocab: 300)
        let sha = try FileHashing.sha256(path: path).hex
        let sidecar = dir + "/.train_000000.bin.sha256"
        #expect(
            throws: ShardError.checksumMismatch(path: path, expected: String(repeating: "0", count: 64), actual: sha)
        ) {
            try ShardReader(path: path, expectSHA256: String(repeating: "0", count: 64))
        }
        #expect(!FileManager.default.fileExists(atPath: sidecar))
        _ = try ShardReader(path: path, expectSHA256: sha)
        let line = try String(contentsOfFile: sidecar, encoding: .utf8)
        #expect(line.contains(sha))

        // The sidecar is what makes the next open skip the hash: one claiming another checksum for
        // this very version of the file is believed.
        let other = String(repeating: "a", count: 64)
        try line.replacingOccurrences(of: sha, with: other).write(toFile: sidecar, atomically: true, encoding: .utf8)
        _ = try ShardReader(path: path, expectSHA256: other)

        // One changed byte, same size, modification time set back: caught (the change time moved).
        var st = stat()
        #expect(stat(path, &st) == 0)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[3000] ^= 0x01
        let fd = open(path, O_WRONLY)
        _ = data.withUnsafeBytes { pwrite(fd, $0.baseAddress! + 3000, 1, 3000) }
        close(fd)
        var times = [st.st_atim, st.st_mtim]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        let changed = try FileHashing.sha256(path: path).hex
        for expected in [sha, other] {
            #expect(throws: ShardError.checksumMismatch(path: path, expected: expected, actual: changed)) {
                try ShardReader(path: path, expectSHA256: expected)
            }
        }
    }

    @Test func writerRefusesMoreTokensThanTheHeaderCounts() throws {
        let path = tempDir() + "/i.bin"
        let w = try ShardWriter(path: path, vocabSize: 300, eotId: 299, tokenizerSHA256: [])
        defer { w.discard() }
        let fake = UnsafeBufferPointer<UInt32>(start: UnsafePointer(bitPattern: 0x1000), count: Int(Int32.max) + 1)
        #expect(throws: ShardError.tooManyTokens(path: path, limit: Int(Int32.max))) { try w.append(fake) }
    }

    @Test func errorsSayWhatToDo() {
        let e = ShardError.sizeMismatch(path: "x.bin", expected: 10, actual: 5)
        #expect(e.description.contains("tracker ingest"))
    }
}

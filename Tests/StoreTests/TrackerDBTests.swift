// The database: migrations from migrations/*.sql, WAL, and recording an ingest in one transaction.
import Foundation
import Testing

@testable import Store

private func tempDir() -> String {
    let d = NSTemporaryDirectory() + "store-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

private let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

struct TrackerDBTests {
    @Test func migrationsAreNumberedAndEmbedded() throws {
        let dir = repoRoot.appendingPathComponent("migrations").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(!files.isEmpty)
        for (i, f) in files.enumerated() {
            #expect(f.range(of: #"^\d{4}_[a-z0-9_]+\.sql$"#, options: .regularExpression) != nil, "bad name \(f)")
            #expect(Int(f.prefix(4)) == i + 1, "migrations must be numbered 0001, 0002, ... without gaps")
        }
        let embedded = TrackerDB.migrations
        #expect(embedded.map(\.name) == files, "run migrations/embed.sh")
        for m in embedded {
            let onDisk = try String(contentsOfFile: dir + "/" + m.name, encoding: .utf8)
            #expect(m.sql == onDisk.trimmingSuffixNewline, "\(m.name) changed: run migrations/embed.sh")
        }
        // PostgreSQL mirrors every migration under the same name.
        let postgres = TrackerDB.migrations(.postgres)
        #expect(postgres.map(\.name) == files, "add migrations/postgres/NAME for each migration, run embed.sh")
        for m in postgres {
            let onDisk = try String(contentsOfFile: dir + "/postgres/" + m.name, encoding: .utf8)
            #expect(m.sql == onDisk.trimmingSuffixNewline, "postgres/\(m.name) changed: run migrations/embed.sh")
        }
    }

    @Test func opensInWALAndMigratesOnce() throws {
        let home = tempDir()
        let db = try TrackerDB(home: home)
        #expect(try db.journalMode() == "wal")
        #expect(try db.appliedMigrations() == TrackerDB.migrations.map(\.name))
        let again = try TrackerDB(home: home)
        #expect(try again.appliedMigrations() == TrackerDB.migrations.map(\.name))
    }

    @Test func editedMigrationIsRefused() throws {
        let home = tempDir()
        let db = try TrackerDB(home: home)
        try db.write { try $0.execute(sql: "UPDATE schemaMigration SET sha256 = 'x'") }
        #expect(throws: StoreError.self) { try TrackerDB(home: home) }
    }

    @Test func newerDatabaseIsRefused() throws {
        let home = tempDir()
        let db = try TrackerDB(home: home)
        try db.write {
            try $0.execute(sql: "INSERT INTO schemaMigration (name, sha256) VALUES ('9999_future.sql', 'x')")
        }
        let error = #expect(throws: StoreError.self) { try TrackerDB(home: home) }
        #expect(error?.description.contains("upgrade tracker") == true)
    }

    @Test(arguments: Backend.allCases) func recordsAnIngestAndCascades(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let ingest = IngestedCorpus(
            corpus: CorpusRecord(
                name: "tiny", fingerprint: "fp", settings: "{}", documents: 3, trainDocuments: 2, valDocuments: 1,
                bytes: 100, skipped: 1, invalid: 0, repaired: 0, duplicates: 1, stats: "{}"),
            sources: [CorpusSourceRecord(path: "/a.tar", sha256: "aa", size: 10, documents: 3, bytes: 100)],
            tokenizer: TokenizerRecord(kind: "bpe", vocabSize: 300, settings: "{}", sha256: "bb", path: "t.json"),
            shards: [
                ShardRecord(split: "val", ordinal: 0, path: "v.bin", tokens: 5, documents: 1, size: 1034, sha256: "cc"),
                ShardRecord(
                    split: "train", ordinal: 0, path: "t.bin", tokens: 9, documents: 2, size: 1042, sha256: "dd"),
            ])
        let saved = try db.record(ingest)
        let loaded = try #require(try db.corpus(named: "tiny"))
        #expect(loaded.corpus == saved.corpus && loaded.sources == saved.sources && loaded.tokenizer == saved.tokenizer)
        #expect(loaded.shards.map(\.split) == ["train", "val"])
        #expect(Set(loaded.shards.map(\.sha256)) == ["cc", "dd"])
        #expect(try db.corpus(fingerprint: "fp")?.corpus.id == saved.corpus.id)
        #expect(try db.corpus(named: "\(saved.corpus.id!)")?.corpus.name == "tiny")
        // The fingerprint is unique: the same ingest cannot be recorded twice...
        #expect(throws: (any Error).self) { try db.record(ingest) }
        // ...unless it replaces the old one, whose rows go with it.
        _ = try db.record(ingest, replacingFingerprint: true)
        let counts = try db.read { d in
            try ["corpus", "corpusSource", "tokenizer", "shard"].map {
                try d.scalar(Int.self, sql: "SELECT count(*) FROM \($0)")!
            }
        }
        #expect(counts == [1, 1, 1, 2])
    }

    @Test(arguments: Backend.allCases) func failedRecordLeavesNoRows(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let bad = IngestedCorpus(
            corpus: CorpusRecord(
                name: "x", fingerprint: "fp2", settings: "{}", documents: 1, trainDocuments: 1, valDocuments: 0,
                bytes: 1, skipped: 0, invalid: 0, repaired: 0, duplicates: 0, stats: "{}"),
            sources: [],
            tokenizer: TokenizerRecord(kind: "bpe", vocabSize: 300, settings: "{}", sha256: "bb", path: "t.json"),
            shards: [ShardRecord(split: "test", ordinal: 0, path: "x", tokens: 1, documents: 1, size: 1, sha256: "")])
        #expect(throws: (any Error).self) { try db.record(bad) }
        #expect(try db.corpora().isEmpty)
    }
}

extension String {
    fileprivate var trimmingSuffixNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}

// Reads and writes of ingested corpora. An ingest is recorded in one transaction, so the database
// never holds a corpus without its tokenizer and shards.

/// Everything one ingest produced, as written to and read from the database.
public struct IngestedCorpus: Sendable, Equatable {
    public var corpus: CorpusRecord
    public var sources: [CorpusSourceRecord]
    public var tokenizer: TokenizerRecord
    public var shards: [ShardRecord]

    public init(corpus: CorpusRecord, sources: [CorpusSourceRecord], tokenizer: TokenizerRecord, shards: [ShardRecord])
    {
        self.corpus = corpus
        self.sources = sources
        self.tokenizer = tokenizer
        self.shards = shards
    }
}

extension TrackerDB {
    /// Inserts a corpus with its sources, tokenizer and shards in one transaction; returns them with ids.
    /// With `replacingFingerprint`, an earlier corpus with the same fingerprint is deleted first.
    public func record(_ ingest: IngestedCorpus, replacingFingerprint: Bool = false) throws -> IngestedCorpus {
        try write { db in
            var out = ingest
            if replacingFingerprint {
                try db.execute(sql: "DELETE FROM corpus WHERE fingerprint = ?", arguments: [ingest.corpus.fingerprint])
            }
            out.corpus = try db.insert(out.corpus)
            let cid = out.corpus.id!
            for i in out.sources.indices {
                out.sources[i].corpusId = cid
                out.sources[i] = try db.insert(out.sources[i])
            }
            out.tokenizer.corpusId = cid
            out.tokenizer = try db.insert(out.tokenizer)
            for i in out.shards.indices {
                out.shards[i].corpusId = cid
                out.shards[i].tokenizerId = out.tokenizer.id!
                out.shards[i] = try db.insert(out.shards[i])
            }
            return out
        }
    }

    /// The corpus ingested from exactly these sources and settings, if any.
    public func corpus(fingerprint: String) throws -> IngestedCorpus? {
        try read { db in
            guard
                let c = try db.fetchOne(
                    CorpusRecord.self, sql: "SELECT * FROM corpus WHERE fingerprint = ?", arguments: [fingerprint])
            else { return nil }
            return try Self.load(db, c)
        }
    }

    /// The newest corpus with this name, or with this id when `nameOrId` is a number.
    public func corpus(named nameOrId: String) throws -> IngestedCorpus? {
        try read { db in
            var c = try db.fetchOne(
                CorpusRecord.self, sql: "SELECT * FROM corpus WHERE name = ? ORDER BY id DESC LIMIT 1",
                arguments: [nameOrId])
            if c == nil, let id = Int64(nameOrId) { c = try db.fetch(CorpusRecord.self, id: id) }
            guard let c else { return nil }
            return try Self.load(db, c)
        }
    }

    /// Every corpus, newest first.
    public func corpora() throws -> [CorpusRecord] {
        try read { db in try db.fetchAll(CorpusRecord.self, sql: "SELECT * FROM corpus ORDER BY id DESC") }
    }

    /// Every tokenizer and shard path recorded, relative to the workspace (for clean-up checks).
    public func shards(corpusId: Int64) throws -> [ShardRecord] {
        try read { db in try Self.shards(corpusId: corpusId, db) }
    }

    private static func shards(corpusId: Int64, _ db: any StoreConnection) throws -> [ShardRecord] {
        try db.fetchAll(
            ShardRecord.self, sql: "SELECT * FROM shard WHERE corpusId = ? ORDER BY split, ordinal",
            arguments: [corpusId])
    }

    private static func load(_ db: any StoreConnection, _ c: CorpusRecord) throws -> IngestedCorpus? {
        let sources = try db.fetchAll(
            CorpusSourceRecord.self, sql: "SELECT * FROM corpusSource WHERE corpusId = ? ORDER BY id",
            arguments: [c.id!])
        guard
            let tok = try db.fetchOne(
                TokenizerRecord.self, sql: "SELECT * FROM tokenizer WHERE corpusId = ? ORDER BY id LIMIT 1",
                arguments: [c.id!])
        else { return nil }
        return IngestedCorpus(corpus: c, sources: sources, tokenizer: tok, shards: try shards(corpusId: c.id!, db))
    }
}

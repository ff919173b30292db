// Reads and writes of ingested corpora. An ingest is recorded in one transaction, so the database
// never holds a corpus without its tokenizer and shards.
import GRDB

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
        try pool.write { db in
            var out = ingest
            if replacingFingerprint {
                try db.execute(sql: "DELETE FROM corpus WHERE fingerprint = ?", arguments: [ingest.corpus.fingerprint])
            }
            try out.corpus.insert(db)
            let cid = out.corpus.id!
            for i in out.sources.indices {
                out.sources[i].corpusId = cid
                try out.sources[i].insert(db)
            }
            out.tokenizer.corpusId = cid
            try out.tokenizer.insert(db)
            for i in out.shards.indices {
                out.shards[i].corpusId = cid
                out.shards[i].tokenizerId = out.tokenizer.id!
                try out.shards[i].insert(db)
            }
            return out
        }
    }

    /// The corpus ingested from exactly these sources and settings, if any.
    public func corpus(fingerprint: String) throws -> IngestedCorpus? {
        try pool.read { db in
            guard let c = try CorpusRecord.filter(Column("fingerprint") == fingerprint).fetchOne(db) else { return nil }
            return try Self.load(db, c)
        }
    }

    /// The newest corpus with this name, or with this id when `nameOrId` is a number.
    public func corpus(named nameOrId: String) throws -> IngestedCorpus? {
        try pool.read { db in
            var c = try CorpusRecord.filter(Column("name") == nameOrId).order(Column("id").desc).fetchOne(db)
            if c == nil, let id = Int64(nameOrId) { c = try CorpusRecord.fetchOne(db, key: id) }
            guard let c else { return nil }
            return try Self.load(db, c)
        }
    }

    /// Every corpus, newest first.
    public func corpora() throws -> [CorpusRecord] {
        try pool.read { db in try CorpusRecord.order(Column("id").desc).fetchAll(db) }
    }

    /// Every tokenizer and shard path recorded, relative to the workspace (for clean-up checks).
    public func shards(corpusId: Int64) throws -> [ShardRecord] {
        try pool.read { db in
            try ShardRecord.filter(Column("corpusId") == corpusId).order(Column("split"), Column("ordinal")).fetchAll(
                db)
        }
    }

    private static func load(_ db: Database, _ c: CorpusRecord) throws -> IngestedCorpus? {
        let sources = try CorpusSourceRecord.filter(Column("corpusId") == c.id!).order(Column("id")).fetchAll(db)
        guard let tok = try TokenizerRecord.filter(Column("corpusId") == c.id!).fetchOne(db) else { return nil }
        let shards = try ShardRecord.filter(Column("corpusId") == c.id!)
            .order(Column("split"), Column("ordinal")).fetchAll(db)
        return IngestedCorpus(corpus: c, sources: sources, tokenizer: tok, shards: shards)
    }
}

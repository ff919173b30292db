// One Codable record per table (SQLRecord). Column names match the schema.

public struct CorpusRecord: Codable, Sendable, Equatable, IdentifiedRecord {
    public static let databaseTableName = "corpus"
    public var id: Int64?
    public var name: String
    public var fingerprint: String
    public var settings: String
    public var documents: Int64
    public var trainDocuments: Int64
    public var valDocuments: Int64
    public var bytes: Int64
    public var skipped: Int64
    public var invalid: Int64
    public var repaired: Int64
    public var duplicates: Int64
    public var stats: String
    public var createdAt: String

    public init(
        id: Int64? = nil, name: String, fingerprint: String, settings: String, documents: Int64,
        trainDocuments: Int64, valDocuments: Int64, bytes: Int64, skipped: Int64, invalid: Int64,
        repaired: Int64, duplicates: Int64, stats: String, createdAt: String = isoNow()
    ) {
        self.id = id
        self.name = name
        self.fingerprint = fingerprint
        self.settings = settings
        self.documents = documents
        self.trainDocuments = trainDocuments
        self.valDocuments = valDocuments
        self.bytes = bytes
        self.skipped = skipped
        self.invalid = invalid
        self.repaired = repaired
        self.duplicates = duplicates
        self.stats = stats
        self.createdAt = createdAt
    }
}

public struct CorpusSourceRecord: Codable, Sendable, Equatable, IdentifiedRecord {
    public static let databaseTableName = "corpusSource"
    public var id: Int64?
    public var corpusId: Int64
    public var path: String
    public var sha256: String
    public var size: Int64
    public var documents: Int64
    public var bytes: Int64

    public init(
        id: Int64? = nil, corpusId: Int64 = 0, path: String, sha256: String, size: Int64, documents: Int64, bytes: Int64
    ) {
        self.id = id
        self.corpusId = corpusId
        self.path = path
        self.sha256 = sha256
        self.size = size
        self.documents = documents
        self.bytes = bytes
    }
}

public struct TokenizerRecord: Codable, Sendable, Equatable, IdentifiedRecord {
    public static let databaseTableName = "tokenizer"
    public var id: Int64?
    public var corpusId: Int64
    public var kind: String
    public var vocabSize: Int64
    public var settings: String
    public var sha256: String
    public var path: String
    public var createdAt: String

    public init(
        id: Int64? = nil, corpusId: Int64 = 0, kind: String, vocabSize: Int64, settings: String,
        sha256: String, path: String, createdAt: String = isoNow()
    ) {
        self.id = id
        self.corpusId = corpusId
        self.kind = kind
        self.vocabSize = vocabSize
        self.settings = settings
        self.sha256 = sha256
        self.path = path
        self.createdAt = createdAt
    }
}

public struct ShardRecord: Codable, Sendable, Equatable, IdentifiedRecord {
    public static let databaseTableName = "shard"
    public var id: Int64?
    public var corpusId: Int64
    public var tokenizerId: Int64
    public var split: String
    public var ordinal: Int64
    public var path: String
    public var tokens: Int64
    public var documents: Int64
    public var size: Int64
    public var sha256: String

    public init(
        id: Int64? = nil, corpusId: Int64 = 0, tokenizerId: Int64 = 0, split: String, ordinal: Int64,
        path: String, tokens: Int64, documents: Int64, size: Int64, sha256: String
    ) {
        self.id = id
        self.corpusId = corpusId
        self.tokenizerId = tokenizerId
        self.split = split
        self.ordinal = ordinal
        self.path = path
        self.tokens = tokens
        self.documents = documents
        self.size = size
        self.sha256 = sha256
    }
}

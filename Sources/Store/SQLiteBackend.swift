// The SQLite backend: GRDB's DatabasePool (WAL: one writer, many readers). Writes are BEGIN
// IMMEDIATE transactions, reads are snapshot transactions on a reader connection. Statements
// are GRDB's cached ones, so a query written once is prepared once per connection.
// Metric batches have a connection of their own (see `metricWriter`). The WAL checkpoints of
// both writing connections run on another thread (WALCheckpointer.swift).
import Foundation
import GRDB
import Synchronization

public final class SQLiteBackend: SQLBackend {
    public let pool: DatabasePool
    public let path: String
    public var dialect: SQLDialect { .sqlite }
    public var location: String { path }
    private let metricConnection = Mutex<DatabaseQueue?>(nil)
    /// Checkpoints the WAL off the writing threads (WALCheckpointer.swift): hooked on the pool's
    /// writer and the metric connection by the configuration's `prepareDatabase`; nil read-only.
    let checkpointer: WALCheckpointer?

    init(pool: DatabasePool, path: String, checkpointer: WALCheckpointer? = nil) {
        self.pool = pool
        self.path = path
        self.checkpointer = checkpointer
    }

    deinit {
        checkpointer?.close()
    }

    /// The connection `logMetrics` writes on, opened on first use with the pool's settings but
    /// foreign keys off: the batch checks its runs itself, once per run instead of once per row.
    /// Why not the pool's writer with `PRAGMA foreign_keys` toggled around each batch: changing
    /// that pragma expires every prepared statement of the connection, so each batch prepared
    /// its 64-row INSERT and the summary statements again (a tenth of a batch, perf). Metric
    /// batches and the pool's writes take SQLite's write lock in turn, as separate processes do.
    func metricWriter() throws -> DatabaseQueue {
        try metricConnection.withLock { queue in
            if let queue { return queue }
            var config = pool.configuration
            config.foreignKeysEnabled = false
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA foreign_keys = OFF") }
            let opened = try DatabaseQueue(path: path, configuration: config)
            queue = opened
            return opened
        }
    }

    public func transaction<T>(_ kind: TransactionKind, _ body: (any StoreConnection) throws -> T) throws -> T {
        switch kind {
        case .read: return try pool.read { db in try body(SQLiteConnection(db: db)) }
        case .write: return try pool.write { db in try body(SQLiteConnection(db: db)) }
        }
    }
}

/// A GRDB connection inside one of its transactions.
struct SQLiteConnection: StoreConnection {
    let db: Database
    var dialect: SQLDialect { .sqlite }

    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
        try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments))
        return db.changesCount
    }

    func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
        let statement = try db.cachedStatement(sql: sql)
        let columns = statement.columnNames
        return try Row.fetchAll(statement, arguments: Self.arguments(arguments)).map { row in
            SQLRow(columns: columns, values: (0..<columns.count).map { Self.value(row[$0] as DatabaseValue) })
        }
    }

    func executeScript(_ sql: String) throws { try db.execute(sql: sql) }

    static func arguments(_ values: [SQLValue]) -> StatementArguments {
        StatementArguments(
            values.map { v -> DatabaseValue in
                switch v {
                case .null: .null
                case .integer(let i): i.databaseValue
                case .real(let d): d.databaseValue
                case .text(let s): s.databaseValue
                case .blob(let b): Data(b).databaseValue
                }
            })
    }

    static func value(_ v: DatabaseValue) -> SQLValue {
        switch v.storage {
        case .null: .null
        case .int64(let i): .integer(i)
        case .double(let d): .real(d)
        case .string(let s): .text(s)
        case .blob(let b): .blob([UInt8](b))
        }
    }
}

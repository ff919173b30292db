// The tracker database: one SQLite file in WAL mode, shared by the CLI, workers and readers.
// Opening applies the pending migrations (migrations/*.sql, embedded at build time) inside one
// BEGIN IMMEDIATE transaction, so when many processes open a new database at once, exactly one
// of them migrates and the others see the finished schema.
import Basics
import Foundation
import GRDB

public final class TrackerDB: Sendable {
    /// Whether a handle may write. Readers (`report`, `export`, `corpus`, the dashboard) open
    /// `.readOnly`: they never create a workspace, never migrate, and work on a workspace they
    /// cannot write (a read-only folder or mount, another user's files, a full disk).
    public enum Access: Sendable { case readWrite, readOnly }

    /// Where the store is: the SQLite file's path, or the PostgreSQL URL without its password.
    public let path: String
    /// The workspace folder (logs, checkpoints, shards), whichever engine holds the store.
    public let home: String
    public let access: Access
    /// The engine under every query.
    public let backend: any SQLBackend

    public var dialect: SQLDialect { backend.dialect }

    /// The SQLite pool, for SQLite's own fast paths (nil on PostgreSQL).
    var sqlitePool: DatabasePool? { (backend as? SQLiteBackend)?.pool }

    /// Runs `body` in one read transaction (one snapshot).
    @discardableResult
    public func read<T>(_ body: (any StoreConnection) throws -> T) throws -> T {
        try backend.transaction(.read, body)
    }

    /// Runs `body` in one write transaction (SQLite: BEGIN IMMEDIATE).
    @discardableResult
    public func write<T>(_ body: (any StoreConnection) throws -> T) throws -> T {
        try backend.transaction(.write, body)
    }

    /// Opens the database at `path`: read-write creates it if needed and applies the pending
    /// migrations; read-only requires it to exist with this build's schema.
    public convenience init(path: String, access: Access = .readWrite, busyTimeout: TimeInterval = 30) throws {
        try self.init(path: path, access: access, busyTimeout: busyTimeout, migrations: Self.migrations)
    }

    /// `--where`'s numeric tags (RunFilter.swift, TagNumber).
    static let tagNumber = DatabaseFunction(TagNumber.sqlFunction, argumentCount: 1, pure: true) { values in
        String.fromDatabaseValue(values[0]).flatMap(TagNumber.value)
    }

    /// `init(path:access:busyTimeout:)` applying only `migrations` (tests build older schemas).
    init(path: String, access: Access, busyTimeout: TimeInterval, migrations: [(name: String, sql: String)]) throws {
        self.path = path
        self.home = (path as NSString).deletingLastPathComponent
        self.access = access
        var config = Configuration()
        config.busyMode = .callback(BusyWait.callback(timeout: busyTimeout))
        config.foreignKeysEnabled = true
        config.readonly = access == .readOnly
        let checkpointer = access == .readWrite ? WALCheckpointer(path: path) : nil
        config.prepareDatabase { db in
            if access == .readWrite { try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            db.add(function: Self.tagNumber)
            // the pool's writer and the metric connection (a copy of this configuration)
            if let checkpointer, !db.configuration.readonly { checkpointer.install(on: db.sqliteConnection!) }
            // Reads go through a memory map instead of a pread and a copy per page: a
            // 10,000-run comparison reads some 4,000 pages (WAL frames are still read as before).
            try db.execute(sql: "PRAGMA mmap_size = 1073741824")
        }
        if access == .readOnly {
            guard FileManager.default.fileExists(atPath: path) else { throw StoreError.noDatabase(path: path) }
            backend = SQLiteBackend(pool: try Self.openReadOnly(path, config), path: path)
            try checkSchema()
            return
        }
        backend = SQLiteBackend(
            pool: try Self.openMigrated(path, config, busyTimeout: busyTimeout, migrations), path: path,
            checkpointer: checkpointer)
    }

    /// Opens the PostgreSQL store at `url` for workspace `home` (its logs, checkpoints and shards
    /// stay in the folder): read-write applies the pending migrations under an advisory lock.
    /// `maxConnections`: how many connections it may open (a Slurm task keeps to one).
    public convenience init(
        postgres url: PostgresURL, password: String?, home: String, access: Access = .readWrite,
        maxConnections: Int = 4
    ) throws {
        try self.init(
            postgres: url, password: password, home: home, access: access, maxConnections: maxConnections,
            migrations: Self.migrations(.postgres))
    }

    /// The PostgreSQL init applying only `migrations` (tests build older schemas).
    init(
        postgres url: PostgresURL, password: String?, home: String, access: Access, maxConnections: Int,
        migrations: [(name: String, sql: String)]
    ) throws {
        let backend = try PostgresBackend(url: url, password: password, maxConnections: maxConnections)
        self.backend = backend
        self.path = backend.location
        self.home = home
        self.access = access
        if access == .readOnly {
            try checkSchema()
        } else {
            try PostgresMigrator.migrate(self, migrations)
        }
    }

    /// Opens the pool and applies the pending migrations. Two processes creating one workspace at
    /// once (two `tracker ingest` on a new --home) can meet SQLITE_BUSY outside the busy handler's
    /// reach (switching a new file to WAL, a read that must become a write): the loser waits and
    /// tries again, within the same timeout, instead of failing with "database is locked".
    private static func openMigrated(
        _ path: String, _ config: Configuration, busyTimeout: TimeInterval, _ known: [(name: String, sql: String)]
    ) throws -> DatabasePool {
        let deadline = Date().addingTimeInterval(busyTimeout)
        while true {
            do {
                let pool = try DatabasePool(path: path, configuration: config)
                try migrate(pool, known)
                return pool
            } catch let error as DatabaseError
                where [.SQLITE_BUSY, .SQLITE_LOCKED].contains(error.resultCode) && Date() < deadline
            {
                usleep(50_000)
            } catch let error as StoreError {
                throw error
            } catch {
                throw StoreError.cannotOpen(path: path, reason: "\(error)")
            }
        }
    }

    /// Opens the workspace `home`'s store: the PostgreSQL store named by `--store` /
    /// `TRACKER_DATABASE_URL` when one is set (see `StoreSettings`), else `<home>/tracker.sqlite`.
    /// Read-write creates the workspace folder if needed; read-only fails with a clear error when
    /// there is no workspace there.
    public convenience init(home: String, access: Access = .readWrite) throws {
        if let pg = try StoreSettings.postgres() {
            try self.init(postgres: pg.url, password: pg.password, home: home, access: access)
            return
        }
        if access == .readOnly {
            guard FileManager.default.fileExists(atPath: home + "/tracker.sqlite") else {
                throw StoreError.noWorkspace(home: home)
            }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            } catch {
                throw StoreError.cannotOpen(
                    path: home, reason: "cannot create the workspace folder: \(error.localizedDescription)")
            }
        }
        try self.init(path: home + "/tracker.sqlite", access: access)
    }

    /// The log of a queued run's attempts in workspace `home`: what workers append the trainer's
    /// output to, and what `tracker serve` shows the tail of.
    public static func runLogPath(home: String, runId: Int64) -> String { "\(home)/logs/runs/\(runId).log" }

    /// A WAL database needs its -shm file to be read; where it cannot be created (a read-only
    /// folder with no writer running, whose last writer removed it on close), the file is read
    /// as immutable, which SQLite allows without it.
    private static func openReadOnly(_ path: String, _ config: Configuration) throws -> DatabasePool {
        func probe(_ pool: DatabasePool) throws -> DatabasePool {
            _ = try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") }
            return pool
        }
        do {
            return try probe(DatabasePool(path: path, configuration: config))
        } catch {
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            let escaped = absolute.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? absolute
            do {
                return try probe(DatabasePool(path: "file:\(escaped)?immutable=1", configuration: config))
            } catch {
                throw StoreError.cannotOpen(path: path, reason: "\(error)")
            }
        }
    }

    /// Read-only handles use the schema as it is: it must be exactly this build's.
    private func checkSchema() throws {
        let known = Self.migrations(dialect)
        let applied: [String]
        do {
            applied = try read { db in
                try db.column(
                    String.self,
                    sql: "SELECT name FROM schemaMigration ORDER BY \(db.dialect == .sqlite ? "rowid" : "seq")")
            }
        } catch {
            throw StoreError.cannotOpen(path: path, reason: "not a tracker database (\(error))")
        }
        let unknown = Set(applied).subtracting(known.map(\.name))
        if !unknown.isEmpty { throw StoreError.unknownMigrations(names: unknown.sorted()) }
        if applied.count < known.count {
            throw StoreError.schemaBehind(path: path, missing: known.map(\.name).filter { !applied.contains($0) })
        }
    }

    /// The migrations this build carries for SQLite, in order.
    public static var migrations: [(name: String, sql: String)] { EmbeddedMigrations.all }

    /// The migrations this build carries for `dialect`, in order (same names for both).
    public static func migrations(_ dialect: SQLDialect) -> [(name: String, sql: String)] {
        switch dialect {
        case .sqlite: EmbeddedMigrations.all
        case .postgres: EmbeddedMigrations.postgres
        }
    }

    private static func migrate(_ pool: DatabasePool, _ known: [(name: String, sql: String)]) throws {
        // The common case, an up-to-date database, needs only a read: no write lock, no WAL write.
        let upToDate = try? pool.read { db -> Bool in
            let applied = try Row.fetchAll(db, sql: "SELECT name, sha256 FROM schemaMigration ORDER BY rowid")
            return applied.count == known.count
                && zip(applied, known).allSatisfy { row, m in
                    row["name"] as String == m.name && row["sha256"] as String == SHA256.hex(Array(m.sql.utf8))
                }
        }
        if upToDate == true { return }
        do {
            try pool.writeWithoutTransaction { db in
                // A migration may rebuild a table (SQLite's way to change a constraint): foreign
                // keys are off while it runs, so dropping the old table cascades nowhere, and
                // checked before the commit.
                try db.execute(sql: "PRAGMA foreign_keys = OFF")
                defer { try? db.execute(sql: "PRAGMA foreign_keys = ON") }
                try db.inTransaction(.immediate) {
                    try db.execute(
                        sql: """
                            CREATE TABLE IF NOT EXISTS schemaMigration (
                              name TEXT PRIMARY KEY, sha256 TEXT NOT NULL,
                              appliedAt TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                            ) STRICT
                            """)
                    try applyPending(known, SQLiteConnection(db: db))
                    if let broken = try Row.fetchOne(db, sql: "PRAGMA foreign_key_check") {
                        throw StoreError.cannotOpen(
                            path: pool.path, reason: "a migration broke a reference in table \(broken[0] as String)")
                    }
                    return .commit
                }
            }
        } catch let e as StoreError {
            throw e
        } catch let e as DatabaseError where [.SQLITE_BUSY, .SQLITE_LOCKED].contains(e.resultCode) {
            throw e  // openMigrated waits and tries again
        } catch {
            throw StoreError.cannotOpen(path: pool.path, reason: "\(error)")
        }
    }

    /// Applies the migrations of `known` that `db`'s schemaMigration table does not list, in order,
    /// inside the caller's transaction; refuses an applied one whose text changed, or one this
    /// build does not know. The one migration loop of both engines.
    static func applyPending(_ known: [(name: String, sql: String)], _ db: any StoreConnection) throws {
        var applied: [String: String] = [:]
        for row in try db.rows(sql: "SELECT name, sha256 FROM schemaMigration") {
            applied[try row.get("name")] = try row.get("sha256")
        }
        let unknown = Set(applied.keys).subtracting(known.map(\.name))
        if !unknown.isEmpty { throw StoreError.unknownMigrations(names: unknown.sorted()) }
        for m in known {
            let sum = SHA256.hex(Array(m.sql.utf8))
            if let done = applied[m.name] {
                if done != sum { throw StoreError.migrationEdited(name: m.name) }
                continue
            }
            try db.executeScript(m.sql)
            try dataStep(m.name, db)
            try db.execute(sql: "INSERT INTO schemaMigration (name, sha256) VALUES (?, ?)", arguments: [m.name, sum])
        }
    }

    /// What a migration does after its SQL, in the same transaction, where SQL alone cannot
    /// (both engines): 0006 packs every existing run's summaries (`SummaryPack.backfill`).
    static func dataStep(_ name: String, _ db: any StoreConnection) throws {
        if name == "0006_summary_pack.sql" { try SummaryPack.backfill(db) }
    }

    /// Names of the applied migrations, in order.
    public func appliedMigrations() throws -> [String] {
        try read { db in try db.column(String.self, sql: "SELECT name FROM schemaMigration ORDER BY name") }
    }

    /// The journal mode SQLite reports ("wal"; "postgresql" for a PostgreSQL store).
    public func journalMode() throws -> String {
        guard let pool = sqlitePool else { return "postgresql" }
        return try pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }
}

/// Timestamps are stored as ISO 8601 text in UTC with milliseconds, like SQLite's strftime default.
public func isoNow() -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: Date())
}

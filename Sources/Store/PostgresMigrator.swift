// Migrations of a PostgreSQL store: migrations/postgres/*.sql (the same names as the SQLite
// ones, the same tables and columns in PostgreSQL's types), applied in one transaction under a
// transaction-scoped advisory lock, so many processes starting at once on a new database
// migrate it exactly once and the others wait for the finished schema.
import Basics

enum PostgresMigrator {
    /// The advisory lock key: "tracker" in ASCII, any constant the store alone uses.
    static let lockKey: Int64 = 0x74_72_61_63_6b_65_72

    static func migrate(_ store: TrackerDB, _ known: [(name: String, sql: String)]) throws {
        // The common case, an up-to-date database, needs one read and no lock.
        let upToDate = try? store.read { db -> Bool in
            let applied = try db.rows(sql: "SELECT name, sha256 FROM schemaMigration ORDER BY seq")
            return applied.count == known.count
                && zip(applied, known).allSatisfy { row, m in
                    row["name"] == .text(m.name) && row["sha256"] == .text(SHA256.hex(Array(m.sql.utf8)))
                }
        }
        if upToDate == true { return }
        try store.write { db in
            try db.execute(sql: "SELECT pg_advisory_xact_lock(?)", arguments: [lockKey])
            try db.executeScript(
                """
                CREATE TABLE IF NOT EXISTS schemaMigration (
                  seq BIGSERIAL NOT NULL UNIQUE, name TEXT PRIMARY KEY, sha256 TEXT NOT NULL,
                  appliedAt TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
                )
                """)
            try TrackerDB.applyPending(known, db)
        }
    }
}

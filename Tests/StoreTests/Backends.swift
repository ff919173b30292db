// The store's tests run against both engines: SQLite (a temp workspace) and PostgreSQL (a new
// database on the server TestPostgres provides). Without a server the PostgreSQL cases say so on
// stderr and pass as skipped; under CI=true they fail.
import Foundation
import Store
import Synchronization
import TestSupport
import Testing

enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }
}

func tempHome(_ prefix: String = "store") -> String {
    let d = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// A new, empty store on `backend`; nil when PostgreSQL is unavailable outside CI.
func makeDB(_ backend: Backend = .sqlite) throws -> TrackerDB? {
    switch backend {
    case .sqlite:
        return try TrackerDB(home: tempHome("store-metrics"))
    case .postgres:
        guard TestPostgres.available else {
            if runningInCI {
                throw MissingRequirement(description: "CI=true but no PostgreSQL: \(TestPostgres.problem)")
            }
            FileHandle.standardError.write(Data("warning: skipping a PostgreSQL case: \(TestPostgres.problem)\n".utf8))
            return nil
        }
        let url = try PostgresURL(try TestPostgres.newDatabase())
        let db = try TrackerDB(postgres: url, password: url.password, home: tempHome("store-pg"))
        urls.withLock { $0[db.path] = url }
        return db
    }
}

/// A second handle on the same store (another process would open one).
func reopen(_ db: TrackerDB, access: TrackerDB.Access = .readWrite) throws -> TrackerDB {
    switch db.dialect {
    case .sqlite: return try TrackerDB(path: db.path, access: access)
    case .postgres:
        let url = try #require(urls.withLock { $0[db.path] })
        return try TrackerDB(postgres: url, password: url.password, home: db.home, access: access)
    }
}

/// The full URL (with the password) of each PostgreSQL test store, by its redacted path.
private let urls = Mutex<[String: PostgresURL]>([:])

// The store's tests run against both engines: SQLite (a temp workspace) and PostgreSQL (a new
// database on the server TestPostgres provides). Without a server the PostgreSQL cases say so on
// stderr and pass as skipped; under CI=true they fail.
import Foundation
import Synchronization
import TestSupport
import Testing

@testable import Store

enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }
}

func tempHome(_ prefix: String = "store") -> String {
    let d = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// A new, empty store on `backend`; nil when PostgreSQL is unavailable outside CI. `migrations`:
/// how many of the migrations to apply (an older schema), all when nil.
func makeDB(_ backend: Backend = .sqlite, migrations: Int? = nil) throws -> TrackerDB? {
    let known = TrackerDB.migrations(backend == .sqlite ? .sqlite : .postgres)
    let applied = Array(known.prefix(migrations ?? known.count))
    switch backend {
    case .sqlite:
        return try TrackerDB(
            path: tempHome("store-metrics") + "/tracker.sqlite", access: .readWrite, busyTimeout: 30,
            migrations: applied)
    case .postgres:
        guard TestPostgres.available else {
            if runningInCI {
                throw MissingRequirement(description: "CI=true but no PostgreSQL: \(TestPostgres.problem)")
            }
            FileHandle.standardError.write(Data("warning: skipping a PostgreSQL case: \(TestPostgres.problem)\n".utf8))
            return nil
        }
        let url = try PostgresURL(try TestPostgres.newDatabase())
        let db = try TrackerDB(
            postgres: url, password: url.password, home: tempHome("store-pg"), access: .readWrite, maxConnections: 4,
            migrations: applied)
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

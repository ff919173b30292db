// The WAL of a store's writing connections is checkpointed on another thread (WALCheckpointer):
// the points all arrive, the database stays sound, and the WAL stays bounded even when that
// thread never runs (the committing connection then checkpoints itself past the hard limit).
import Foundation
import GRDB
import GRDBSQLite
import Testing

@testable import Store

struct WALCheckpointTests {
    /// Writes `batches` batches of 1,000 points (4 keys) with `checkpointer` hooked on the
    /// metric connection instead of the store's own; returns the largest WAL seen after a batch.
    static func write(_ db: TrackerDB, _ run: Int64, batches: Int, with checkpointer: WALCheckpointer) throws -> Int {
        let backend = try #require(db.backend as? SQLiteBackend)
        let writer = try backend.metricWriter()
        writer.inDatabase { checkpointer.install(on: $0.sqliteConnection!) }
        defer {
            if let own = backend.checkpointer { writer.inDatabase { own.install(on: $0.sqliteConnection!) } }
            checkpointer.close()
        }
        var largest = 0
        for b in 0..<batches {
            try db.logMetrics(
                (0..<1000).map {
                    MetricPoint(
                        runId: run, key: "key/\($0 % 4)", step: Int64(b * 250 + $0 / 4), value: Double($0), time: 0)
                })
            let wal = (try? FileManager.default.attributesOfItem(atPath: db.path + "-wal")[.size] as? Int) ?? 0
            largest = max(largest, wal)
        }
        return largest
    }

    static func expectSound(_ db: TrackerDB, _ run: Int64, batches: Int) throws {
        for k in 0..<4 {
            let points = try db.metrics(runId: run, key: "key/\(k)")
            #expect(points.count == batches * 250)
            #expect(points.map(\.step) == (0..<Int64(batches * 250)).map { $0 })
            #expect(points.allSatisfy { Int($0.value) % 4 == k })
        }
        #expect(try db.read { try $0.scalar(String.self, sql: "PRAGMA integrity_check") } == "ok")
    }

    @Test func backgroundCheckpointsKeepEveryPoint() throws {
        let db = try TrackerDB(home: tempHome("store-wal"))
        let run = try makeRun(db)
        let checkpointer = WALCheckpointer(path: db.path, softFrames: 50, hardFrames: .max)
        _ = try Self.write(db, run, batches: 40, with: checkpointer)
        #expect(checkpointer.background.load(ordering: .relaxed) > 0, "no checkpoint ran in the background")
        #expect(checkpointer.inline.load(ordering: .relaxed) == 0)
        try Self.expectSound(db, run, batches: 40)
    }

    /// With no background checkpoint at all, the commits past the hard limit bound the WAL.
    @Test func theHardLimitBoundsTheWAL() throws {
        let db = try TrackerDB(home: tempHome("store-wal"))
        let run = try makeRun(db)
        let hard: Int32 = 200
        let checkpointer = WALCheckpointer(path: db.path, softFrames: .max, hardFrames: hard)
        let largest = try Self.write(db, run, batches: 40, with: checkpointer)
        #expect(checkpointer.inline.load(ordering: .relaxed) > 0, "the hard limit never checkpointed")
        #expect(checkpointer.background.load(ordering: .relaxed) == 0)
        // At most the hard limit plus one batch's pages (about 100 of 4 KB), each with its 24-byte header.
        let pageSize = try db.read { try $0.scalar(Int.self, sql: "PRAGMA page_size") } ?? 4096
        #expect(largest <= 32 + (Int(hard) + 200) * (pageSize + 24), "the WAL grew to \(largest) bytes")
        try Self.expectSound(db, run, batches: 40)
    }

    /// Both writing connections of a read-write store carry the store's checkpointer (the hook's
    /// context is it); a read-only store has none.
    @Test func theWritingConnectionsAreHooked() throws {
        let db = try TrackerDB(home: tempHome("store-wal"))
        _ = try makeRun(db)
        let backend = try #require(db.backend as? SQLiteBackend)
        let own = try #require(backend.checkpointer)
        func context(_ c: OpaquePointer) -> UnsafeMutableRawPointer? {
            let previous = sqlite3_wal_hook(c, nil, nil)
            own.install(on: c)
            return previous
        }
        let expected = Unmanaged.passUnretained(own).toOpaque()
        #expect(backend.pool.writeWithoutTransaction { context($0.sqliteConnection!) } == expected)
        #expect(try backend.metricWriter().inDatabase { context($0.sqliteConnection!) } == expected)
        let limit = try backend.metricWriter().inDatabase { try Int.fetchOne($0, sql: "PRAGMA journal_size_limit") }
        #expect(limit == WALCheckpointer.journalSizeLimit)
        let readOnly = try TrackerDB(path: db.path, access: .readOnly)
        #expect((readOnly.backend as? SQLiteBackend)?.checkpointer == nil)
    }

    /// The store's own checkpointer, on a store that is opened, written and closed: the
    /// checkpoint thread stops with it and a new store reads everything.
    @Test func theStoresCheckpointerStopsWithIt() throws {
        let home = tempHome("store-wal")
        var run: Int64 = 0
        do {
            let db = try TrackerDB(home: home)
            run = try makeRun(db)
            for b in 0..<20 {
                try db.logMetrics(
                    (0..<1000).map {
                        MetricPoint(
                            runId: run, key: "key/\($0 % 4)", step: Int64(b * 250 + $0 / 4), value: Double($0),
                            time: 0)
                    })
            }
        }
        try Self.expectSound(try TrackerDB(home: home), run, batches: 20)
    }
}

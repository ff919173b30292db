// Waiting for another connection's write lock: a writer waits while another holds the lock and
// then writes, and gives up with SQLITE_BUSY once its busy timeout has passed.
import Foundation
import GRDB
import Testing

@testable import Store

struct BusyWaitTests {
    /// Holds the write lock of `path` on another connection from `BEGIN IMMEDIATE` until `release`.
    private func holdWriteLock(_ path: String, until release: DispatchSemaphore) throws -> DispatchSemaphore {
        let holder = try #require(try TrackerDB(path: path).sqlitePool)
        let held = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? holder.writeWithoutTransaction { db in
                try db.execute(sql: "BEGIN IMMEDIATE")
                held.signal()
                release.wait()
                try db.execute(sql: "COMMIT")
            }
            done.signal()
        }
        held.wait()
        return done
    }

    @Test func aWriterWaitsForTheLockThenWrites() throws {
        let db = try #require(try makeDB())
        let run = try makeRun(db)
        let release = DispatchSemaphore(value: 0)
        let done = try holdWriteLock(db.path, until: release)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { release.signal() }
        try db.logMetrics([MetricPoint(runId: run, key: "k", step: 1, value: 1, time: 0)])
        done.wait()
        #expect(try db.metrics(runId: run, key: "k").map(\.value) == [1])
    }

    @Test func aWriterGivesUpAfterItsTimeout() throws {
        let first = try #require(try makeDB())
        let run = try makeRun(first)
        let impatient = try TrackerDB(path: first.path, busyTimeout: 0.05)
        let release = DispatchSemaphore(value: 0)
        let done = try holdWriteLock(first.path, until: release)
        defer {
            release.signal()
            done.wait()
        }
        #expect {
            try impatient.logMetrics([MetricPoint(runId: run, key: "k", step: 1, value: 1, time: 0)])
        } throws: { error in
            (error as? DatabaseError)?.resultCode == .SQLITE_BUSY
        }
    }

    @Test func theWaitsAddUpToTheTimeoutInShortSleeps() {
        let timeout = 0.01
        let callback = BusyWait.callback(timeout: timeout)
        var tries = 0
        while callback(tries) { tries += 1 }
        #expect(BusyWait.slept(beforeTry: tries) >= timeout * 1e6)
        #expect(BusyWait.slept(beforeTry: tries - 1) < timeout * 1e6)
        #expect((0..<tries).allSatisfy { BusyWait.sleep(beforeTry: $0) <= 200 })
        #expect(
            (1...tries).allSatisfy {
                BusyWait.slept(beforeTry: $0) == BusyWait.slept(beforeTry: $0 - 1)
                    + Double(BusyWait.sleep(beforeTry: $0 - 1))
            })
    }
}

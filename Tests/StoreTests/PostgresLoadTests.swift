// The PostgreSQL store under load, each client with its own handle and connections as separate
// processes would have: 16 claimers take 400 queued runs, each exactly once (FOR UPDATE SKIP
// LOCKED), and 32 writers log metrics at once with no error and no point lost.
import Foundation
import Store
import Synchronization
import TestSupport
import Testing

@Suite(.postgres, .tags(.slow))
struct PostgresLoadTests {
    @Test func sixteenClaimersTakeEachOf400RunsOnce() throws {
        guard let db = try makeDB(.postgres) else { return }
        let e = try db.upsertExperiment(name: "load", source: nil, spec: "{}")
        let planned = (0..<400).map { i in
            TrackerDB.PlannedRun(
                run: RunRecord(name: "r\(i)", config: "{\"i\":\(i)}", configHash: "h\(i)"), params: [:])
        }
        let enqueued = try db.enqueue(planned, experimentId: e.id!, force: false).enqueued
        #expect(enqueued.count == 400)
        let claimers = 16
        let handles = try (0..<claimers).map { _ in try reopen(db) }
        let claimed = Mutex<[Int64]>([])
        let failures = Mutex<[String]>([])
        onThreads(claimers) { k in
            do {
                while let run = try handles[k].claimNextRun(worker: "w\(k)", lease: 60) {
                    claimed.withLock { $0.append(run.id!) }
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        let ids = claimed.withLock { $0 }.sorted()
        #expect(ids == enqueued.map { $0.id! }.sorted(), "\(ids.count) claims for 400 runs")
        #expect(try db.stateCounts()[.running] == 400)
    }

    @Test func thirtyTwoWritersLoseNothing() throws {
        guard let db = try makeDB(.postgres) else { return }
        let writers = 32
        let runs = try (0..<writers).map {
            try db.createRun(RunRecord(name: "w\($0)", config: "{}", configHash: "h\($0)")).id!
        }
        let handles = try (0..<writers).map { _ in try reopen(db) }
        let failures = Mutex<[String]>([])
        let batches = 20
        let perBatch = 250
        onThreads(writers) { k in
            let writer = MetricWriter(db: handles[k], flushInterval: 0.01, batchSize: perBatch)
            for b in 0..<batches {
                for i in 0..<perBatch {
                    let step = Int64(b * perBatch + i)
                    writer.log(
                        runId: runs[k], key: i % 2 == 0 ? "train/loss" : "train/lr", step: step, value: Double(step))
                }
            }
            do { try writer.close() } catch { failures.withLock { $0.append("\(error)") } }
        }
        #expect(failures.withLock { $0 } == [])
        let total = try db.read { try $0.scalar(Int.self, sql: "SELECT count(*) FROM metric") }
        #expect(total == writers * batches * perBatch)
        for run in runs {
            let counts = try db.metricSummaries(runId: run).map(\.count)
            #expect(counts == [Int64(batches * perBatch / 2), Int64(batches * perBatch / 2)])
        }
    }
}

/// Runs `body(0..<n)` on n threads at once (not a pool's two), and waits for all.
func onThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for k in 0..<n {
        group.enter()
        Thread {
            body(k)
            group.leave()
        }.start()
    }
    group.wait()
}

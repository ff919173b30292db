// The queue in the Store: dedupe on enqueue, claim order, concurrent claimers, the transition
// table, lease expiry and bounded retries, cancellation.
import Basics
import Foundation
import Store
import Testing

@testable import Scheduler

func tempHome(_ tag: String = "sched") -> String {
    let d = NSTemporaryDirectory() + "\(tag)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// An experiment with `n` runs (seeds 1...n) enqueued.
@discardableResult
func enqueueSeeds(_ db: TrackerDB, _ n: Int, experiment: String = "exp", priority: Int64 = 0, maxAttempts: Int64 = 3)
    throws -> [RunRecord]
{
    let s = try spec(
        ["seeds": .array((1...n).map { .int($0) })],
        experiment: ["priority": .int(Int(priority)), "max_attempts": .int(Int(maxAttempts))])
    let e = try db.upsertExperiment(name: experiment, source: nil, spec: s.specJSON)
    return try db.enqueue(try s.plannedRuns(), experimentId: e.id!, force: false).enqueued
}

/// Claimed run ids collected from several threads.
final class Claims: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: [Int64] = []
    func add(_ id: Int64) {
        lock.lock()
        ids.append(id)
        lock.unlock()
    }
    var all: [Int64] {
        lock.lock()
        defer { lock.unlock() }
        return ids
    }
}

struct QueueTests {
    @Test func identicalConfigIsNotEnqueuedTwiceUnlessForced() throws {
        let db = try TrackerDB(home: tempHome())
        let s = try spec(["seeds": .array([.int(1), .int(2)])])
        let e = try db.upsertExperiment(name: "exp", source: nil, spec: s.specJSON)
        let first = try db.enqueue(try s.plannedRuns(), experimentId: e.id!, force: false)
        #expect(first.enqueued.count == 2 && first.skipped.isEmpty)
        let second = try db.enqueue(try s.plannedRuns(), experimentId: e.id!, force: false)
        #expect(second.enqueued.isEmpty && second.skipped.map(\.id) == first.enqueued.map(\.id))
        let forced = try db.enqueue(try s.plannedRuns(), experimentId: e.id!, force: true)
        #expect(forced.enqueued.count == 2)
        #expect(try db.runs(experimentId: e.id!).count == 4)
        // Every leaf is stored typed.
        let params = try db.params(runId: first.enqueued[1].id!)
        #expect(
            params["train.seed"] == .int(2) && params["train.lr"] == .real(0.003)
                && params["data.corpus"] == .text("bundled"))
    }

    @Test func claimTakesHighestPriorityThenOldest() throws {
        let db = try TrackerDB(home: tempHome())
        let low = try enqueueSeeds(db, 2, experiment: "low", priority: 0)
        let high = try enqueueSeeds(db, 2, experiment: "high", priority: 5)
        let order = try (0..<4).map { _ in try db.claimNextRun(worker: "w", lease: 15)!.id! }
        #expect(order == high.map(\.id!) + low.map(\.id!))
        #expect(try db.claimNextRun(worker: "w", lease: 15) == nil)
        let r = try #require(try db.run(id: order[0]))
        #expect(
            r.state == .running && r.worker == "w" && r.attempts == 1 && r.startedAt != nil && r.leaseExpiresAt != nil)
    }

    @Test func concurrentThreadsNeverClaimTheSameRun() throws {
        let home = tempHome()
        let db = try TrackerDB(home: home)
        let runs = try enqueueSeeds(db, 60)
        let claims = Claims()
        DispatchQueue.concurrentPerform(iterations: 6) { t in
            // Each thread has its own connection pool, as separate processes would.
            let mine = try! TrackerDB(home: home)
            while let r = try! mine.claimNextRun(worker: "t\(t)", lease: 15) { claims.add(r.id!) }
        }
        let claimed = claims.all
        #expect(claimed.count == runs.count)
        #expect(Set(claimed) == Set(runs.map(\.id!)))
    }

    @Test func transitionTable() throws {
        let expected: Set<String> = [
            "queued>running", "queued>cancelled", "running>succeeded", "running>failed", "running>cancelled",
            "running>queued", "running>crashed", "crashed>queued", "crashed>cancelled", "running>pruned",
        ]
        for from in RunState.allCases {
            for to in RunState.allCases {
                #expect(
                    RunState.allowed(from: from, to: to) == expected.contains("\(from.rawValue)>\(to.rawValue)"),
                    "\(from) -> \(to)")
            }
        }
        #expect(RunState.allCases.filter(\.isTerminal) == [.succeeded, .failed, .cancelled, .pruned])
        // A guarded transition from the wrong state changes nothing.
        let db = try TrackerDB(home: tempHome())
        let run = try enqueueSeeds(db, 1)[0]
        #expect(try db.transition(runId: run.id!, from: .running, to: .succeeded, worker: nil) == false)
        #expect(try db.run(id: run.id!)?.state == .queued)
        _ = try db.claimNextRun(worker: "a", lease: 15)
        #expect(try db.transition(runId: run.id!, from: .running, to: .succeeded, worker: "b") == false)
        #expect(try db.transition(runId: run.id!, from: .running, to: .succeeded, worker: "a", exitCode: 0))
        let events = try db.events(runId: run.id!).map { "\($0.fromState?.rawValue ?? "-")>\($0.toState.rawValue)" }
        #expect(events == ["->queued", "queued>running", "running>succeeded"])
    }

    @Test func staleLeaseIsRequeuedThenGivesUpAfterMaxAttempts() throws {
        let db = try TrackerDB(home: tempHome())
        let run = try enqueueSeeds(db, 1, maxAttempts: 2)[0]
        let t0 = Date().timeIntervalSince1970
        let first = try #require(try db.claimNextRun(worker: "dead", lease: 15, now: t0))
        #expect(first.attempts == 1)
        #expect(try db.recoverExpiredLeases(now: t0 + 10).isEmpty)  // lease still valid
        let recovered = try db.recoverExpiredLeases(now: t0 + 16)
        #expect(recovered.map(\.state) == [.queued])
        let second = try #require(try db.claimNextRun(worker: "w2", lease: 15, now: t0 + 17))
        #expect(second.id == run.id && second.attempts == 2 && second.startedAt == first.startedAt)
        let gaveUp = try db.recoverExpiredLeases(now: t0 + 40)
        #expect(gaveUp.map(\.state) == [.crashed])
        #expect(try db.claimNextRun(worker: "w3", lease: 15, now: t0 + 41) == nil)
        let events = try db.events(runId: run.id!).map(\.toState)
        #expect(events == [.queued, .running, .crashed, .queued, .running, .crashed])
        #expect(try db.run(id: run.id!)?.error?.contains("lease expired") == true)
    }

    @Test func cancelQueuedAtOnceAndRunningByRequest() throws {
        let db = try TrackerDB(home: tempHome())
        let runs = try enqueueSeeds(db, 2)
        let running = try #require(try db.claimNextRun(worker: "w", lease: 15))
        let result = try db.cancel(runIds: runs.map(\.id!))
        #expect(result.cancelled == 1 && result.requested == 1)
        #expect(try db.run(id: runs[1].id!)?.state == .cancelled)
        let status = try db.heartbeat(runId: running.id!, worker: "w", lease: 15)
        #expect(status.held && status.cancelRequested)
    }
}

// The worker with fake runs (/bin/sh commands): outcomes, error lines, cancel, stop signals and
// deadlines release the run, and provenance is recorded.
import Basics
import Foundation
import Store
import Testing

@testable import Scheduler

#if canImport(Glibc)
    import Glibc
#endif

/// A worker whose runs execute `script` with /bin/sh.
func shellWorker(
    _ db: TrackerDB, home: String, _ script: String, configure: (inout WorkerOptions) -> Void = { _ in },
    stop: @escaping @Sendable () -> Int32? = { nil }
) -> Worker {
    var o = WorkerOptions(home: home)
    o.untilEmpty = true
    o.heartbeatInterval = 0.2
    o.pollInterval = 0.02
    o.stopGrace = 5
    o.command = { _ in ["/bin/sh", "-c", script] }
    configure(&o)
    return Worker(db: db, options: o, stopSignal: stop)
}

/// A flag a test flips from another thread.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int32?
    func set(_ v: Int32) {
        lock.lock()
        value = v
        lock.unlock()
    }
    var get: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}

struct WorkerTests {
    @Test func failingChildEndsAsFailedWithItsExitCodeAndLastLine() throws {
        let home = tempHome()
        let db = try TrackerDB(home: home)
        let run = try enqueueSeeds(db, 1)[0]
        let summary = try shellWorker(db, home: home, "echo starting; echo 'boom: out of cheese' >&2; exit 3").run()
        #expect(summary.finished.map(\.state) == [.failed])
        let r = try #require(try db.run(id: run.id!))
        #expect(r.state == .failed && r.exitCode == 3 && r.signal == nil && r.error == "boom: out of cheese")
        #expect(r.finishedAt != nil && r.worker == nil && r.machine?.contains("cores") == true)
        #expect(try db.events(runId: run.id!).map(\.toState) == [.queued, .running, .failed])
    }

    @Test func aDrainingWorkerWaitsForTheRunOfAKilledWorker() throws {
        let home = tempHome()
        let db = try TrackerDB(home: home)
        let runs = try enqueueSeeds(db, 2)
        // a worker claimed the first run, beat once and died: its 1 s lease runs out unrenewed
        let orphan = try #require(try db.claimNextRun(worker: "gone:1", lease: 1))
        let fresh = try #require(try db.claimNextRun(worker: "alive:2", lease: 60))  // renewed: not waited for
        #expect(Set([orphan.id, fresh.id]) == Set(runs.map(\.id)))
        Thread.sleep(forTimeInterval: 0.6)  // past half its lease: silent
        let started = Date()
        let summary = try shellWorker(db, home: home, "true").run()
        #expect(summary.finished.map(\.runId) == [orphan.id!] && summary.finished.map(\.state) == [.succeeded])
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(try db.run(id: fresh.id!)?.state == .running)
        #expect(try !db.hasSilentRun())
    }

    @Test func succeedingChildsAndEnvironment() throws {
        let home = tempHome()
        let db = try TrackerDB(home: home)
        let runs = try enqueueSeeds(db, 3)
        let summary = try shellWorker(
            db, home: home, #"test "$TRACKER_RUN_ID" -gt 0 && test "$TRACKER_HOME" = "\#(home)""#
        ).run()
        #expect(summary.finished.map(\.runId) == runs.map(\.id!))
        #expect(summary.finished.allSatisfy { $0.state == .succeeded })
        #expect(try db.stateCounts() == [.succeeded: 3])
    }

    @Test func childKilledBySignalFails() throws {
        let home = tempHome()
        let db = try TrackerDB(home: home)
        let run = try enqueueSeeds(db, 1)[0]
        _ = try shellWorker(db, home: home, "kill -SEGV $$").run()
        let r = try #require(try db.run(id: run.id!))
        #expect(r.state == .failed && r.signal == 11 && r.exitCode == nil && r.error == "killed by signal 11")
    }

    /// SIGKILL comes from outside (the out-of-memory killer): the run is retried from its last
    /// checkpoint while it has attempts left, each crash recording the signal.
    @Test func childKilledBySIGKILLIsRetried() throws {
        let home = tempHome()
        let db = try TrackerDB(home: home)
        let run = try enqueueSeeds(db, 1, maxAttempts: 3)[0]
        // The first two attempts are killed, the third succeeds.
        let marker = home + "/attempts"
        let summary = try shellWorker(
            db, home: home, #"echo x >> "\#(marker)"; test $(wc -l < "\#(marker)") -ge 3 || kill -9 $$"#
        ).run()
        let r = try #require(try db.run(id: run.id!))
        #expect(r.state == .succeeded && r.attempts == 3, "\(r)")
        let crashes = try db.events(runId: run.id!).filter { $0.toState == .crashed }
        #expect(crashes.count == 2 && crashes.allSatisfy { $0.detail?.contains("signal 9") == true })
        #expect(summary.finished.map(\.state) == [.crashed, .crashed, .succeeded])

        // Out of attempts, the run stays crashed with the signal.
        let last = try enqueueSeeds(db, 1, experiment: "oom", maxAttempts: 2)[0]
        _ = try shellWorker(db, home: home, "kill -9 $$").run()
        let l = try #require(try db.run(id: last.id!))
        #expect(l.state == .crashed && l.signal == 9 && l.attempts == 2, "\(l)")
    }

    @Test func maxRunsStopsTheWorker() throws {
        let home = tempHome()
        let db = try TrackerDB(home: home)
        try enqueueSeeds(db, 3)
        let summary = try shellWorker(db, home: home, "true") { $0.maxRuns = 2 }.run()
        #expect(summary.finished.count == 2)
        #expect(try db.stateCounts() == [.succeeded: 2, .queued: 1])
    }

    @Test func cancelRequestStopsTheRunningChild() throws {
        let home = tempHome()
        let db = try TrackerDB(home: home)
        let run = try enqueueSeeds(db, 1)[0]
        let worker = shellWorker(db, home: home, "sleep 30")
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { _ = try? db.cancel(runIds: [run.id!]) }
        let start = Date()
        let summary = try worker.run()
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(summary.finished.map(\.state) == [.cancelled])
        let r = try #require(try db.run(id: run.id!))
        #expect(r.state == .cancelled && r.signal == Int64(SIGTERM))
    }

    @Test func stopSignalReleasesTheRunWithoutUsingAnAttempt() throws {
        let home = tempHome()
        let db = try TrackerDB(home: home)
        let run = try enqueueSeeds(db, 2)[0]
        let flag = Flag()
        let worker = shellWorker(db, home: home, "sleep 30", stop: { flag.get })
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { flag.set(SIGTERM) }
        let summary = try worker.run()
        #expect(summary.stoppedBy == SIGTERM && summary.finished.isEmpty)
        let r = try #require(try db.run(id: run.id!))
        #expect(r.state == .queued && r.attempts == 0 && r.worker == nil && r.leaseExpiresAt == nil)
        #expect(try db.events(runId: run.id!).last?.detail?.contains("released") == true)
        #expect(try db.liveWorkers(within: 60).isEmpty)
    }

    @Test func deadlineStopsAndLeavesTheRestQueued() throws {
        let home = tempHome()
        let db = try TrackerDB(home: home)
        try enqueueSeeds(db, 3)
        let worker = shellWorker(db, home: home, "sleep 30") { $0.deadline = Date().timeIntervalSince1970 + 0.5 }
        let summary = try worker.run()
        #expect(summary.hitDeadline && summary.finished.isEmpty)
        #expect(try db.stateCounts() == [.queued: 3])
    }

    @Test func staleRunIsRecoveredAndResumedUnderTheSameId() throws {
        let home = tempHome()
        let db = try TrackerDB(home: home)
        let run = try enqueueSeeds(db, 1)[0]
        // A worker that died: it claimed the run with a lease that has already run out.
        _ = try db.claimNextRun(worker: "ghost:1", lease: -1)
        let summary = try shellWorker(db, home: home, "true").run()
        #expect(summary.finished.map(\.runId) == [run.id!])
        let r = try #require(try db.run(id: run.id!))
        #expect(r.state == .succeeded && r.attempts == 2)
        #expect(
            try db.events(runId: run.id!).map(\.toState) == [
                .queued, .running, .crashed, .queued, .running, .succeeded,
            ])
    }

    @Test func runRecordsCodeMachineAndCorpusLineage() throws {
        let home = tempHome()
        let db = try TrackerDB(home: home)
        let corpus = try db.record(
            IngestedCorpus(
                corpus: CorpusRecord(
                    name: "bundled", fingerprint: "fp-bundled", settings: "{}", documents: 3, trainDocuments: 2,
                    valDocuments: 1, bytes: 100, skipped: 0, invalid: 0, repaired: 0, duplicates: 0, stats: "{}"),
                sources: [],
                tokenizer: TokenizerRecord(
                    kind: "bpe", vocabSize: 300, settings: "{}", sha256: "tok-sha", path: "t.json"),
                shards: [
                    ShardRecord(
                        split: "train", ordinal: 0, path: "shards/t.bin", tokens: 9, documents: 2, size: 1042,
                        sha256: "shard-sha")
                ]))
        let run = try enqueueSeeds(db, 1)[0]
        _ = try shellWorker(db, home: home, "true").run()
        let r = try #require(try db.run(id: run.id!))
        #expect(r.corpusId == corpus.corpus.id)
        let lineage = try ConfigValue(json: try #require(r.lineage))
        #expect(lineage.value(at: "corpusFingerprint") == .string("fp-bundled"))
        #expect(lineage.value(at: "tokenizerSha256") == .string("tok-sha"))
        #expect(
            lineage.value(at: "shards")
                == .array([
                    .table(["split": .string("train"), "path": .string("shards/t.bin"), "sha256": .string("shard-sha")])
                ]))
        let machine = try ConfigValue(json: try #require(r.machine))
        #expect(
            machine.value(at: "cores") != nil && machine.value(at: "host") != nil
                && machine.value(at: "memoryBytes") != nil)
        // The tests run inside the repository's git checkout (the worker's current directory).
        let code = Provenance.codeVersion()
        #expect(r.codeVersion == code.commit && r.codeDirty == code.dirty)
        #expect(Provenance.codeVersion(directory: "/").commit == nil)
    }
}

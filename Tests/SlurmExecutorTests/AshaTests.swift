// ASHA sweeps on the Slurm executor, against the fake Slurm: a task's `rung` event is recorded
// and decided by the head (TrackerDB.recordRung, as for local workers), answered by a decision
// file, and a pruned task's end settles the run `pruned`; a rung event ingested twice is
// recorded once; a resumed task uses a decision already there and sends no second rung event;
// a task the head never answers gives up with a message saying what is wrong.
import Foundation
import Scheduler
import Store
import TestSupport
import Testing

@testable import SlurmExecutor

#if canImport(Glibc)
    import Glibc
#endif

struct SlurmAshaTests {
    static let spec = #"{"sweep":{"scheduler":"asha","metric":"val/loss","grace_steps":2,"reduction_factor":2}}"#
    static let config = AshaConfig(metric: "val/loss", graceSteps: 2, reductionFactor: 2)

    static func rungEvent(_ rung: Int64, value: Double) -> SpoolEvent {
        SpoolEvent(kind: .rung, step: 2, rung: rung, atStep: 2, metric: "val/loss", value: value)
    }

    /// A rung record as the head would write it (its fields are the store's to set).
    static func record(rung: Int64, runId: Int64, value: Double?, pruned: Bool) throws -> RungRecord {
        let json = """
            {"experimentId":1,"rung":\(rung),"runId":\(runId),"step":\(2 << rung),"atStep":\(2 << rung),\
            "metric":"val/loss","value":\(value.map { "\($0)" } ?? "null"),"arrival":2,"pruned":\(pruned),"time":"t"}
            """
        return try JSONDecoder().decode(RungRecord.self, from: Data(json.utf8))
    }

    @Test func aRungEventIsDecidedAnsweredAndAPrunedEndSettlesTheRun() throws {
        let f = try Fixture(count: 2, spec: Self.spec)
        var executor = SlurmExecutorConfig()
        executor.rungTimeoutSeconds = 90
        let head = f.head(executor)
        try head.submit(f.runs, experiment: "sweep")
        let sweepDir = try f.task(f.runs[0]).sweepDir
        let manifest = try SlurmManifest.load(sweepDir: sweepDir)
        // the tasks wait at a rung as long as [executor] rung_timeout says
        #expect(manifest.asha == Self.config && manifest.rungTimeoutSeconds == 90)
        for (i, value) in [1.0, 2.0].enumerated() {
            f.slurm.set(101, i, "RUNNING")
            let spool = try f.spool(f.runs[i])
            try spool.append(SpoolEvent(kind: .start, job: "101_\(i)", host: "node1"))
            try spool.append(Self.rungEvent(0, value: value))
        }
        _ = try head.poll()
        let paths = try f.runs.map { try f.task($0).spoolPath }
        let first = try #require(try RungDecisionFile.read(spoolPath: paths[0], rung: 0))
        let second = try #require(try RungDecisionFile.read(spoolPath: paths[1], rung: 0))
        #expect(!first.pruned && first.arrival == 1)
        #expect(second.pruned && second.arrival == 2 && second.metricValue == 2.0)
        let text = try String(contentsOfFile: RungDecisionFile.path(spoolPath: paths[1], rung: 0), encoding: .utf8)
        #expect(text.hasPrefix("prune\n"))

        try f.spool(f.runs[1]).append(SpoolEvent(kind: .end, outcome: .pruned, exitCode: 0, error: "pruned at rung 0"))
        f.slurm.set(101, 1, "COMPLETED")
        let poll = try head.poll()
        #expect(try f.state(f.runs[1]).state == .pruned)
        #expect(try f.state(f.runs[0]).state == .running)
        #expect(poll.live.map(\.runId) == [f.runs[0].id!])
        #expect(try f.db.rungs(experimentId: f.experimentId).count == 2)
    }

    @Test func aRungEventIngestedTwiceIsRecordedOnce() throws {
        let f = try Fixture(count: 1, spec: Self.spec)
        let head = f.head()
        try head.submit(f.runs, experiment: "sweep")
        let run = f.runs[0]
        let spool = try f.spool(run)
        try spool.append(SpoolEvent(kind: .start, job: "101_0", host: "node1"))
        try spool.append(Self.rungEvent(0, value: 1.5))
        _ = try head.poll()
        // the same arrival again under a new sequence number (a task that died before it saw it
        // was sent), and the file ingested again from its start
        try spool.append(Self.rungEvent(0, value: 9.0))
        _ = try head.poll()
        try f.db.write { db in
            try db.execute(
                sql: "UPDATE slurmTask SET spoolOffset = 0, spoolSeq = 0 WHERE runId = ?", arguments: [run.id])
        }
        _ = try head.poll()
        let rungs = try f.db.rungs(runId: run.id!)
        #expect(rungs.count == 1 && rungs.first?.metricValue == 1.5)
    }

    @Test func aResumedTaskUsesTheDecisionThereAndSendsNoSecondRungEvent() throws {
        let path = NSTemporaryDirectory() + "slurm-asha-\(UUID().uuidString)/spool/7.jsonl"
        let first = try SpoolWriter(path: path)
        try first.append(Self.rungEvent(0, value: 1.0))
        try first.append(Self.rungEvent(1, value: 0.5))
        // the head answered rung 0 (continue) and rung 1 (prune) while the task was away
        for (rung, pruned) in [(Int64(0), false), (Int64(1), true)] {
            try RungDecisionFile.write(try Self.record(rung: rung, runId: 7, value: 1, pruned: pruned), spoolPath: path)
        }
        let spool = try SpoolWriter(path: path)
        let wait = SlurmRungWait(spool: spool, runId: 7, timeout: 5, stop: SignalWatcher([]))
        // rung 0 already decided: the gate knows it; rung 1 sent before: read, not sent again
        let gate = try wait.gate(Self.config, totalSteps: 100)
        #expect(gate.pruned?.rung == 1)
        let again = try wait.record(
            RungArrival(experimentId: 0, rung: 1, runId: 7, step: 4, atStep: 4, metric: "val/loss", value: 0.5))
        #expect(again.pruned)
        #expect(try Spool.read(path: path).events.filter { $0.kind == .rung }.count == 2)
    }

    @Test func aTaskTheHeadNeverAnswersGivesUpSayingWhy() throws {
        let path = NSTemporaryDirectory() + "slurm-asha-\(UUID().uuidString)/spool/3.jsonl"
        let wait = SlurmRungWait(
            spool: try SpoolWriter(path: path), runId: 3, timeout: 0.3, stop: SignalWatcher([]))
        wait.interval = 0.05
        let gate = try wait.gate(Self.config, totalSteps: 100)
        #expect(gate.pruned == nil)
        let error = #expect(throws: SlurmExecutorError.self) { try gate.observe(step: 2, value: 1) }
        #expect("\(error!)".contains("no decision for rung 0 of run 3"))
        #expect(wait.failure != nil)
        #expect(try Spool.read(path: path).events.map(\.kind) == [.rung])
    }

    @Test func fuzzedDecisionFilesAreDecisionsOrClearErrors() throws {
        let record = try Self.record(rung: 0, runId: 2, value: nil, pruned: true)
        let valid = try RungDecisionFile.contents(record)
        #expect(try RungDecisionFile.parse(Data(valid), path: "d") == record)
        for seed in UInt64(0)..<300 {
            var m = Mutator(seed: seed)
            let bytes = m.mutate(valid)
            do {
                let r = try RungDecisionFile.parse(Data(bytes), path: "d")
                #expect(
                    String(decoding: bytes, as: UTF8.self).hasPrefix(r.pruned ? "prune" : "continue"), "seed \(seed)")
            } catch let e as StoreError {
                #expect("\(e)".contains("not a rung decision"), "seed \(seed)")
            }
        }
    }
}

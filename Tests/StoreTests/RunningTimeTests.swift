// The time runs actually ran (`RunReader.runningTimes`), on both engines: runs driven through the
// queue's own calls (so the events carry the details the queue writes), then given fixed times,
// so every value is exact to the millisecond.
import Foundation
import Testing

@testable import Store

struct RunningTimeTests {
    /// 2027-01-01T00:00:00Z in unix seconds: event `s` seconds later is `iso(s)`.
    static let day = 1_798_761_600.0

    /// 2027-01-01 plus `s` seconds (under a day) as the store writes event times.
    static func iso(_ s: Double) -> String {
        String(
            format: "2027-01-01T%02d:%02d:%06.3fZ", Int(s) / 3600, Int(s) % 3600 / 60,
            s.truncatingRemainder(dividingBy: 60))
    }

    /// Gives run `runId`'s events, oldest first, the times `seconds` (after `day`), one each.
    static func retime(_ db: TrackerDB, _ runId: Int64, _ seconds: [Double]) throws {
        let events = try db.events(runId: runId)
        try #require(
            events.count == seconds.count,
            "events: \(events.map { "\($0.fromState?.rawValue ?? "-") -> \($0.toState)" })")
        try db.write { c in
            for (e, s) in zip(events, seconds) {
                try c.execute(sql: "UPDATE runEvent SET time = ? WHERE id = ?", arguments: [iso(s), e.id])
            }
        }
    }

    static func create(_ db: TrackerDB, _ name: String) throws -> Int64 {
        try db.createRun(RunRecord(name: name, config: "{}", configHash: name)).id!
    }

    static func claim(_ db: TrackerDB, _ id: Int64, _ worker: String) throws {
        let run = try db.claimNextRun(worker: worker, lease: 10, now: 1000)
        try #require(run?.id == id)
    }

    @Test(arguments: Backend.allCases) func aRunWhoseHeartbeatStoppedForHalfItsLeaseIsSilent(backend: Backend)
        throws
    {
        guard let db = try makeDB(backend) else { return }
        let id = try Self.create(db, "beats")
        try Self.claim(db, id, "w1")  // at 1000, lease 10
        #expect(try !db.hasSilentRun(now: 1004.9))
        #expect(try db.hasSilentRun(now: 1005.1))
        #expect(try !db.hasSilentRun(experimentId: 424_242, now: 1005.1))
        #expect(try db.recoverExpiredLeases(now: 1011).map(\.id) == [id])
        #expect(try !db.hasSilentRun(now: 1011))
    }

    @Test(arguments: Backend.allCases) func sumsRunningIntervalsEndingSilentDeathsAtTheLastMetric(backend: Backend)
        throws
    {
        guard let db = try makeDB(backend) else { return }
        // Two attempts; the first one's worker died after its metric at 35.125 s, which was
        // noticed at 725 s (lease expired). The second attempt logs a metric of its own.
        let twice = try Self.create(db, "twice")
        try Self.claim(db, twice, "w1")
        try db.logMetrics([
            MetricPoint(runId: twice, key: "train/loss", step: 10, value: 3, time: Self.day + 20.125),
            MetricPoint(runId: twice, key: "val/loss", step: 20, value: 2.5, time: Self.day + 35.125),
        ])
        #expect(try db.recoverExpiredLeases(now: 2000).map(\.id) == [twice])
        try Self.claim(db, twice, "w2")
        try db.logMetrics([MetricPoint(runId: twice, key: "train/loss", step: 30, value: 2, time: Self.day + 740)])
        #expect(try db.transition(runId: twice, from: .running, to: .succeeded, worker: "w2"))
        try Self.retime(db, twice, [0, 5.25, 725, 725.001, 735.5, 796.75])

        // A worker that died before its first metric: the interval counts nothing.
        let silent = try Self.create(db, "silent")
        try Self.claim(db, silent, "w3")
        #expect(try db.recoverExpiredLeases(now: 2000).map(\.id) == [silent])
        #expect(try db.cancel(runIds: [silent]) == (1, 0))
        try Self.retime(db, silent, [0, 10, 600, 600.001, 900])

        // Released on SIGTERM and resumed; a cancel request (running -> running) ends nothing.
        let released = try Self.create(db, "released")
        try Self.claim(db, released, "w4")
        #expect(try db.transition(runId: released, from: .running, to: .queued, worker: "w4", detail: "SIGTERM"))
        try Self.claim(db, released, "w5")
        #expect(try db.cancel(runIds: [released]) == (0, 1))
        #expect(try db.transition(runId: released, from: .running, to: .cancelled, worker: "w5"))
        try Self.retime(db, released, [90, 100.1, 160.35, 1900, 1910, 1930.001])

        // Released once, running again now: its open interval counts to now.
        let running = try Self.create(db, "running")
        try Self.claim(db, running, "w6")
        #expect(try db.transition(runId: running, from: .running, to: .queued, worker: "w6", detail: "SIGTERM"))
        try Self.claim(db, running, "w7")
        try Self.retime(db, running, [2990, 3000, 3010.5, 3600])

        let never = try Self.create(db, "never")
        let reader = RunReader(db: db)
        let before = Date().timeIntervalSince1970
        let seconds = try reader.runningTimes(runIds: [twice, silent, released, running, never])
        let after = Date().timeIntervalSince1970
        #expect(seconds.count == 5)
        #expect(seconds[0] == 91.125)  // (35.125 - 5.25) + (796.75 - 735.5)
        #expect(seconds[1] == 0)
        #expect(seconds[2] == 90.251)  // (160.35 - 100.1) + (1930.001 - 1900)
        #expect(seconds[4] == nil)
        let now = try #require(seconds[3]) - 10.5 + Self.day + 3600
        #expect(now >= before - 0.001 && now <= after + 0.001)
        // A few of the store's runs are read by their ids, most by reading runEvent whole: same
        // values, in the order asked.
        #expect(try reader.runningTimes(runIds: [never, twice]) == [nil, 91.125])
        #expect(try reader.runningTimes(runIds: [released, twice, silent]) == [90.251, 91.125, 0])
    }

    /// Gives run `runId` the startedAt and finishedAt (nil: none) `start` and `end` (after `day`).
    static func span(_ db: TrackerDB, _ runId: Int64, _ start: Double, _ end: Double?) throws {
        try db.write { c in
            try c.execute(
                sql: "UPDATE run SET startedAt = ?, finishedAt = ? WHERE id = ?",
                arguments: [iso(start), end.map(iso), runId])
        }
    }

    @Test(arguments: Backend.allCases) func oneIntervalIsTheDurationTheOthersReadTheirEvents(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        // One claim each, to a finished state or still running (below): the duration, read with the row.
        let done = try Self.create(db, "done")
        try Self.claim(db, done, "w1")
        #expect(try db.cancel(runIds: [done]) == (0, 1))
        #expect(try db.transition(runId: done, from: .running, to: .failed, worker: "w1"))
        try Self.retime(db, done, [0, 10.5, 20, 70.25])
        try Self.span(db, done, 10.5, 70.25)
        // Cancelled while queued: never started.
        let never = try Self.create(db, "never")
        #expect(try db.cancel(runIds: [never]) == (1, 0))
        // Released and resumed (attempts is 1 again), and a crash back in the queue, cancelled
        // there (attempts 1): their span holds time they did not run, their events say how much.
        let released = try Self.create(db, "released")
        try Self.claim(db, released, "w3")
        #expect(try db.transition(runId: released, from: .running, to: .queued, worker: "w3", detail: "SIGTERM"))
        try Self.claim(db, released, "w4")
        #expect(try db.transition(runId: released, from: .running, to: .succeeded, worker: "w4"))
        try Self.retime(db, released, [0, 10, 20, 100, 130.5])
        try Self.span(db, released, 10, 130.5)
        let crashed = try Self.create(db, "crashed")
        try Self.claim(db, crashed, "w5")
        #expect(try db.recoverExpiredLeases(now: 2000).map(\.id) == [crashed])
        #expect(try db.cancel(runIds: [crashed]) == (1, 0))
        try Self.retime(db, crashed, [0, 10, 600, 600.001, 900])
        try Self.span(db, crashed, 10, 900)
        let running = try Self.create(db, "running")  // its lease has not expired
        try Self.claim(db, running, "w2")
        try Self.retime(db, running, [0, 3000])
        try Self.span(db, running, 3000, nil)

        let reader = RunReader(db: db)
        let ids = [done, never, released, crashed, running]
        for selection in [RunSelection(), RunSelection(runs: ["released", "done"])] {
            let before = Date().timeIntervalSince1970
            let runs = try reader.summaries(selection)
            try reader.setRunningTimes(runs)
            let after = Date().timeIntervalSince1970
            let events = try reader.runningTimes(runIds: runs.map(\.id))
            for (r, fromEvents) in zip(runs, events) where r.id != running {
                #expect(r.runningTime == fromEvents, "\(r.name)")
            }
            if let r = runs.first(where: { $0.id == running }) {
                let now = try #require(r.runningTime) + Self.day + 3000
                #expect(now >= before - 0.001 && now <= after + 0.001)
            }
        }
        let runs = try reader.summaries(RunSelection())
        #expect(runs.map(\.id) == ids)
        try reader.setRunningTimes(runs)
        #expect(runs.map(\.runningTime)[0] == 59.75)
        #expect(runs.map(\.runningTime)[1] == nil)
        #expect(runs.map(\.runningTime)[2] == 40.5)  // (20 - 10) + (130.5 - 100); its span is 120.5
        #expect(runs.map(\.runningTime)[3] == 0)
    }
}

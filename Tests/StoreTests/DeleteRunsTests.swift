// `deleteRuns`: a finished run goes with every row recorded about it, on both engines; other runs
// keep theirs; an unfinished run is refused and nothing is deleted.
import Foundation
import Testing

@testable import Store

struct DeleteRunsTests {
    /// Row counts of the tables that hang off `run`, for run `id`.
    func rows(_ db: TrackerDB, _ id: Int64) throws -> [String: Int] {
        try db.read { d in
            var out: [String: Int] = [:]
            for table in ["runParam", "runTag", "metric", "metricSummary", "artifact", "runEvent"] {
                out[table] = try d.scalar(
                    Int.self, sql: "SELECT count(*) FROM \(table) WHERE runId = ?", arguments: [id])
            }
            return out
        }
    }

    func finishedRun(_ db: TrackerDB, _ name: String) throws -> Int64 {
        let id = try db.createRun(
            RunRecord(name: name, config: "{}", configHash: "h-\(name)", state: .succeeded),
            params: ["lr": .real(1e-3)], tags: ["who": "test"]
        ).id!
        try db.logMetrics(
            (1...5).map { MetricPoint(runId: id, key: "train/loss", step: $0, value: 1 / Double($0), time: 0) })
        _ = try db.addArtifact(
            ArtifactRecord(
                runId: id, kind: "checkpoint", step: 5, path: "runs/\(id)/checkpoints/x", size: 1, sha256: "s"))
        try db.write { d in
            try TrackerDB.recordEvent(runId: id, from: nil, to: .succeeded, worker: nil, detail: nil, d)
        }
        return id
    }

    @Test(arguments: Backend.allCases) func deletesAFinishedRunWithEverythingAboutIt(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let gone = try finishedRun(db, "gone")
        let kept = try finishedRun(db, "kept")
        let before = try rows(db, kept)
        #expect(before.values.allSatisfy { $0 > 0 }, "the fixture fills every table: \(before)")
        let deleted = try db.deleteRuns(ids: [gone, gone])
        #expect(deleted.map(\.id) == [gone])
        #expect(try db.run(id: gone) == nil)
        let after = try rows(db, gone)
        #expect(after.values.allSatisfy { $0 == 0 }, "\(after)")
        #expect(try rows(db, kept) == before)
        #expect(try db.metrics(runId: kept, key: "train/loss").count == 5)
    }

    @Test(arguments: Backend.allCases) func refusesAnUnfinishedRunAndDeletesNothing(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let done = try finishedRun(db, "done")
        for state in [RunState.queued, .running, .crashed] {
            let busy = try db.createRun(
                RunRecord(name: "busy-\(state)", config: "{}", configHash: "b-\(state)", state: state)
            ).id!
            let error = #expect(throws: StoreError.self) { try db.deleteRuns(ids: [done, busy]) }
            #expect(error == .runNotFinished(id: busy, name: "busy-\(state)", state: state.rawValue))
            #expect(error?.description.contains("tracker cancel \(busy)") == true)
            #expect(try db.run(id: done) != nil && db.run(id: busy) != nil)
        }
        let missing = #expect(throws: StoreError.self) { try db.deleteRuns(ids: [done, 999_999]) }
        #expect(missing == .runNotFound("999999"))
        #expect(try db.run(id: done) != nil)
    }
}

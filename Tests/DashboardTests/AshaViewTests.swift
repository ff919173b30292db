// ASHA in the dashboard: the runs table of an ASHA sweep shows its rungs (the same "ASHA rungs"
// table as `tracker report`, one code path) and the experiments page counts pruned runs.
import Basics
import Foundation
import Store
import Testing

@testable import Dashboard

struct AshaViewTests {
    /// A workspace with one experiment of three runs that reached rung 0; the worst is pruned.
    private func ashaWorkspace() throws -> String {
        let home = NSTemporaryDirectory() + "dashboard-asha-\(UUID().uuidString)"
        let db = try TrackerDB(home: home)
        let e = try db.upsertExperiment(name: "asha-sweep", source: nil, spec: "{}")
        for (i, value) in [4.0, 3.0, 5.0].enumerated() {
            let run = try db.createRun(
                RunRecord(experimentId: e.id, name: "lr-\(i)", config: "{}", configHash: "h\(i)"))
            let claimed = try #require(try db.claimNextRun(worker: "test:1", lease: 600))
            #expect(claimed.id == run.id)
            let record = try db.recordRung(
                RungArrival(
                    experimentId: e.id!, rung: 0, runId: run.id!, step: 10, atStep: 10, metric: "val/loss",
                    value: value),
                prune: { earlier, v in earlier.count >= 2 && v > earlier.min()! })
            _ = try db.transition(
                runId: run.id!, from: .running, to: record.pruned ? .pruned : .succeeded, worker: "test:1",
                exitCode: 0)
        }
        return home
    }

    @Test func runsTableShowsTheRungsAndExperimentsCountPrunedRuns() async throws {
        let server = try await TestServer.start(home: try ashaWorkspace())
        defer { server.stop() }
        let runs = try await server.get("/runs?experiment=asha-sweep")
        #expect(runs.status == 200)
        #expect(runs.body.contains("ASHA rungs"), "\(runs.body.prefix(400))")
        #expect(runs.body.contains("pruned") && runs.body.contains("continued"))
        let json = try await server.get("/?format=json")
        let doc = try ConfigValue(json: json.body)
        guard case .array(let sections)? = doc.value(at: "sections"),
            case .array(let rows)? = sections[0].value(at: "rows")
        else {
            Issue.record("unexpected JSON: \(json.body.prefix(300))")
            return
        }
        let sweep = try #require(rows.first { $0.value(at: "experiment") == .string("asha-sweep") })
        #expect(sweep.value(at: "pruned") == .int(1) && sweep.value(at: "succeeded") == .int(2))
    }
}

// ASHA with real tiny runs of the `tracker` binary: one worker prunes by the rule (each decision
// recomputed from the recorded rung results), a pruned run ends at its rung with its checkpoint,
// status and report show the rungs, the same sweep run twice takes the same decisions, and a
// worker killed mid-run leaves no rung recorded twice; a run whose pruning was decided but not
// yet marked ends as pruned at once on its next attempt.
import Foundation
import Store
import TestSupport
import Testing

@testable import Scheduler

#if canImport(Glibc)
    import Glibc
#endif

/// A workspace with the bundled corpus and a six-run ASHA learning-rate sweep file (15 steps,
/// rungs at steps 4 and 12); returns (home, file).
private func ashaWorkspace(_ tag: String) throws -> (String, String) {
    let home = tempHome(tag)
    let ingest = try tracker([
        "ingest", repoPath + "/corpora/bundled.tar.xz", "--home", home, "--name", "bundled", "--vocab-size", "512",
    ])
    #expect(ingest.status == 0, "\(ingest.err)")
    let file = "\(home)/asha.toml"
    try """
    [data]
    corpus = "bundled"
    [model]
    layers = 1
    heads = 2
    channels = 32
    context = 32
    [model.attention]
    variant = "softmax_rope"
    [train]
    steps = 15
    batch = 4
    warmup = 2
    min_lr = 0.0
    eval_every = 4
    eval_batches = 2
    checkpoint_every = 12
    log_every = 1
    threads = 1
    [sweep]
    scheduler = "asha"
    grace_steps = 4
    "train.lr" = [1e-4, 3e-3, 3e-5, 1e-2, 1e-5, 5e-3]
    """.write(toFile: file, atomically: true, encoding: .utf8)
    return (home, file)
}

/// What a sweep decided, in a form two workspaces can be compared by: per rung result, the run's
/// name, rung, arrival, value and decision; then each run's name and final state.
private func decisions(_ db: TrackerDB) throws -> [String] {
    let runs = Dictionary(uniqueKeysWithValues: try db.runs().map { ($0.id!, $0) })
    let rungs = try db.rungs(runIds: Array(runs.keys))
    return rungs.map { "\(runs[$0.runId]!.name) rung\($0.rung) #\($0.arrival) \($0.metricValue) \($0.pruned)" }
        + runs.values.sorted { $0.id! < $1.id! }.map { "\($0.name) \($0.state.rawValue)" }
}

@Suite(.tags(.slow), .requires("the tracker binary built next to the tests (swift build)", trackerBuilt))
struct AshaProcessTests {
    @Test(.timeLimit(.minutes(15))) func oneWorkerPrunesByTheRuleTheSameWayTwice() throws {
        var seen: [[String]] = []
        for attempt in 1...2 {
            let (home, file) = try ashaWorkspace("asha-e2e\(attempt)")
            let run = try tracker(["run", file, "--home", home, "--workers", "1"])
            #expect(run.status == 0, "\(run.out)\(run.err)")
            let db = try TrackerDB(home: home)
            let rows = try db.rungs(runIds: try db.runs().map(\.id!))
            let config = AshaConfig(graceSteps: 4)
            for rung in [Int64(0), 1] {
                let here = rows.filter { $0.rung == rung }
                for (k, r) in here.enumerated() {
                    let earlier = Array(here[..<k].map(\.metricValue))
                    #expect(r.pruned == config.prunes(earlier: earlier, value: r.metricValue), "\(r)")
                    #expect(r.step == [4, 12][Int(rung)] && r.atStep == r.step && r.arrival == Int64(k + 1))
                }
            }
            let pruned = try db.runs().filter { $0.state == .pruned }
            let ended = try db.runs().allSatisfy { $0.state == .pruned || $0.state == .succeeded }
            #expect(!pruned.isEmpty && ended)
            for p in pruned {
                let at = try #require(rows.first { $0.runId == p.id! && $0.pruned })
                let steps = try db.metricSummaries(runId: p.id!).first { $0.key == "train/loss" }?.lastStep
                #expect(steps == at.atStep, "a pruned run trains no step past its rung")
                #expect(try db.artifacts(runId: p.id!, kind: "checkpoint").map(\.step) == [at.atStep])
                #expect(try db.events(runId: p.id!).last?.detail?.hasPrefix("pruned at rung \(at.rung)") == true)
            }
            let status = try tracker(["status", "--home", home])
            #expect(status.out.contains("rungs (ASHA):") && status.out.contains("rung 0 (step 4): 6 results"))
            let report = try tracker(["report", "--home", home, "--experiment", "asha", "--format", "csv"])
            #expect(report.out.contains("pruned") && report.status == 0, "\(report.err)")
            seen.append(try decisions(db))
        }
        #expect(seen[0] == seen[1])
    }

    @Test(.timeLimit(.minutes(15))) func aKilledWorkersRunRecordsEachRungOnce() throws {
        let (home, file) = try ashaWorkspace("asha-crash")
        #expect(try tracker(["run", file, "--home", home, "--no-wait"]).status == 0)
        let db = try TrackerDB(home: home)
        let first = try #require(try db.runs().first)
        let worker = ["worker", "--home", home, "--until-empty", "--lease", "3", "--heartbeat", "0.5"]
        let w1 = try startTracker(worker, log: "\(home)/worker1.log")
        // Killed after the first run recorded rung 0 (step 4), before its checkpoint at step 12.
        let atRung = try waitFor(300) { try !db.rungs(runId: first.id!).isEmpty }
        #expect(atRung)
        kill(w1, SIGKILL)
        _ = waitExit(w1)
        #expect(
            try waitFor(30) {
                _ = try db.recoverExpiredLeases()
                return try db.run(id: first.id!)?.state == .queued
            })
        let w2 = try startTracker(worker, log: "\(home)/worker2.log")
        #expect(waitExit(w2, timeout: 600) == 0)
        #expect(try db.run(id: first.id!)?.attempts == 2)
        let rows = try db.rungs(runIds: try db.runs().map(\.id!))
        #expect(rows.filter { $0.runId == first.id! }.map(\.rung) == [0, 1])
        for rung in [Int64(0), 1] {
            #expect(
                rows.filter { $0.rung == rung }.map(\.arrival)
                    == (1...Int64(rows.filter { $0.rung == rung }.count)).map { $0 })
        }

        // A run whose pruning was recorded but whose process died before marking it: its next
        // attempt ends it as pruned without training on.
        let pruned = try #require(try db.runs().first { $0.state == .pruned })
        let steps = try db.metricSummaries(runId: pruned.id!).first { $0.key == "train/loss" }?.lastStep
        try db.write {
            try $0.execute(sql: "UPDATE run SET state = 'queued' WHERE id = ?", arguments: [pruned.id])
        }
        #expect(try tracker(worker).status == 0)
        #expect(try db.run(id: pruned.id!)?.state == .pruned)
        #expect(try db.metricSummaries(runId: pruned.id!).first { $0.key == "train/loss" }?.lastStep == steps)
        #expect(try db.artifacts(runId: pruned.id!, kind: "checkpoint").count == 1)
    }
}

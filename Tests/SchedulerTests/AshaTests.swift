// ASHA on a synthetic objective: no training, a fake metric sequence per run fed through the
// same RungGate and store transaction a training run uses; the pruned set is checked against the
// rule worked by hand. Also: the [sweep] keys, the rungs' steps, resuming, concurrent arrivals,
// and a worker whose child marks its run pruned.
import Basics
import Foundation
import Store
import Testing

@testable import Scheduler

/// An ASHA experiment with `n` runs (seeds 1...n) enqueued; returns its id and runs.
func enqueueAsha(_ db: TrackerDB, _ n: Int, asha: [String: ConfigValue]) throws -> (Int64, [RunRecord]) {
    var sweep = asha
    sweep["seeds"] = .array((1...n).map { .int($0) })
    let s = try spec(sweep)
    let e = try db.upsertExperiment(name: "asha", source: nil, spec: s.specJSON)
    return (e.id!, try db.enqueue(try s.plannedRuns(), experimentId: e.id!, force: false).enqueued)
}

/// Runs each run in turn (one worker), feeding `value(run index, step)` at every step 1...steps
/// until its gate prunes it; returns the index of each pruned run with its rung.
func feedInTurn(
    _ db: TrackerDB, _ experimentId: Int64, _ runs: [RunRecord], config: AshaConfig, steps: Int,
    value: (Int, Int) -> Double
) throws -> [Int: Int64] {
    var pruned: [Int: Int64] = [:]
    for (i, run) in runs.enumerated() {
        let gate = try RungGate(config: config, db: db, experimentId: experimentId, runId: run.id!, totalSteps: 100)
        for step in 1...steps where gate.pruned == nil { try gate.observe(step: step, value: value(i, step)) }
        if let r = gate.pruned { pruned[i] = r.rung }
    }
    return pruned
}

struct AshaTests {
    /// Final levels of nine runs; each run's curve is level + 1/step, so ranks hold at every rung.
    static let levels: [Double] = [5, 3, 4, 1, 6, 2, 7, 0.5, 8]

    @Test func sweepKeysAndDefaults() throws {
        let s = try spec([
            "scheduler": .string("asha"), "grace_steps": .int(40), "train.lr": .array([.double(1e-3), .double(3e-3)]),
        ])
        #expect(s.sweep.asha == AshaConfig(metric: "val/loss", mode: .min, graceSteps: 40, reductionFactor: 3))
        #expect(s.sweep.grid.map(\.key) == ["train.lr"])
        let t = try spec([
            "scheduler": .string("asha"), "grace_steps": .int(5), "metric": .string("task/acc"), "mode": .string("max"),
            "reduction_factor": .int(4),
        ])
        #expect(t.sweep.asha == AshaConfig(metric: "task/acc", mode: .max, graceSteps: 5, reductionFactor: 4))
        #expect(try spec(["train.lr": .array([.double(1e-3)])]).sweep.asha == nil)
    }

    @Test(arguments: [
        (["grace_steps": ConfigValue.int(5)], "scheduler"),
        (["scheduler": .string("hyperband"), "grace_steps": .int(5)], "scheduler"),
        (["scheduler": .string("asha")], "grace_steps"),
        (["scheduler": .string("asha"), "grace_steps": .int(0)], "grace_steps"),
        (["scheduler": .string("asha"), "grace_steps": .int(5), "mode": .string("lowest")], "mode"),
        (["scheduler": .string("asha"), "grace_steps": .int(5), "reduction_factor": .int(1)], "reduction_factor"),
        (["scheduler": .string("asha"), "grace_steps": .int(5), "metric": .int(3)], "metric"),
    ])
    func badSchedulerKeysAreClearErrors(_ sweep: [String: ConfigValue], key: String) throws {
        let error = #expect(throws: SchedulerError.self) { try spec(sweep) }
        #expect(error?.description.hasPrefix("[sweep] \(key):") == true, "\(String(describing: error))")
    }

    @Test func aRunMustReachTheFirstRungAndBeEvaluatedByThen() throws {
        let asha = AshaConfig(graceSteps: 40)
        let ok = ConfigValue.table(["train": .table(["steps": .int(100), "eval_every": .int(20)])])
        try asha.check(run: "a", config: ok)
        let short = ConfigValue.table(["train": .table(["steps": .int(40), "eval_every": .int(20)])])
        #expect(throws: SchedulerError.self) { try asha.check(run: "a", config: short) }
        let late = ConfigValue.table(["train": .table(["steps": .int(100), "eval_every": .int(50)])])
        #expect(throws: SchedulerError.self) { try asha.check(run: "a", config: late) }
        try AshaConfig(metric: "train/loss", graceSteps: 40).check(run: "a", config: late)
    }

    @Test func rungsAreGraceTimesPowersOfTheFactorBelowTheLastStep() {
        #expect(AshaConfig(graceSteps: 10).rungSteps(totalSteps: 100) == [10, 30, 90])
        #expect(AshaConfig(graceSteps: 10).rungSteps(totalSteps: 90) == [10, 30])
        #expect(AshaConfig(graceSteps: 4, reductionFactor: 2).rungSteps(totalSteps: 33) == [4, 8, 16, 32])
        #expect(AshaConfig(graceSteps: 50).rungSteps(totalSteps: 50) == [])
    }

    @Test func theRuleByHand() {
        let asha = AshaConfig(graceSteps: 1)
        // Fewer than 3 results at the rung (this one included): nobody is pruned.
        #expect(!asha.prunes(earlier: [], value: 9) && !asha.prunes(earlier: [1], value: 9))
        // 3 results: keep the best 1.
        #expect(asha.prunes(earlier: [1, 2], value: 3) && !asha.prunes(earlier: [2, 3], value: 1))
        #expect(asha.prunes(earlier: [1, 3], value: 2))
        // 6 results: keep the best 2; a tie with the 2nd best continues.
        #expect(!asha.prunes(earlier: [1, 2, 5, 6, 7], value: 2) && asha.prunes(earlier: [1, 2, 5, 6, 7], value: 2.5))
        // NaN ranks last.
        #expect(asha.prunes(earlier: [1, 2], value: .nan) && !asha.prunes(earlier: [.nan, .nan], value: 5))
        let max = AshaConfig(mode: .max, graceSteps: 1)
        #expect(!max.prunes(earlier: [1, 2], value: 3) && max.prunes(earlier: [2, 3], value: 1))
    }

    /// Nine runs in turn, reduction factor 3, rungs at steps 1, 3, 9 (worked by hand):
    /// rung 0: 5 (1 result), 3 (2), 4 (3 results, keep 1: 3) pruned, 1 (keep 1: 1), 6 pruned,
    ///   2 (6 results, keep 2: 1, 2), 7 pruned, 0.5 (keep 2: 0.5, 1), 8 (9, keep 3: 0.5, 1, 2) pruned;
    /// rung 1: 5, 3, 1 (3 results, keep 1: 1), 2 (keep 1: 1) pruned, 0.5 (keep 1: 0.5);
    /// rung 2: 5, 3, 1 (keep 1: 1), 0.5 (keep 1: 0.5): nobody else.
    @Test(arguments: [AshaConfig.Mode.min, .max])
    func syntheticSweepPrunesWhatTheRuleSays(mode: AshaConfig.Mode) throws {
        let db = try TrackerDB(home: tempHome("asha"))
        let (experimentId, runs) = try enqueueAsha(db, 9, asha: [:])
        let config = AshaConfig(mode: mode, graceSteps: 1)
        let sign = mode == .min ? 1.0 : -1.0
        let pruned = try feedInTurn(db, experimentId, runs, config: config, steps: 10) { i, step in
            sign * (Self.levels[i] + 1 / Double(step))
        }
        #expect(pruned == [2: 0, 4: 0, 6: 0, 8: 0, 5: 1])
        let rungs = try db.rungs(experimentId: experimentId)
        let order = { (k: Int64) in
            rungs.filter { $0.rung == k }.map { runs.firstIndex(of: try! db.run(id: $0.runId)!)! }
        }
        #expect(order(0) == Array(0..<9))
        #expect(order(1) == [0, 1, 3, 5, 7])
        #expect(order(2) == [0, 1, 3, 7])
        #expect(rungs.filter { $0.rung == 0 }.map(\.arrival) == Array(1...9))
        #expect(rungs.allSatisfy { $0.atStep == $0.step })
    }

    @Test func aResumedRunKeepsItsRungsAndAPrunedOneStaysPruned() throws {
        let db = try TrackerDB(home: tempHome("asha"))
        let (experimentId, runs) = try enqueueAsha(db, 3, asha: [:])
        let config = AshaConfig(graceSteps: 2)
        _ = try feedInTurn(db, experimentId, runs, config: config, steps: 3) { i, _ in [1, 2, 3][i] }
        #expect(try db.rungs(experimentId: experimentId).map(\.pruned) == [false, false, true])
        // The first run's process restarts from a checkpoint before its rung and logs it again.
        let again = try RungGate(
            config: config, db: db, experimentId: experimentId, runId: runs[0].id!, totalSteps: 100)
        #expect(try again.observe(step: 2, value: 99) == nil && again.pruned == nil)
        #expect(try db.rungs(runId: runs[0].id!).map(\.metricValue) == [1])
        // The pruned run's next attempt knows at once.
        let pruned = try RungGate(
            config: config, db: db, experimentId: experimentId, runId: runs[2].id!, totalSteps: 100)
        #expect(pruned.pruned?.rung == 0)
        #expect(try db.rungs(experimentId: experimentId).count == 3)
    }

    @Test func aRungIsRecordedOnceAtTheFirstValueAtOrAfterItsStep() throws {
        let db = try TrackerDB(home: tempHome("asha"))
        let (experimentId, runs) = try enqueueAsha(db, 2, asha: [:])
        let gate = try RungGate(
            config: AshaConfig(graceSteps: 10), db: db, experimentId: experimentId, runId: runs[0].id!, totalSteps: 100)
        #expect(try gate.observe(step: 8, value: 1) == nil)
        #expect(try gate.observe(step: 12, value: 2)?.atStep == 12)
        #expect(try gate.observe(step: 16, value: 3) == nil)
        // Past two rungs at once: only the highest one reached is recorded.
        #expect(try gate.observe(step: 95, value: 4)?.rung == 2)
        #expect(try db.rungs(runId: runs[0].id!).map(\.rung) == [0, 2])
        // The final evaluation at the last step is no rung result.
        let last = try RungGate(
            config: AshaConfig(graceSteps: 10), db: db, experimentId: experimentId, runId: runs[1].id!, totalSteps: 20)
        #expect(try last.observe(step: 20, value: 5) == nil && last.pruned == nil)
        #expect(try db.rungs(runId: runs[1].id!).isEmpty)
    }

    /// Many processes reaching the same rung at once: each decision is the rule applied to exactly
    /// the results that arrived before it (none missed, none counted twice).
    @Test func concurrentArrivalsSeeEachOther() throws {
        let home = tempHome("asha")
        let db = try TrackerDB(home: home)
        let n = 16
        let (experimentId, runs) = try enqueueAsha(db, n, asha: [:])
        let config = AshaConfig(graceSteps: 1, reductionFactor: 2)
        DispatchQueue.concurrentPerform(iterations: n) { i in
            let own = try! TrackerDB(home: home)
            let gate = try! RungGate(
                config: config, db: own, experimentId: experimentId, runId: runs[i].id!, totalSteps: 100)
            try! gate.observe(step: 1, value: Double((i * 7) % n))
        }
        let rows = try db.rungs(experimentId: experimentId)
        #expect(rows.map(\.arrival) == (1...Int64(n)).map { $0 })
        for (k, r) in rows.enumerated() {
            let earlier = rows[..<k].map(\.metricValue)
            #expect(r.pruned == config.prunes(earlier: Array(earlier), value: r.metricValue), "arrival \(r.arrival)")
        }
    }

    /// The child marks its run pruned (as `tracker train --run` does) and exits 0 a little later:
    /// the worker records it as pruned, without killing it on the lost lease.
    @Test func workerReportsARunItsChildPruned() throws {
        let home = tempHome("asha")
        let db = try TrackerDB(home: home)
        let run = try enqueueSeeds(db, 1)[0]
        let worker = shellWorker(db, home: home, "sleep 1.5; echo done")
        let marker = Thread {
            while (try? db.run(id: run.id!))??.state != .running { Thread.sleep(forTimeInterval: 0.02) }
            let holder = (try? db.run(id: run.id!))??.worker
            _ = try? db.transition(runId: run.id!, from: .running, to: .pruned, worker: holder, detail: "pruned")
        }
        marker.start()
        let summary = try worker.run()
        #expect(summary.finished.map(\.state) == [.pruned])
        let r = try #require(try db.run(id: run.id!))
        #expect(r.state == .pruned && r.worker == nil)
        #expect(LocalProcessExecutor.lastLine(of: "\(home)/logs/runs/\(run.id!).log") == "done")
    }
}

// The chaos test: 20 queued runs (a tiny model on the synthetic T1 task, so no corpus is needed,
// 80 steps, a checkpoint every 5) executed by two real `tracker worker` processes, and each run
// SIGKILLed once at a random moment: either its `tracker train --run` child (as the OOM killer
// would) or the worker that runs it. The workers are restarted as they die; the runs must all
// complete through the queue's own recovery (a killed child is retried by its worker, a killed
// worker's run is recovered when its lease expires), with every metric step logged exactly once,
// a child never outliving its worker, and final weights bit for bit those of an uninterrupted
// run of the same config. The time limits are generous because, in a full `swift test` on two
// cores, a test can wait minutes for a thread before its body runs; the bodies bound their own
// waits (the chaos: 30 times the reference run's measured time, at least 150 s and at most 420 s;
// 60 s for a run to start).
import Basics
import Foundation
import Store
import TestSupport
import Testing

@testable import Scheduler

#if canImport(Glibc)
    import Glibc
#endif

struct ChaosTests {
    static let steps = 80

    static func config(experiment: String, sweep: String) -> String {
        """
        [experiment]
        description = "\(experiment)"
        max_attempts = 3

        [data]
        task = "t1"
        eval_lengths = [16]
        eval_episodes = 8

        \(tinyRunTables(steps: steps, checkpointEvery: 5, seed: 1))

        \(sweep)
        """
    }

    @Test(
        .tags(.slow), .requires("the tracker binary built next to the tests (swift build)", trackerBuilt),
        .timeLimit(.minutes(10)))
    func twentyRunsKilledAtRandomAllCompleteExactly() throws {
        let home = tempHome("chaos")
        let db = try TrackerDB(home: home)
        let worker = ["worker", "--home", home, "--lease", "1.5", "--heartbeat", "0.25"]

        // The reference: the same config, run once without interruption.
        try Self.config(experiment: "reference", sweep: "").write(
            toFile: home + "/reference.toml", atomically: true, encoding: .utf8)
        #expect(try tracker(["run", home + "/reference.toml", "--home", home, "--no-wait"]).status == 0)
        let begun = Date()
        let once = try startTracker(worker + ["--until-empty"], log: home + "/reference.log")
        #expect(waitExit(once, timeout: 120) == 0)
        let runSeconds = Date().timeIntervalSince(begun)
        let reference = try #require(try db.runs().first)
        #expect(reference.state == .succeeded, "\(reference.error ?? "")")
        let referenceWeights = try finalWeights(db, home, reference.id!)

        // Twenty copies of it (a sweep over a key that does not touch training).
        let values = (1...20).map(String.init).joined(separator: ", ")
        try Self.config(experiment: "chaos", sweep: "[sweep]\n\"eval.final_batches\" = [\(values)]").write(
            toFile: home + "/chaos.toml", atomically: true, encoding: .utf8)
        #expect(try tracker(["run", home + "/chaos.toml", "--home", home, "--no-wait"]).status == 0)
        let experiment = try #require(try db.experiment(named: "chaos"))
        #expect(try db.runs(experimentId: experiment.id!).count == 20)

        var rng = SplitMix64(seed: 2026)
        var workers: [pid_t] = []
        var killAfter: [Int64: Int] = [:]
        var killed: [Int64: String] = [:]
        var orphans: [String] = []
        var started = 0
        // The chaos is about 17 uninterrupted runs of work (20 runs on two workers, each killed
        // once before two thirds and resumed from its last checkpoint, plus lease expiries). Its
        // deadline scales with the reference run, timed just now under the same load, so a
        // loaded machine does not fail it; the cap keeps it inside the test's time limit.
        let chaosSeconds = min(max(150, 30 * runSeconds), 420)
        let end = Date().timeIntervalSince1970 + chaosSeconds
        defer {
            for w in workers { kill(w, SIGKILL) }
            for w in workers { _ = waitExit(w, timeout: 5) }
        }
        while Date().timeIntervalSince1970 < end {
            let runs = try db.runs(experimentId: experiment.id!)
            if runs.allSatisfy({ $0.state == .succeeded }) { break }
            if let bad = runs.first(where: { [.failed, .cancelled, .crashed].contains($0.state) }) {
                Issue.record("run \(bad.id!) ended \(bad.state): \(bad.error ?? "")")
                break
            }
            workers = workers.filter { w in
                var status: Int32 = 0
                return waitpid(w, &status, WNOHANG) == 0
            }
            while workers.count < 2 {
                started += 1
                workers.append(try startTracker(worker, log: "\(home)/worker\(started).log"))
            }
            for r in runs where r.state == .running && killed[r.id!] == nil {
                // The moment is a random point of the run's progress (0: while it starts), not of
                // the clock, so the kills land inside the runs however loaded the machine is.
                let after = killAfter[r.id!] ?? Int(rng.next() % UInt64(Self.steps * 2 / 3))
                killAfter[r.id!] = after
                guard logLines(home, r.id!) >= after,
                    let pid = r.worker?.split(separator: ":").last.flatMap({ pid_t($0) }), workers.contains(pid)
                else { continue }
                let child = children(of: pid).first
                if let child, rng.next() % 2 == 0, isLive(child) {
                    kill(child, SIGKILL)
                    killed[r.id!] = "child"
                } else {
                    kill(pid, SIGKILL)
                    _ = waitExit(pid, timeout: 5)
                    workers.removeAll { $0 == pid }
                    killed[r.id!] = "worker"
                    // The child dies with its worker (PR_SET_PDEATHSIG), never writing on alone.
                    if let child, !waitGone(child, timeout: 2) {
                        orphans.append("run \(r.id!): child \(child) outlived its worker")
                        kill(child, SIGKILL)
                    }
                }
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(orphans.isEmpty, "\(orphans)")

        let runs = try db.runs(experimentId: experiment.id!)
        #expect(killed.count == 20, "killed \(killed.count) of 20 runs")
        for r in runs {
            let id = r.id!
            #expect(
                r.state == .succeeded,
                "run \(id): \(r.state) \(r.error ?? "") (chaos deadline \(Int(chaosSeconds)) s)")
            guard r.state == .succeeded else { continue }
            #expect(r.attempts >= 2, "run \(id) (\(killed[id] ?? "not killed")) ran once")
            let crashes = try db.events(runId: id).filter { $0.toState == .crashed }
            #expect(!crashes.isEmpty, "run \(id): no crash recorded")
            if killed[id] == "child" {
                // The retry clears the run row's signal; the crash event keeps it.
                #expect(crashes.contains { $0.detail?.contains("signal 9") == true }, "run \(id): \(crashes)")
            }
            let steps = try db.metrics(runId: id, key: "train/loss").map(\.step)
            #expect(steps == (1...Int64(Self.steps)).map { $0 }, "run \(id) (\(killed[id] ?? "")): steps \(steps)")
            #expect(try finalWeights(db, home, id) == referenceWeights, "run \(id): weights differ")
        }
    }

    /// A run's child dies with its worker even while it logs nothing (a long stretch between
    /// log_every steps, an evaluation, a checkpoint write): it never trains on unsupervised.
    @Test(
        .tags(.slow), .requires("the tracker binary built next to the tests (swift build)", trackerBuilt),
        .timeLimit(.minutes(10)))
    func childDiesWithItsWorkerAtOnce() throws {
        let home = tempHome("orphan")
        let db = try TrackerDB(home: home)
        let quiet = Self.config(experiment: "quiet", sweep: "")
            .replacingOccurrences(of: "steps = \(Self.steps)", with: "steps = 1000000")
            .replacingOccurrences(of: "log_every = 1", with: "log_every = 1000000")
            .replacingOccurrences(of: "checkpoint_every = 5", with: "checkpoint_every = 0")
        try quiet.write(toFile: home + "/quiet.toml", atomically: true, encoding: .utf8)
        #expect(try tracker(["run", home + "/quiet.toml", "--home", home, "--no-wait"]).status == 0)
        let run = try #require(try db.runs().first)
        let worker = try startTracker(["worker", "--home", home, "--until-empty"], log: home + "/worker.log")
        defer { kill(worker, SIGKILL) }
        let log = "\(home)/logs/runs/\(run.id!).log"
        // Training has started (the line is printed after the run's context is loaded).
        let training = waitFor(60) {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("training ")
        }
        #expect(training, "the run did not start training")
        let child = try #require(children(of: worker).first)
        kill(worker, SIGKILL)
        _ = waitExit(worker, timeout: 5)
        #expect(waitGone(child, timeout: 1), "the child kept training after its worker died")
        kill(child, SIGKILL)
    }

    /// Lines in a run's metrics.jsonl: one per logged step (log_every = 1), written as it goes.
    func logLines(_ home: String, _ runId: Int64) -> Int {
        guard let data = FileManager.default.contents(atPath: "\(home)/runs/\(runId)/metrics.jsonl") else { return 0 }
        return data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }

    /// The tensor bytes of a run's last checkpoint (the safetensors data after its header, whose
    /// metadata names the run and so differs between runs).
    func finalWeights(_ db: TrackerDB, _ home: String, _ runId: Int64) throws -> [UInt8] {
        let ck = try #require(try db.latestCheckpoint(runId: runId))
        #expect(ck.step == Int64(Self.steps))
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: home + "/" + ck.path)))
        let n = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        return Array(bytes[(8 + n)...])
    }

    /// Child processes of `pid`, from /proc (the field after the parenthesised name is the ppid).
    func children(of pid: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { name -> pid_t? in
            guard let p = pid_t(name),
                let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == pid ? p : nil
        }
    }

    /// A process that exists and has not exited (a zombie has exited: killing it does nothing).
    func isLive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    func waitGone(_ pid: pid_t, timeout: Double) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if !isLive(pid) { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return false
    }
}

// The real `tracker` executable in real processes: shipped experiment files validate, worker
// processes never claim the same run, SIGTERM releases a worker's run, `tracker run` reports a
// failing run, two nightly jobs cannot overlap, and 8 writer processes + a reader see no lock
// errors. Needs the binary built next to the tests (see `.requires`).
import Foundation
import Store
import TestSupport
import Testing

@testable import Scheduler

#if canImport(Glibc)
    import Glibc
#endif

let trackerPath: String = {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [
        dir.appendingPathComponent("tracker").path,
        dir.deletingLastPathComponent().appendingPathComponent("tracker").path,
        repoPath + "/.build/debug/tracker",
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
}()
let trackerBuilt = FileManager.default.isExecutableFile(atPath: trackerPath)
let repoPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

struct Exit {
    var status: Int32
    var out: String
    var err: String
}

/// Runs tracker to completion in `cwd`.
func tracker(_ args: [String], cwd: String = repoPath) throws -> Exit {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: trackerPath)
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: cwd)
    var env = ProcessInfo.processInfo.environment
    env["TRACKER_NO_PROGRESS"] = "1"
    p.environment = env
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Exit(
        status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
}

/// Starts tracker in the background, output to a file.
func startTracker(_ args: [String], log: String) throws -> pid_t {
    try LocalProcessExecutor.spawnProcess(
        [trackerPath] + args, environment: ProcessInfo.processInfo.environment, output: log)
}

func waitExit(_ pid: pid_t, timeout: Double = 60) -> Int32? {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            if case .exited(let c) = LocalProcessExecutor.decode(status) { return c }
            return -1
        }
        Thread.sleep(forTimeInterval: 0.05)
    }
    kill(pid, SIGKILL)
    return nil
}

func waitFor(_ timeout: Double = 30, _ condition: () throws -> Bool) rethrows -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return false
}

/// A small experiment file in `dir` with `seeds` runs (on a synthetic task: enqueueing checks that
/// a corpus run's corpus is in the store, and these runs only ever run shell commands).
func writeExperiment(_ dir: String, name: String = "tiny", seeds: Int = 2) throws -> String {
    let path = "\(dir)/\(name).toml"
    try """
    [data]
    task = "t1"
    [model]
    layers = 1
    [train]
    steps = 5
    [sweep]
    seeds = [\((1...seeds).map(String.init).joined(separator: ", "))]
    """.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite(.serialized, .tags(.slow), .requires("the tracker binary built next to the tests (swift build)", trackerBuilt))
struct ProcessTests {
    @Test func shippedExperimentFilesValidate() throws {
        let dir = repoPath + "/experiments"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".toml") }.sorted()
        #expect(files.contains("nightly.toml") && files.count >= 2)
        // claims.toml is not an experiment: ReportTests check it against the files it names.
        for f in files where f != "claims.toml" {
            let r =
                f == "nightly.toml"
                ? try tracker(["nightly", "--config", "experiments/nightly.toml", "--check"])
                : try tracker(["run", "experiments/\(f)", "--dry-run"])
            #expect(r.status == 0, "\(f): \(r.err)")
        }
    }

    @Test func workerProcessesNeverClaimTheSameRun() throws {
        let home = tempHome("proc-claim")
        let db = try TrackerDB(home: home)
        let runs = try enqueueSeeds(db, 24)
        let pids = try (0..<4).map { i in
            try startTracker(
                ["worker", "--home", home, "--until-empty", "--command", "true"], log: "\(home)/w\(i).log")
        }
        for pid in pids { #expect(waitExit(pid) == 0) }
        #expect(try db.stateCounts() == [.succeeded: runs.count])
        for r in runs {
            let claims = try db.events(runId: r.id!).filter { $0.toState == .running }
            #expect(claims.count == 1, "run \(r.id!) claimed \(claims.count) times")
        }
    }

    @Test func aBatchWorkerExitsNonZeroWhenARunFailed() throws {
        let home = tempHome("proc-worker-exit")
        let db = try TrackerDB(home: home)
        _ = try enqueueSeeds(db, 2)
        let failed = try tracker(["worker", "--home", home, "--until-empty", "--command", "exit 3"])
        #expect(failed.status == 1 && failed.err.contains("2 run(s) failed or crashed"), "\(failed.err)")
        #expect(try enqueueSeeds(db, 1, experiment: "other").count == 1)
        let ok = try tracker(["worker", "--home", home, "--until-empty", "--command", "true"])
        #expect(ok.status == 0 && ok.err.contains("1 run(s) (1 succeeded)"), "\(ok.err)")
    }

    @Test func sigtermReleasesTheWorkersRun() throws {
        let home = tempHome("proc-term")
        let db = try TrackerDB(home: home)
        let run = try enqueueSeeds(db, 1)[0]
        let pid = try startTracker(["worker", "--home", home, "--command", "sleep 30"], log: "\(home)/w.log")
        #expect(try waitFor { try db.run(id: run.id!)?.state == .running })
        Thread.sleep(forTimeInterval: 0.3)
        kill(pid, SIGTERM)
        #expect(waitExit(pid, timeout: 20) == 0)
        let r = try #require(try db.run(id: run.id!))
        #expect(r.state == .queued && r.attempts == 0 && r.worker == nil)
        #expect(try db.liveWorkers(within: 60).isEmpty)
    }

    @Test func statusShowsTheRunningRunsProgress() throws {
        let home = tempHome("proc-status")
        let db = try TrackerDB(home: home)
        let run = try enqueueSeeds(db, 1)[0]
        try db.setParams(runId: run.id!, ["train.steps": .int(120)])
        let pid = try startTracker(["worker", "--home", home, "--command", "sleep 30"], log: "\(home)/w.log")
        defer {
            kill(pid, SIGTERM)
            _ = waitExit(pid, timeout: 20)
        }
        #expect(try waitFor { try db.run(id: run.id!)?.state == .running })
        try db.logMetrics([MetricPoint(runId: run.id!, key: "train/loss", step: 42, value: 2.5, time: 1)])
        let r = try tracker(["status", "--home", home, "--format", "json"])
        #expect(r.status == 0, "\(r.err)")
        let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        let worker = try #require((json?["workers"] as? [[String: Any]])?.first)
        #expect(worker["runId"] as? Int == Int(run.id!))
        #expect(worker["step"] as? Int == 42 && worker["steps"] as? Int == 120 && worker["trainLoss"] as? Double == 2.5)
        let text = try tracker(["status", "--home", home])
        #expect(text.out.contains("step 42/120  train/loss 2.5000"), "\(text.out)")
    }

    @Test func runCommandReportsAFailingRun() throws {
        let home = tempHome("proc-run")
        let file = try writeExperiment(home)
        let r = try tracker([
            "run", file, "--home", home, "--workers", "2", "--command", "echo 'bad thing' >&2; exit 3",
        ])
        #expect(r.status != 0)
        #expect(r.err.contains("2 run(s) did not succeed"), "\(r.err)")
        let db = try TrackerDB(home: home)
        let runs = try db.runs()
        #expect(
            runs.count == 2 && runs.allSatisfy { $0.state == .failed && $0.exitCode == 3 && $0.error == "bad thing" })
        // Enqueueing again adds nothing; --force adds both again.
        let again = try tracker(["run", file, "--home", home, "--no-wait"])
        #expect(again.status == 0 && again.out.contains("enqueued 0 run(s), 2 already"))
        let forced = try tracker(["run", file, "--home", home, "--no-wait", "--force"])
        #expect(forced.out.contains("enqueued 2 run(s)"))
        let ok = try tracker(["run", file, "--home", home, "--command", "true"])
        #expect(ok.status == 0, "\(ok.err)")  // judged by the latest run of each config
        #expect(try db.stateCounts() == [.failed: 2, .succeeded: 2])
    }

    @Test func twoNightlyJobsCannotOverlap() throws {
        let home = tempHome("proc-nightly")
        let exp = try writeExperiment(home, seeds: 1)
        try """
        experiments = ["\(exp)"]
        time_budget_minutes = 5
        corpora_dir = "\(home)/no-corpora"
        """.write(toFile: "\(home)/nightly.toml", atomically: true, encoding: .utf8)
        let first = try startTracker(
            ["nightly", "--home", home, "--config", "\(home)/nightly.toml", "--command", "sleep 3"],
            log: "\(home)/first.log")
        #expect(
            waitFor {
                ((try? String(contentsOfFile: "\(home)/nightly.lock", encoding: .utf8)) ?? "").hasPrefix("\(first)")
            })
        let second = try tracker(["nightly", "--home", home, "--config", "\(home)/nightly.toml", "--command", "true"])
        #expect(second.status == 75)
        #expect(second.err.contains("another nightly run is in progress"), "\(second.err)")
        #expect(
            waitExit(first, timeout: 60) == 0,
            "\((try? String(contentsOfFile: "\(home)/first.log", encoding: .utf8)) ?? "")")
        let logs = try FileManager.default.contentsOfDirectory(atPath: home + "/logs").filter {
            $0.hasPrefix("nightly-")
        }
        #expect(logs.count == 1)
        #expect(try TrackerDB(home: home).stateCounts() == [.succeeded: 1])
    }

    /// The nightly job runs its own experiments' runs; a run some other experiment left queued
    /// stays queued for `tracker worker`.
    @Test func nightlyRunsOnlyItsExperiments() throws {
        let home = tempHome("proc-nightly-only")
        let other = try writeExperiment(home, name: "other", seeds: 1)
        let queued = try tracker(["run", other, "--home", home, "--no-wait"])
        #expect(queued.status == 0 && queued.out.contains("enqueued 1 run(s)"), "\(queued.err)")
        let exp = try writeExperiment(home, name: "mine", seeds: 2)
        try """
        experiments = ["\(exp)"]
        time_budget_minutes = 5
        corpora_dir = "\(home)/no-corpora"
        """.write(toFile: "\(home)/nightly.toml", atomically: true, encoding: .utf8)
        let r = try tracker(["nightly", "--home", home, "--config", "\(home)/nightly.toml", "--command", "true"])
        #expect(r.status == 0, "\(r.err)")
        let db = try TrackerDB(home: home)
        let byExperiment = Dictionary(grouping: try db.runs(), by: { $0.experimentId ?? -1 })
        let states = byExperiment.values.map { Set($0.map(\.state)) }
        #expect(states.contains([.succeeded]) && states.contains([.queued]), "\(states)")
        #expect(try db.stateCounts() == [.succeeded: 2, .queued: 1])
    }

    @Test func eightWriterProcessesAndAReaderSeeNoLockErrors() throws {
        let home = tempHome("proc-writers")
        let r = try tracker([
            "bench-store", "--home", home, "--mode", "writers", "--processes", "8", "--points", "20000", "--batch",
            "500",
        ])
        #expect(r.status == 0, "\(r.err)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect(obj["writerLockErrors"] as? Double == 0)
        #expect(obj["readerLockErrors"] as? Double == 0)
        #expect(obj["failedWriters"] as? Double == 0)
        let db = try TrackerDB(home: home)
        let runs = try db.runs()
        #expect(runs.count == 8)
        for run in runs {
            for s in try db.metricSummaries(runId: run.id!) {
                let recomputed = try db.recomputedSummary(runId: run.id!, key: s.key)
                #expect(s.count == 5000 && s == recomputed)
            }
        }
    }
}

// The Slurm executor end to end, on the cluster SLURM_CONF names (CI starts one with
// .ci/services/slurm.sh; here: eval "$(bash .ci/services/slurm.sh start)"): a sweep submitted as
// one job array runs to completion with its results in the store; a run that gets SIGUSR1
// checkpoints, requeues itself and resumes under the same run id with every metric step once,
// followed by a head started again; `tracker cancel` scancels a running and a pending task.
// Tiny models on the synthetic t1 task, so no corpus is needed.
import Foundation
import Store
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A Slurm cluster answers: SLURM_CONF names a slurm.conf and `squeue` runs.
let slurmClusterUp: Bool = {
    guard let conf = ProcessInfo.processInfo.environment["SLURM_CONF"], FileManager.default.fileExists(atPath: conf)
    else { return false }
    return (try? runProcess("/usr/bin/env", ["squeue", "-h"]).status) == 0
}()

@Suite(
    .serialized, .tags(.slow),
    .requires(
        "a Slurm cluster (SLURM_CONF; start one with `eval \"$(bash .ci/services/slurm.sh start)\"`)", slurmClusterUp))
struct SlurmExecutorCLITests {
    static let syntheticData = """
        [data]
        task = "t1"
        eval_lengths = [16]
        eval_episodes = 4
        """

    static func experiment(
        _ name: String, home: String, steps: Int, runs: Int, extra: String = "", data: String = syntheticData,
        seeds first: Int = 1, cpus: Int = 1, sweep: String = ""
    ) throws -> String {
        let seeds = (first..<(first + runs)).map(String.init).joined(separator: ", ")
        let file = "\(home)/\(name).toml"
        try """
        [executor]
        kind = "slurm"
        cpus_per_task = \(cpus)
        time = "10"
        poll_seconds = 0.5
        poll_max_seconds = 2
        \(extra)

        \(data)

        [model]
        layers = 1
        heads = 2
        channels = 16
        context = 16

        [train]
        steps = \(steps)
        batch = 4
        warmup = 2
        eval_every = 0
        checkpoint_every = 1000
        log_every = 1
        threads = 1

        [eval]
        final_batches = 1

        [sweep]
        seeds = [\(seeds)]
        \(sweep)
        """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Waits up to `seconds` for `condition`.
    func waitFor(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return false
    }

    /// The last metric step run `runId`'s task has written to its spool file.
    func spooledStep(_ db: TrackerDB, _ runId: Int64) throws -> Int64 {
        guard let task = try db.slurmTasks(runIds: [runId]).first else { return 0 }
        return try Spool.read(path: task.spoolPath).events.compactMap(\.step).max() ?? 0
    }

    @Test(.timeLimit(.minutes(5))) func aSweepIsOneArrayAndCompletes() throws {
        let home = tempDir("slurm-sweep")
        let file = try Self.experiment("sweep", home: home, steps: 20, runs: 4)
        let r = try runTracker(["run", file, "--home", home])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("submitted 4 run(s) to Slurm as job array(s) "))
        let db = try TrackerDB(home: home)
        let runs = try db.runs()
        #expect(runs.count == 4)
        let tasks = try db.slurmTasks()
        #expect(Set(tasks.compactMap(\.arrayJobId)).count == 1)
        #expect(tasks.compactMap(\.arrayTask).sorted() == [0, 1, 2, 3])
        #expect(Set(tasks.map(\.submissions)) == [1])
        for run in runs {
            #expect(run.state == .succeeded, "\(run.error ?? "")")
            #expect(try db.metrics(runId: run.id!, key: "train/loss").map(\.step) == Array(1...20))
        }
        // The state squeue last showed: a 20-step task can start and end between two polls (seen
        // under CI load), so it stays PENDING, the state recorded at submission; never a failure.
        let seen = tasks.map { $0.slurmState ?? "none" }
        #expect(seen.allSatisfy { ["COMPLETED", "RUNNING", "COMPLETING", "PENDING"].contains($0) }, "\(seen)")
    }

    /// Four runs, one at a time (max_parallel = 1): the first reaches each rung first and goes
    /// on to succeed; the others (learning rates 20-30x smaller) are compared at the rungs by the
    /// head, and at least one is pruned there, its task ending at the rung's step.
    @Test(.timeLimit(.minutes(8))) func anAshaSweepPrunesOnSlurm() throws {
        let home = tempDir("slurm-asha")
        let file = try Self.experiment(
            "asha", home: home, steps: 40, runs: 1, extra: "max_parallel = 1",
            sweep: """
                scheduler = "asha"
                metric = "train/loss"
                grace_steps = 5
                reduction_factor = 2
                "train.lr" = [0.01, 0.0003, 0.0004, 0.0005]
                """)
        let r = try runTracker(["run", file, "--home", home])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let db = try TrackerDB(home: home)
        let runs = try db.runs().sorted { $0.id! < $1.id! }
        try #require(runs.count == 4)
        #expect(runs[0].state == .succeeded, "\(runs[0].error ?? "")")
        #expect(runs.allSatisfy { $0.state == .succeeded || $0.state == .pruned })
        let pruned = runs.filter { $0.state == .pruned }
        #expect(!pruned.isEmpty)
        for run in pruned {
            let at = try #require(try db.rungs(runId: run.id!).first(where: \.pruned))
            // the pruned task stopped at its rung: no later step was logged
            #expect(try db.metrics(runId: run.id!, key: "train/loss").map(\.step).max() == at.atStep)
        }
        #expect(try db.rungs(runId: runs[0].id!).map(\.rung) == [0, 1, 2])
        let status = try runTracker(["status", "--home", home])
        #expect(status.stdout.contains("\(pruned.count) pruned"), "\(status.stdout)")
    }

    @Test(.timeLimit(.minutes(5))) func usr1CheckpointsRequeuesAndResumesUnderTheSameRun() throws {
        let home = tempDir("slurm-usr1")
        let steps = 400
        let file = try Self.experiment("usr1", home: home, steps: steps, runs: 1, extra: "max_requeues = 2")
        let submit = try runTracker(["run", file, "--home", home, "--no-wait"])
        #expect(submit.status == 0, "\(submit.stderr)")
        let db = try TrackerDB(home: home)
        let run = try #require(try db.runs().first)
        let task = try #require(try db.slurmTasks(runIds: [run.id!]).first)
        let job = try #require(task.jobText)
        #expect(try waitFor(120) { try spooledStep(db, run.id!) >= 5 }, "the task did not start training")
        let status = try runTracker(["status", "--home", home])
        #expect(status.stdout.contains("job \(job)  RUNNING"), "\(status.stdout)")
        let local = try runTracker(["run", file, "--home", home, "--executor", "local"])
        #expect(local.status != 0 && local.stderr.contains("are on Slurm"), "\(local.stderr)")
        // timeout 3: scancel retries a signal every ~5 s while it is not acknowledged
        _ = try runProcess("/usr/bin/timeout", ["3", "scancel", "--signal=USR1", "--batch", job])
        // the head, started now (as after a restart), follows the requeued task to its end
        let head = try runTracker(["run", file, "--home", home])
        #expect(head.status == 0, "\(head.stdout)\n\(head.stderr)")
        let r = try #require(try db.run(id: run.id!))
        #expect(r.state == .succeeded, "\(r.error ?? "")")
        let after = try #require(try db.slurmTasks(runIds: [run.id!]).first)
        #expect(after.requeues == 1 && after.jobText == job)
        #expect(try db.metrics(runId: run.id!, key: "train/loss").map(\.step) == (1...Int64(steps)).map { $0 })
        let starts = try db.events(runId: run.id!).filter { $0.fromState == .queued && $0.toState == .running }
        #expect(starts.count == 2)
        #expect(try db.latestCheckpoint(runId: run.id!) != nil)
    }

    /// A task that exits 2 before it can report anything (its submission folder is not on its
    /// node: here the manifest is removed while the array is held) fails in Slurm; the head takes
    /// the exit code from scontrol and, with no attempt left, fails the run with it.
    @Test(.timeLimit(.minutes(5))) func aFailingRunIsFailedWithItsExitCode() throws {
        let home = tempDir("slurm-fail")
        let file = try Self.experiment(
            "fail", home: home, steps: 20, runs: 1, extra: "extra = [\"--hold\"]",
            data: Self.syntheticData + "\n[experiment]\nmax_attempts = 1")
        let submit = try runTracker(["run", file, "--home", home, "--no-wait"])
        #expect(submit.status == 0, "\(submit.stderr)")
        let db = try TrackerDB(home: home)
        let run = try #require(try db.runs().first)
        let task = try #require(try db.slurmTasks(runIds: [run.id!]).first)
        let array = try #require(task.arrayJobId)
        try FileManager.default.removeItem(atPath: task.sweepDir + "/manifest.json")
        let release = try runProcess("/usr/bin/env", ["scontrol", "release", String(array)])
        #expect(release.status == 0, "\(release.stderr)")
        let head = try runTracker(["run", file, "--home", home])
        #expect(head.status == 1 && head.stderr.contains("1 run(s) did not succeed"), "\(head.stdout)\n\(head.stderr)")
        let r = try #require(try db.run(id: run.id!))
        #expect(r.state == .failed && r.attempts == 1 && r.exitCode == 2, "\(r.state) \(r.error ?? "")")
        #expect(r.error?.contains("FAILED") == true && r.error?.contains("exit code 2") == true, "\(r.error ?? "")")
        #expect(try db.slurmTasks(runIds: [run.id!]).first?.slurmState == "FAILED")
        let log = try String(contentsOfFile: task.sweepDir + "/logs/\(array)_0.out", encoding: .utf8)
        #expect(log.contains("manifest.json does not exist on ") && log.contains("shared filesystem"), "\(log)")
    }

    @Test(.timeLimit(.minutes(5))) func cancelScancelsARunningAndAPendingTask() throws {
        let home = tempDir("slurm-cancel")
        let file = try Self.experiment("cancel", home: home, steps: 100_000, runs: 2, extra: "max_parallel = 1")
        let log = home + "/head.log"
        let head = Process()
        head.executableURL = URL(fileURLWithPath: trackerBinary)
        head.arguments = ["run", file, "--home", home]
        head.standardOutput = FileHandle(forWritingAtPath: log) ?? FileHandle.nullDevice
        head.standardError = FileHandle.nullDevice
        try head.run()
        defer { if head.isRunning { kill(head.processIdentifier, SIGKILL) } }
        let db = try waitForDatabase(home)
        #expect(try waitFor(120) { try db.runs().contains { $0.state == .running } }, "no run started")
        let c = try runTracker(["cancel", "cancel", "--home", home])
        #expect(c.status == 0 && c.stdout.contains("scancelled 2 Slurm task(s)"), "\(c.stdout)\(c.stderr)")
        #expect(try waitFor(60) { !head.isRunning }, "the head did not finish after the cancel")
        #expect(try db.runs().map(\.state) == [.cancelled, .cancelled])
        // in Slurm too: nothing of the array pends or runs (a pending task cancelled on its own
        // leaves squeue; the running one stays listed as CANCELLED)
        let array = try #require(try db.slurmTasks().first?.arrayJobId)
        func slurmStates() throws -> [String] {
            let q = try runProcess(
                "/usr/bin/env", ["squeue", "-h", "-r", "--states=all", "-j", "\(array)", "-o", "%T"])
            return q.stdout.split(separator: "\n").map(String.init)
        }
        var states: [String] = []
        let allCancelled = try waitFor(30) {
            states = try slurmStates()
            return states.contains("CANCELLED") && Set(states) == ["CANCELLED"]
        }
        #expect(allCancelled, "\(states)")
        let status = try runTracker(["status", "--home", home])
        #expect(status.status == 0)
    }

    @Test(.timeLimit(.minutes(5))) func aSIGKILLedWorkerFailsItsAttemptAndIsRetried() throws {
        let home = tempDir("slurm-kill")
        let steps = 300
        let file = try Self.experiment("kill", home: home, steps: steps, runs: 1)
        #expect(try runTracker(["run", file, "--home", home, "--no-wait"]).status == 0)
        let db = try TrackerDB(home: home)
        let run = try #require(try db.runs().first)
        let task = try #require(try db.slurmTasks(runIds: [run.id!]).first)
        #expect(try waitFor(120) { try spooledStep(db, run.id!) >= 5 }, "the task did not start training")
        let pids = workerPids(sweepDir: task.sweepDir)
        #expect(pids.count == 1)
        for pid in pids { kill(pid, SIGKILL) }
        let head = try runTracker(["run", file, "--home", home])
        #expect(head.status == 0, "\(head.stdout)\n\(head.stderr)")
        let r = try #require(try db.run(id: run.id!))
        #expect(r.state == .succeeded && r.attempts == 2, "\(r.error ?? "")")
        #expect(try db.events(runId: run.id!).contains { $0.toState == .crashed })
        #expect(try db.metrics(runId: run.id!, key: "train/loss").map(\.step) == (1...Int64(steps)).map { $0 })
    }

    @Test(.timeLimit(.minutes(5))) func aPreemptedRunIsRequeuedAndResumed() throws {
        let home = tempDir("slurm-preempt")
        // long enough to be running when the preemption comes on an idle machine too
        let steps = 2000
        // two CPUs: the node's all, so a job in the high partition must preempt it
        let file = try Self.experiment("preempt", home: home, steps: steps, runs: 1, cpus: 2)
        #expect(try runTracker(["run", file, "--home", home, "--no-wait"]).status == 0)
        let db = try TrackerDB(home: home)
        let run = try #require(try db.runs().first)
        #expect(try waitFor(120) { try spooledStep(db, run.id!) >= 5 }, "the task did not start training")
        let high = ProcessInfo.processInfo.environment["TRACKER_SLURM_HIGH_PARTITION"] ?? "high"
        let preemptor = try runProcess(
            "/usr/bin/env", ["sbatch", "--parsable", "-p", high, "-c", "2", "-o", "/dev/null", "--wrap", "sleep 2"])
        #expect(preemptor.status == 0, "\(preemptor.stderr)")
        let head = try runTracker(["run", file, "--home", home])
        #expect(head.status == 0, "\(head.stdout)\n\(head.stderr)")
        let r = try #require(try db.run(id: run.id!))
        #expect(r.state == .succeeded, "\(r.error ?? "")")
        #expect(try db.slurmTasks(runIds: [run.id!]).first?.requeues ?? 0 >= 1)
        #expect(try db.metrics(runId: run.id!, key: "train/loss").map(\.step) == (1...Int64(steps)).map { $0 })
    }

    @Test(.timeLimit(.minutes(5))) func aHeadKilledMidSweepReconcilesWhenStartedAgain() throws {
        let home = tempDir("slurm-head")
        let file = try Self.experiment("head", home: home, steps: 150, runs: 3)
        let head = Process()
        head.executableURL = URL(fileURLWithPath: trackerBinary)
        head.arguments = ["run", file, "--home", home]
        head.standardOutput = FileHandle.nullDevice
        head.standardError = FileHandle.nullDevice
        try head.run()
        let db = try waitForDatabase(home)
        #expect(try waitFor(120) { try db.runs().contains { $0.state == .running } }, "no run started")
        kill(head.processIdentifier, SIGKILL)
        head.waitUntilExit()
        let again = try runTracker(["run", file, "--home", home])
        #expect(again.status == 0, "\(again.stdout)\n\(again.stderr)")
        #expect(try db.slurmTasks().compactMap(\.arrayJobId).count == 3)
        #expect(Set(try db.slurmTasks().map(\.submissions)) == [1])
        for run in try db.runs() {
            #expect(run.state == .succeeded, "\(run.error ?? "")")
            #expect(try db.metrics(runId: run.id!, key: "train/loss").map(\.step) == Array(1...150))
        }
    }

    @Test(.timeLimit(.minutes(5))) func aCorpusRunTrainsFromTheManifestAndAMissingShardIsAClearFailure() throws {
        let home = tempDir("slurm-corpus")
        let ingest = try runTracker([
            "ingest", repoRoot + "/corpora/bundled.tar.xz", "--home", home, "--name", "bundled", "--vocab-size", "300",
        ])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let data = "[data]\ncorpus = \"bundled\""
        let ok = try Self.experiment("corpus", home: home, steps: 10, runs: 1, data: data)
        let first = try runTracker(["run", ok, "--home", home])
        #expect(first.status == 0, "\(first.stdout)\n\(first.stderr)")
        // the train shard vanishes (a node without the shared filesystem): the next run fails clearly
        let db = try TrackerDB(home: home)
        let shard = try #require(try db.corpus(named: "bundled")?.shards.first { $0.split == "train" })
        let path = shard.path.hasPrefix("/") ? shard.path : home + "/" + shard.path
        try FileManager.default.moveItem(atPath: path, toPath: path + ".away")
        let bad = try Self.experiment(
            "corpus", home: home, steps: 10, runs: 1, extra: "", data: data + "\n[experiment]\nmax_attempts = 1",
            seeds: 2)
        let second = try runTracker(["run", bad, "--home", home])
        #expect(second.status != 0)
        let failed = try #require(try db.runs().first { $0.state == .failed })
        #expect(failed.exitCode == 1)
        let host = ProcessInfo.processInfo.hostName
        #expect(
            failed.error?.contains("\(path) does not exist on \(host)") == true
                && failed.error?.contains("shared filesystem") == true, "\(failed.error ?? "")")
    }

    /// Pids of the `tracker worker --slurm DIR` processes.
    func workerPids(sweepDir: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let args = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return args.contains("--slurm") && args.contains(sweepDir)
        }
    }

    func waitForDatabase(_ home: String) throws -> TrackerDB {
        _ = waitFor(30) { FileManager.default.fileExists(atPath: home + "/tracker.sqlite") }
        return try TrackerDB(home: home)
    }
}

/// An ASHA sweep is no longer refused on Slurm: its dry run prints the batch script; the
/// README's script is what its [executor] table renders.
struct SlurmExecutorDryRunTests {
    /// The README's Slurm section, from its `[executor]` example: the ```toml and ```sh blocks.
    static func readmeExample() throws -> (table: String, script: String) {
        let readme = try String(contentsOfFile: repoRoot + "/README.md", encoding: .utf8)
        let section = readme[try #require(readme.range(of: "**On a Slurm cluster.**")).upperBound...]
        func block(_ language: String) throws -> String {
            let start = try #require(section.range(of: "```\(language)\n")).upperBound
            return String(section[start..<(try #require(section[start...].range(of: "```")).lowerBound)])
        }
        return (try block("toml"), try block("sh"))
    }

    /// `exec BINARY worker ...` with the binary's path left out (the README's is on a shared filesystem).
    static func withoutBinary(_ script: some StringProtocol) -> String {
        script.split(separator: "\n").map { line in
            guard line.hasPrefix("exec "), let worker = line.range(of: " worker ") else { return String(line) }
            return "exec TRACKER" + line[worker.lowerBound...]
        }.joined(separator: "\n")
    }

    @Test func theReadmeScriptIsWhatItsTableRenders() throws {
        let (table, script) = try Self.readmeExample()
        let home = tempDir("slurm-readme")
        let file = home + "/demo.toml"
        try
            (table
            + "\n[data]\ntask = \"t1\"\n\n[model]\nchannels = 16\nheads = 2\n\n[train]\nsteps = 10\n\n[sweep]\nseeds = [1, 2, 3]\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let r = try runTracker(["run", file, "--home", home, "--dry-run"])
        #expect(r.status == 0, "\(r.stderr)")
        let rendered = try #require(r.stdout.range(of: "#!/bin/bash")).lowerBound
        #expect(Self.withoutBinary(r.stdout[rendered...]) == Self.withoutBinary(script), "\(r.stdout)")
    }

    @Test func anAshaSweepRunsOnSlurm() throws {
        let home = tempDir("slurm-asha")
        let r = try runTracker([
            "run", repoRoot + "/experiments/lr-search-asha.toml", "--executor", "slurm", "--dry-run", "--home", home,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("#SBATCH --array=") && r.stdout.contains("worker --slurm"), "\(r.stdout)")
    }
}

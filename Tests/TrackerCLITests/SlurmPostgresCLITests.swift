// The Slurm executor once more with the store on PostgreSQL (`--store postgres://...`): the head
// keeps every run and Slurm task in the server, and each task writes the store itself (start,
// metrics, checkpoints, its end): no spool file. The password reaches tracker either on the
// command line or from a 0600 file (TRACKER_DATABASE_PASSWORD_FILE); the tasks read it from
// that file, which the manifest names, and it appears nowhere a job keeps: not in the batch
// script, the sweep's files, or a task's environment. A typed password without a file is refused.
import Foundation
import Store
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(
    .serialized, .tags(.slow), .postgres,
    .requires(
        "a Slurm cluster (SLURM_CONF; start one with `eval \"$(bash .ci/services/slurm.sh start)\"`)", slurmClusterUp))
struct SlurmPostgresCLITests {
    let cli = SlurmExecutorCLITests()

    /// A new database: its URL without the password, the password, and a 0600 file holding it.
    func store(_ home: String) throws -> (url: String, password: String, file: String, db: TrackerDB) {
        let full = try PostgresURL(try TestPostgres.newDatabase())
        let password = try #require(full.password)
        let file = home + "/pgpass"
        try password.write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        var bare = full
        bare.password = nil
        let db = try TrackerDB(postgres: bare, password: password, home: home)
        return (bare.redacted, password, file, db)
    }

    /// Every file under `dir` that contains `secret`.
    func filesContaining(_ secret: String, under dir: String) -> [String] {
        let files = FileManager.default.enumerator(atPath: dir)?.compactMap { $0 as? String } ?? []
        return files.filter { f in
            guard let data = FileManager.default.contents(atPath: dir + "/" + f) else { return false }
            return String(decoding: data, as: UTF8.self).contains(secret)
        }
    }

    /// The last train/loss step the store holds for the run.
    func storedStep(_ db: TrackerDB, _ runId: Int64) throws -> Int64 {
        try db.metrics(runId: runId, key: "train/loss").last?.step ?? 0
    }

    /// The task wrote the store itself: no spool file, and its attempts started under its Slurm job.
    func expectWrittenByTheTask(_ db: TrackerDB, _ runId: Int64, attempts: Int) throws {
        let task = try #require(try db.slurmTasks(runIds: [runId]).first)
        #expect(!FileManager.default.fileExists(atPath: task.spoolPath), "run \(runId) reported through a spool file")
        let starts = try db.events(runId: runId).filter { $0.fromState == .queued && $0.toState == .running }
        #expect(starts.count == attempts)
        let job = try #require(task.jobText)
        #expect(starts.allSatisfy { $0.worker?.hasPrefix("slurm:\(job)@") == true }, "\(starts.map(\.worker))")
    }

    @Test(.timeLimit(.minutes(5))) func aSweepOfFourIsOneArrayWithItsResultsInPostgres() throws {
        let home = tempDir("slurm-pg-sweep")
        let s = try store(home)
        let file = try SlurmExecutorCLITests.experiment("sweep", home: home, steps: 20, runs: 4)
        let env = [StoreSettings.passwordFileVariable: s.file]
        let r = try runTracker(["run", file, "--home", home, "--store", s.url], environment: env)
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let runs = try s.db.runs()
        #expect(runs.count == 4)
        #expect(Set(try s.db.slurmTasks().compactMap(\.arrayJobId)).count == 1)
        for run in runs {
            #expect(run.state == .succeeded, "\(run.error ?? "")")
            #expect(try s.db.metrics(runId: run.id!, key: "train/loss").map(\.step) == Array(1...20))
            try expectWrittenByTheTask(s.db, run.id!, attempts: 1)
            #expect(try s.db.latestCheckpoint(runId: run.id!) != nil)
        }
        let sweepDir = try #require(try s.db.slurmTasks().first?.sweepDir)
        let manifest = try #require(FileManager.default.contents(atPath: sweepDir + "/manifest.json"))
        let named = try #require(try JSONSerialization.jsonObject(with: manifest) as? [String: Any])["store"]
        #expect(named as? [String: String] == ["url": s.url, "passwordFile": s.file], "\(named ?? "none")")
        #expect(!FileManager.default.fileExists(atPath: home + "/tracker.sqlite"), "the SQLite store was used")
        #expect(filesContaining(s.password, under: home) == ["pgpass"])
        let report = try runTracker(["report", "--home", home, "--store", s.url], environment: env)
        #expect(report.status == 0 && report.stdout.contains("sweep"), "\(report.stdout)\(report.stderr)")
    }

    @Test(.timeLimit(.minutes(5))) func aFailingRunIsFailedWithItsExitCode() throws {
        let home = tempDir("slurm-pg-fail")
        let s = try store(home)
        let env = [StoreSettings.passwordFileVariable: s.file]
        let ingest = try runTracker(
            [
                "ingest", repoRoot + "/corpora/bundled.tar.xz", "--home", home, "--name", "bundled", "--vocab-size",
                "300", "--store", s.url,
            ], environment: env)
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let shard = try #require(try s.db.corpus(named: "bundled")?.shards.first { $0.split == "train" })
        let path = shard.path.hasPrefix("/") ? shard.path : home + "/" + shard.path
        try FileManager.default.moveItem(atPath: path, toPath: path + ".away")
        let bad = try SlurmExecutorCLITests.experiment(
            "corpus", home: home, steps: 10, runs: 1,
            data: "[data]\ncorpus = \"bundled\"\n[experiment]\nmax_attempts = 1")
        let r = try runTracker(["run", bad, "--home", home, "--store", s.url], environment: env)
        #expect(r.status != 0)
        let failed = try #require(try s.db.runs().first)
        #expect(failed.state == .failed && failed.exitCode == 1, "\(failed.state) \(failed.error ?? "")")
    }

    /// An ASHA sweep on PostgreSQL: each task records and decides its rungs in the store itself (the
    /// local workers' code), so no decision file is written and no task waits for the head.
    @Test(.timeLimit(.minutes(8))) func anAshaSweepPrunesWithItsRungsDecidedInTheStore() throws {
        let home = tempDir("slurm-pg-asha")
        let s = try store(home)
        let file = try SlurmExecutorCLITests.experiment(
            "asha", home: home, steps: 40, runs: 1, extra: "max_parallel = 1",
            sweep: """
                scheduler = "asha"
                metric = "train/loss"
                grace_steps = 5
                reduction_factor = 2
                "train.lr" = [0.01, 0.0003, 0.0004, 0.0005]
                """)
        let r = try runTracker(
            ["run", file, "--home", home, "--store", s.url], environment: [StoreSettings.passwordFileVariable: s.file])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let runs = try s.db.runs().sorted { $0.id! < $1.id! }
        try #require(runs.count == 4)
        #expect(runs[0].state == .succeeded, "\(runs[0].error ?? "")")
        #expect(runs.allSatisfy { $0.state == .succeeded || $0.state == .pruned })
        let pruned = runs.filter { $0.state == .pruned }
        #expect(!pruned.isEmpty)
        for run in pruned {
            let at = try #require(try s.db.rungs(runId: run.id!).first(where: \.pruned))
            #expect(try s.db.metrics(runId: run.id!, key: "train/loss").map(\.step).max() == at.atStep)
        }
        #expect(try s.db.rungs(runId: runs[0].id!).map(\.rung) == [0, 1, 2])
        for run in runs { try expectWrittenByTheTask(s.db, run.id!, attempts: 1) }
        let sweepDir = try #require(try s.db.slurmTasks().first?.sweepDir)
        #expect(try FileManager.default.contentsOfDirectory(atPath: sweepDir + "/spool").isEmpty)
    }

    /// A task SIGKILLed mid-run writes no end: Slurm's FAILED spends the attempt, the head submits
    /// it again, and the new task logs the run's steps again over the first one's: every step once.
    @Test(.timeLimit(.minutes(5))) func aSIGKILLedTaskFailsItsAttemptAndIsRetriedWithTheStoreInPostgres() throws {
        let home = tempDir("slurm-pg-kill")
        let s = try store(home)
        let env = [StoreSettings.passwordFileVariable: s.file]
        let steps = 300
        let file = try SlurmExecutorCLITests.experiment("kill", home: home, steps: steps, runs: 1)
        #expect(
            try runTracker(["run", file, "--home", home, "--no-wait", "--store", s.url], environment: env).status == 0)
        let run = try #require(try s.db.runs().first)
        let task = try #require(try s.db.slurmTasks(runIds: [run.id!]).first)
        #expect(try cli.waitFor(120) { try storedStep(s.db, run.id!) >= 5 }, "the task did not start training")
        let pids = cli.workerPids(sweepDir: task.sweepDir)
        #expect(pids.count == 1)
        for pid in pids { kill(pid, SIGKILL) }
        let head = try runTracker(["run", file, "--home", home, "--store", s.url], environment: env)
        #expect(head.status == 0, "\(head.stdout)\n\(head.stderr)")
        let r = try #require(try s.db.run(id: run.id!))
        #expect(r.state == .succeeded && r.attempts == 2, "\(r.error ?? "")")
        #expect(try s.db.events(runId: run.id!).contains { $0.toState == .crashed })
        #expect(try s.db.metrics(runId: run.id!, key: "train/loss").map(\.step) == (1...Int64(steps)).map { $0 })
        #expect(try s.db.metricSummaries(runId: run.id!).first { $0.key == "train/loss" }?.count == Int64(steps))
        #expect(!FileManager.default.fileExists(atPath: task.spoolPath))
    }

    /// A head started in the background against the PostgreSQL store (the password from the file).
    func startHead(_ file: String, home: String, _ s: (url: String, password: String, file: String, db: TrackerDB))
        throws -> Process
    {
        let head = Process()
        head.executableURL = URL(fileURLWithPath: trackerBinary)
        head.arguments = ["run", file, "--home", home, "--store", s.url]
        var env = ProcessInfo.processInfo.environment
        env[StoreSettings.passwordFileVariable] = s.file
        head.environment = env
        head.standardOutput = FileHandle.nullDevice
        head.standardError = FileHandle.nullDevice
        try head.run()
        return head
    }

    @Test(.timeLimit(.minutes(5))) func cancelScancelsARunningAndAPendingTaskWithTheStoreInPostgres() throws {
        let home = tempDir("slurm-pg-cancel")
        let s = try store(home)
        let env = [StoreSettings.passwordFileVariable: s.file]
        let file = try SlurmExecutorCLITests.experiment(
            "cancel", home: home, steps: 100_000, runs: 2, extra: "max_parallel = 1")
        let head = try startHead(file, home: home, s)
        defer { if head.isRunning { kill(head.processIdentifier, SIGKILL) } }
        #expect(try cli.waitFor(120) { try s.db.runs().contains { $0.state == .running } }, "no run started")
        let c = try runTracker(["cancel", "cancel", "--home", home, "--store", s.url], environment: env)
        #expect(c.status == 0 && c.stdout.contains("scancelled 2 Slurm task(s)"), "\(c.stdout)\(c.stderr)")
        #expect(try cli.waitFor(60) { !head.isRunning }, "the head did not finish after the cancel")
        #expect(try s.db.runs().map(\.state) == [.cancelled, .cancelled])
        let array = try #require(try s.db.slurmTasks().first?.arrayJobId)
        var states: [String] = []
        let allCancelled = try cli.waitFor(30) {
            let q = try runProcess(
                "/usr/bin/env", ["squeue", "-h", "-r", "--states=all", "-j", "\(array)", "-o", "%T"])
            states = q.stdout.split(separator: "\n").map(String.init)
            return states.contains("CANCELLED") && Set(states) == ["CANCELLED"]
        }
        #expect(allCancelled, "\(states)")
        let status = try runTracker(["status", "--home", home, "--store", s.url], environment: env)
        #expect(status.status == 0, "\(status.stderr)")
    }

    @Test(.timeLimit(.minutes(5))) func aPreemptedRunIsRequeuedAndResumedWithTheStoreInPostgres() throws {
        let home = tempDir("slurm-pg-preempt")
        let s = try store(home)
        let env = [StoreSettings.passwordFileVariable: s.file]
        let steps = 2000
        // two CPUs: the node's all, so a job in the high partition must preempt it
        let file = try SlurmExecutorCLITests.experiment("preempt", home: home, steps: steps, runs: 1, cpus: 2)
        #expect(
            try runTracker(["run", file, "--home", home, "--no-wait", "--store", s.url], environment: env).status == 0)
        let run = try #require(try s.db.runs().first)
        #expect(try cli.waitFor(120) { try storedStep(s.db, run.id!) >= 5 }, "the task did not start training")
        let high = ProcessInfo.processInfo.environment["TRACKER_SLURM_HIGH_PARTITION"] ?? "high"
        let preemptor = try runProcess(
            "/usr/bin/env", ["sbatch", "--parsable", "-p", high, "-c", "2", "-o", "/dev/null", "--wrap", "sleep 2"])
        #expect(preemptor.status == 0, "\(preemptor.stderr)")
        let head = try runTracker(["run", file, "--home", home, "--store", s.url], environment: env)
        #expect(head.status == 0, "\(head.stdout)\n\(head.stderr)")
        let r = try #require(try s.db.run(id: run.id!))
        #expect(r.state == .succeeded, "\(r.error ?? "")")
        #expect(try s.db.slurmTasks(runIds: [run.id!]).first?.requeues ?? 0 >= 1)
        #expect(try s.db.metrics(runId: run.id!, key: "train/loss").map(\.step) == (1...Int64(steps)).map { $0 })
        #expect(try s.db.metricSummaries(runId: run.id!).first { $0.key == "train/loss" }?.count == Int64(steps))
    }

    @Test(.timeLimit(.minutes(5))) func aHeadKilledMidSweepReconcilesWithTheStoreInPostgres() throws {
        let home = tempDir("slurm-pg-head")
        let s = try store(home)
        let env = [StoreSettings.passwordFileVariable: s.file]
        let file = try SlurmExecutorCLITests.experiment("head", home: home, steps: 150, runs: 3)
        let head = try startHead(file, home: home, s)
        #expect(try cli.waitFor(120) { try s.db.runs().contains { $0.state == .running } }, "no run started")
        kill(head.processIdentifier, SIGKILL)
        head.waitUntilExit()
        let again = try runTracker(["run", file, "--home", home, "--store", s.url], environment: env)
        #expect(again.status == 0, "\(again.stdout)\n\(again.stderr)")
        #expect(try s.db.slurmTasks().compactMap(\.arrayJobId).count == 3)
        #expect(Set(try s.db.slurmTasks().map(\.submissions)) == [1])
        for run in try s.db.runs() {
            #expect(run.state == .succeeded, "\(run.error ?? "")")
            #expect(try s.db.metrics(runId: run.id!, key: "train/loss").map(\.step) == Array(1...150))
            try expectWrittenByTheTask(s.db, run.id!, attempts: 1)
        }
    }

    /// The password typed in --store and no file for the tasks: refused before anything is submitted.
    @Test(.timeLimit(.minutes(2))) func aTypedPasswordWithoutAFileIsRefused() throws {
        let home = tempDir("slurm-pg-typed")
        let s = try store(home)
        let typed = s.url.replacingOccurrences(of: "postgres://tracker@", with: "postgres://tracker:\(s.password)@")
        let file = try SlurmExecutorCLITests.experiment("typed", home: home, steps: 10, runs: 1)
        let r = try runTracker(["run", file, "--home", home, "--store", typed])
        #expect(r.status != 0 && r.stderr.contains(StoreSettings.passwordFileVariable), "\(r.stdout)\n\(r.stderr)")
        #expect(!r.stdout.contains(s.password) && !r.stderr.contains(s.password))
        #expect(try s.db.slurmTasks().isEmpty)
        #expect(try s.db.runs().map(\.state) == [.queued])
    }

    /// The password typed in --store (and in the 0600 file for the tasks): the task (and its job)
    /// never see it; the requeued task resumes from the store's checkpoint record, and the run's
    /// history in the store, written by the task alone, is complete and duplicate-free.
    @Test(.timeLimit(.minutes(5))) func usr1CheckpointsRequeuesAndResumesWithTheStoreInPostgres() throws {
        let home = tempDir("slurm-pg-usr1")
        let s = try store(home)
        let typed = s.url.replacingOccurrences(of: "postgres://tracker@", with: "postgres://tracker:\(s.password)@")
        let env = [StoreSettings.passwordFileVariable: s.file]
        let steps = 400
        let file = try SlurmExecutorCLITests.experiment(
            "usr1", home: home, steps: steps, runs: 1, extra: "max_requeues = 2")
        let submit = try runTracker(["run", file, "--home", home, "--no-wait", "--store", typed], environment: env)
        #expect(submit.status == 0, "\(submit.stderr)")
        let run = try #require(try s.db.runs().first)
        let task = try #require(try s.db.slurmTasks(runIds: [run.id!]).first)
        let job = try #require(task.jobText)
        #expect(try cli.waitFor(120) { try storedStep(s.db, run.id!) >= 5 }, "the task did not start training")
        let pids = cli.workerPids(sweepDir: task.sweepDir)
        #expect(!pids.isEmpty, "no running task to look at")
        for pid in pids {
            let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") ?? Data()
            #expect(
                !String(decoding: environ, as: UTF8.self).contains(s.password),
                "a task's environment holds the password")
        }
        let script = try runProcess("/usr/bin/env", ["scontrol", "write", "batch_script", job, "-"])
        #expect(script.status == 0 && !script.stdout.contains(s.password))
        _ = try runProcess("/usr/bin/timeout", ["3", "scancel", "--signal=USR1", "--batch", job])
        let head = try runTracker(["run", file, "--home", home, "--store", typed], environment: env)
        #expect(head.status == 0, "\(head.stdout)\n\(head.stderr)")
        let r = try #require(try s.db.run(id: run.id!))
        // a requeue spends max_requeues, not an attempt
        #expect(r.state == .succeeded && r.attempts == 1, "\(r.state) \(r.attempts) \(r.error ?? "")")
        #expect(try s.db.slurmTasks(runIds: [run.id!]).first?.requeues == 1)
        #expect(try s.db.metrics(runId: run.id!, key: "train/loss").map(\.step) == (1...Int64(steps)).map { $0 })
        #expect(try s.db.metricSummaries(runId: run.id!).first { $0.key == "train/loss" }?.count == Int64(steps))
        try expectWrittenByTheTask(s.db, run.id!, attempts: 2)
        // the checkpoint USR1 asked for, recorded by the task before it requeued itself
        #expect(try s.db.artifacts(runId: run.id!, kind: "checkpoint").contains { ($0.step ?? 0) < Int64(steps) })
        #expect(filesContaining(s.password, under: home) == ["pgpass"])
        #expect(!head.stdout.contains(s.password) && !head.stderr.contains(s.password))
    }
}

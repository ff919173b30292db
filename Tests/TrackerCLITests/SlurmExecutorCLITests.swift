// The Slurm executor end to end, on TestSlurm's cluster (the one SLURM_CONF names, else one the
// test process starts with .ci/services/slurm.sh and stops at its exit), each test once per
// store (see TestStores.swift): SQLite, where the tasks report through spool files the head
// ingests, and PostgreSQL (`--store postgres://`), where each task writes the store itself (no
// spool file) and gets the password from a 0600 file only. A sweep runs as one job array to
// completion; a failing task's exit code fails its run; SIGUSR1 checkpoints, requeues and
// resumes under the same run id with every metric step once; `tracker cancel` scancels a
// running and a pending task; a SIGKILLed task is retried; a preempted one resumes; a killed
// head reconciles when started again; ASHA prunes; a missing corpus shard fails clearly. Tiny
// models on the synthetic t1 task (but for the corpus test).
import Foundation
import Store
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Not serialized: each test waits for one of the cluster's two test slots (`slurmSlot`), so the
/// time limits (which count the wait) leave room for the other tests.
@Suite(.tags(.slow), .slurmCluster)
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
        try tinyExperiment(
            name, home: home, data: data, steps: steps, seeds: Array(first..<(first + runs)),
            header: """
                [executor]
                kind = "slurm"
                cpus_per_task = \(cpus)
                time = "10"
                poll_seconds = 0.5
                poll_max_seconds = 2
                \(extra)
                """, sweep: sweep)
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

    /// Pids of the `tracker worker --slurm DIR` processes.
    func workerPids(sweepDir: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let args = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return args.contains("--slurm") && args.contains(sweepDir)
        }
    }

    /// Slurm's states of every task of `array` (squeue).
    func slurmStates(array: Int64) throws -> [String] {
        let q = try runProcess("/usr/bin/env", ["squeue", "-h", "-r", "--states=all", "-j", "\(array)", "-o", "%T"])
        return q.stdout.split(separator: "\n").map(String.init)
    }

    @Test(.timeLimit(.minutes(15)), arguments: TestStore.tested)
    func aSweepIsOneArrayAndCompletes(_ store: TestStore) async throws {
        try await slurmSlot {
            let w = try TestWorkspace(store, "slurm-sweep")
            let file = try Self.experiment("sweep", home: w.home, steps: 20, runs: 4)
            let r = try w.tracker(["run", file])
            #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
            #expect(r.stdout.contains("submitted 4 run(s) to Slurm as job array(s) "))
            let runs = try w.db.runs()
            #expect(runs.count == 4)
            let tasks = try w.db.slurmTasks()
            #expect(Set(tasks.compactMap(\.arrayJobId)).count == 1)
            #expect(tasks.compactMap(\.arrayTask).sorted() == [0, 1, 2, 3])
            #expect(Set(tasks.map(\.submissions)) == [1])
            for run in runs {
                #expect(run.state == .succeeded, "\(run.error ?? "")")
                try w.expectEveryStepOnce(run.id!, steps: 20)
                try w.expectReportedByTheTask(run.id!, attempts: 1)
                #expect(try w.db.latestCheckpoint(runId: run.id!) != nil)
            }
            // Slurm's final state, also of a task that started and ended between two squeue polls
            // (the head asks scontrol); one the head saw last still finishing is RUNNING or COMPLETING
            let seen = tasks.map { $0.slurmState ?? "none" }
            #expect(seen.allSatisfy { ["COMPLETED", "RUNNING", "COMPLETING"].contains($0) }, "\(seen)")
            // the manifest names the store the tasks write (none: spool files), never its password
            let manifest = try #require(FileManager.default.contents(atPath: tasks[0].sweepDir + "/manifest.json"))
            let named = try #require(try JSONSerialization.jsonObject(with: manifest) as? [String: Any])["store"]
            let expected = w.url.map { ["url": $0, "passwordFile": w.passwordFile!] }
            #expect(named as? [String: String] == expected, "\(named ?? "none")")
            let sqliteUsed = FileManager.default.fileExists(atPath: w.home + "/tracker.sqlite")
            #expect(sqliteUsed == (store == .sqlite))
            #expect(w.filesHoldingThePassword() == (store == .postgres ? ["pgpass"] : []))
            let report = try w.tracker(["report"])
            #expect(report.status == 0 && report.stdout.contains("sweep"), "\(report.stdout)\(report.stderr)")
        }
    }

    /// Four runs, one at a time (max_parallel = 1): the first reaches each rung first and goes
    /// on to succeed; the others (learning rates 20-30x smaller) are compared at the rungs, and at
    /// least one is pruned there, its task ending at the rung's step. On SQLite the head decides
    /// each rung and answers in a file next to the spool file; on PostgreSQL each task records
    /// and decides its rungs in the store itself (no spool or decision file).
    @Test(.timeLimit(.minutes(15)), arguments: TestStore.tested)
    func anAshaSweepPrunesOnSlurm(_ store: TestStore) async throws {
        try await slurmSlot {
            let w = try TestWorkspace(store, "slurm-asha")
            let file = try Self.experiment(
                "asha", home: w.home, steps: 40, runs: 1, extra: "max_parallel = 1",
                sweep: """
                    scheduler = "asha"
                    metric = "train/loss"
                    grace_steps = 5
                    reduction_factor = 2
                    "train.lr" = [0.01, 0.0003, 0.0004, 0.0005]
                    """)
            let r = try w.tracker(["run", file])
            #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
            let runs = try w.db.runs().sorted { $0.id! < $1.id! }
            try #require(runs.count == 4)
            #expect(runs[0].state == .succeeded, "\(runs[0].error ?? "")")
            #expect(runs.allSatisfy { $0.state == .succeeded || $0.state == .pruned })
            let pruned = runs.filter { $0.state == .pruned }
            #expect(!pruned.isEmpty)
            for run in pruned {
                let at = try #require(try w.db.rungs(runId: run.id!).first(where: \.pruned))
                // the pruned task stopped at its rung: no later step was logged
                #expect(try w.db.metrics(runId: run.id!, key: "train/loss").map(\.step).max() == at.atStep)
            }
            #expect(try w.db.rungs(runId: runs[0].id!).map(\.rung) == [0, 1, 2])
            for run in runs { try w.expectReportedByTheTask(run.id!, attempts: 1) }
            let sweepDir = try #require(try w.db.slurmTasks().first?.sweepDir)
            let spool = try FileManager.default.contentsOfDirectory(atPath: sweepDir + "/spool")
            // SQLite: spool files and the head's rung decisions next to them; PostgreSQL: nothing
            #expect(store == .sqlite ? spool.contains { $0.contains(".rung-") } : spool.isEmpty, "\(spool)")
            let status = try w.tracker(["status"])
            #expect(status.stdout.contains("\(pruned.count) pruned"), "\(status.stdout)")
        }
    }

    /// SIGUSR1 (as before a time limit): the task checkpoints, records the checkpoint, requeues
    /// itself and resumes from it under the same run id; the requeue spends max_requeues, not an
    /// attempt. A head started afterwards (as after a restart) follows it to its end. On
    /// PostgreSQL the password is typed in --store (and in the 0600 file for the tasks): neither
    /// the task's environment, its batch script nor any file but that one holds it.
    @Test(.timeLimit(.minutes(15)), arguments: TestStore.tested)
    func usr1CheckpointsRequeuesAndResumesUnderTheSameRun(_ store: TestStore) async throws {
        try await slurmSlot {
            let w = try TestWorkspace(store, "slurm-usr1")
            let steps = 400
            let file = try Self.experiment("usr1", home: w.home, steps: steps, runs: 1, extra: "max_requeues = 2")
            let submit = try w.tracker(["run", file, "--no-wait"], typed: true)
            #expect(submit.status == 0, "\(submit.stderr)")
            let run = try #require(try w.db.runs().first)
            let task = try #require(try w.db.slurmTasks(runIds: [run.id!]).first)
            let job = try #require(task.jobText)
            #expect(try waitFor(120) { try w.reportedStep(run.id!) >= 5 }, "the task did not start training")
            let status = try w.tracker(["status"])
            #expect(status.stdout.contains("job \(job)  RUNNING"), "\(status.stdout)")
            let local = try w.tracker(["run", file, "--executor", "local"])
            #expect(local.status != 0 && local.stderr.contains("are on Slurm"), "\(local.stderr)")
            if let password = w.password {
                let pids = workerPids(sweepDir: task.sweepDir)
                #expect(!pids.isEmpty, "no running task to look at")
                for pid in pids {
                    let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") ?? Data()
                    #expect(!String(decoding: environ, as: UTF8.self).contains(password), "a task's environment")
                }
                let script = try runProcess("/usr/bin/env", ["scontrol", "write", "batch_script", job, "-"])
                #expect(script.status == 0 && !script.stdout.contains(password))
            }
            // timeout 3: scancel retries a signal every ~5 s while it is not acknowledged
            _ = try runProcess("/usr/bin/timeout", ["3", "scancel", "--signal=USR1", "--batch", job])
            let head = try w.tracker(["run", file], typed: true)
            #expect(head.status == 0, "\(head.stdout)\n\(head.stderr)")
            let r = try #require(try w.db.run(id: run.id!))
            #expect(r.state == .succeeded && r.attempts == 1, "\(r.state) \(r.attempts) \(r.error ?? "")")
            let after = try #require(try w.db.slurmTasks(runIds: [run.id!]).first)
            #expect(after.requeues == 1 && after.jobText == job)
            try w.expectEveryStepOnce(run.id!, steps: steps)
            try w.expectReportedByTheTask(run.id!, attempts: 2)
            // the checkpoint USR1 asked for, recorded before the task requeued itself
            #expect(try w.db.artifacts(runId: run.id!, kind: "checkpoint").contains { ($0.step ?? 0) < Int64(steps) })
            #expect(w.filesHoldingThePassword() == (store == .postgres ? ["pgpass"] : []))
            if let password = w.password {
                #expect(!head.stdout.contains(password) && !head.stderr.contains(password))
            }
        }
    }

    /// A task that exits 2 before it can report anything (its submission folder is not on its
    /// node: here the manifest is removed while the array is held) fails in Slurm; the head takes
    /// the exit code from scontrol and, with no attempt left, fails the run with it, on either
    /// store. (A task whose data is missing on its node: the corpus test below.)
    @Test(.timeLimit(.minutes(15)), arguments: TestStore.tested)
    func aFailingRunIsFailedWithItsExitCode(_ store: TestStore) async throws {
        try await slurmSlot {
            let w = try TestWorkspace(store, "slurm-fail")
            let file = try Self.experiment(
                "fail", home: w.home, steps: 20, runs: 1, extra: "extra = [\"--hold\"]",
                data: Self.syntheticData + "\n[experiment]\nmax_attempts = 1")
            let submit = try w.tracker(["run", file, "--no-wait"])
            #expect(submit.status == 0, "\(submit.stderr)")
            let run = try #require(try w.db.runs().first)
            let task = try #require(try w.db.slurmTasks(runIds: [run.id!]).first)
            let array = try #require(task.arrayJobId)
            try FileManager.default.removeItem(atPath: task.sweepDir + "/manifest.json")
            let release = try runProcess("/usr/bin/env", ["scontrol", "release", String(array)])
            #expect(release.status == 0, "\(release.stderr)")
            let head = try w.tracker(["run", file])
            #expect(
                head.status == 1 && head.stderr.contains("1 run(s) did not succeed"), "\(head.stdout)\n\(head.stderr)")
            let r = try #require(try w.db.run(id: run.id!))
            #expect(r.state == .failed && r.attempts == 1 && r.exitCode == 2, "\(r.state) \(r.error ?? "")")
            #expect(r.error?.contains("FAILED") == true && r.error?.contains("exit code 2") == true, "\(r.error ?? "")")
            #expect(try w.db.slurmTasks(runIds: [run.id!]).first?.slurmState == "FAILED")
            let log = try String(contentsOfFile: task.sweepDir + "/logs/\(array)_0.out", encoding: .utf8)
            #expect(log.contains("manifest.json does not exist on ") && log.contains("shared filesystem"), "\(log)")
        }
    }

    @Test(.timeLimit(.minutes(15)), arguments: TestStore.tested)
    func cancelScancelsARunningAndAPendingTask(_ store: TestStore) async throws {
        try await slurmSlot {
            let w = try TestWorkspace(store, "slurm-cancel")
            let file = try Self.experiment("cancel", home: w.home, steps: 100_000, runs: 2, extra: "max_parallel = 1")
            let head = try w.startHead(file)
            defer { if head.isRunning { kill(head.processIdentifier, SIGKILL) } }
            #expect(try waitFor(120) { try w.db.runs().contains { $0.state == .running } }, "no run started")
            let c = try w.tracker(["cancel", "cancel"])
            #expect(c.status == 0 && c.stdout.contains("scancelled 2 Slurm task(s)"), "\(c.stdout)\(c.stderr)")
            #expect(waitFor(60) { !head.isRunning }, "the head did not finish after the cancel")
            #expect(try w.db.runs().map(\.state) == [.cancelled, .cancelled])
            // in Slurm too: nothing of the array pends or runs (a pending task cancelled on its own
            // leaves squeue; the running one stays listed as CANCELLED)
            let array = try #require(try w.db.slurmTasks().first?.arrayJobId)
            var states: [String] = []
            let allCancelled = try waitFor(30) {
                states = try slurmStates(array: array)
                return states.contains("CANCELLED") && Set(states) == ["CANCELLED"]
            }
            #expect(allCancelled, "\(states)")
            let status = try w.tracker(["status"])
            #expect(status.status == 0, "\(status.stderr)")
        }
    }

    /// A task SIGKILLed mid-run writes no end: Slurm's FAILED spends the attempt, the head submits
    /// it again, and the new task logs the run's steps again over the first one's: every step once.
    @Test(.timeLimit(.minutes(15)), arguments: TestStore.tested)
    func aSIGKILLedTaskFailsItsAttemptAndIsRetried(_ store: TestStore) async throws {
        try await slurmSlot {
            let w = try TestWorkspace(store, "slurm-kill")
            let steps = 300
            let file = try Self.experiment("kill", home: w.home, steps: steps, runs: 1)
            #expect(try w.tracker(["run", file, "--no-wait"]).status == 0)
            let run = try #require(try w.db.runs().first)
            let task = try #require(try w.db.slurmTasks(runIds: [run.id!]).first)
            #expect(try waitFor(120) { try w.reportedStep(run.id!) >= 5 }, "the task did not start training")
            let pids = workerPids(sweepDir: task.sweepDir)
            #expect(pids.count == 1)
            for pid in pids { kill(pid, SIGKILL) }
            let head = try w.tracker(["run", file])
            #expect(head.status == 0, "\(head.stdout)\n\(head.stderr)")
            let r = try #require(try w.db.run(id: run.id!))
            #expect(r.state == .succeeded && r.attempts == 2, "\(r.error ?? "")")
            #expect(try w.db.events(runId: run.id!).contains { $0.toState == .crashed })
            try w.expectEveryStepOnce(run.id!, steps: steps)
            try w.expectSpoolFileOnlyOnSQLite(run.id!)
        }
    }

    @Test(.timeLimit(.minutes(15)), arguments: TestStore.tested)
    func aPreemptedRunIsRequeuedAndResumed(_ store: TestStore) async throws {
        // the whole node: the task takes both CPUs, and the preemptor would preempt any other task
        try await slurmSlot(2) {
            let w = try TestWorkspace(store, "slurm-preempt")
            // long enough to be running when the preemption comes on an idle machine too
            let steps = 2000
            // two CPUs: the node's all, so a job in the high partition must preempt it
            let file = try Self.experiment("preempt", home: w.home, steps: steps, runs: 1, cpus: 2)
            #expect(try w.tracker(["run", file, "--no-wait"]).status == 0)
            let run = try #require(try w.db.runs().first)
            #expect(try waitFor(120) { try w.reportedStep(run.id!) >= 5 }, "the task did not start training")
            let high = ProcessInfo.processInfo.environment["TRACKER_SLURM_HIGH_PARTITION"] ?? "high"
            let preemptor = try runProcess(
                "/usr/bin/env", ["sbatch", "--parsable", "-p", high, "-c", "2", "-o", "/dev/null", "--wrap", "sleep 2"])
            #expect(preemptor.status == 0, "\(preemptor.stderr)")
            let head = try w.tracker(["run", file])
            #expect(head.status == 0, "\(head.stdout)\n\(head.stderr)")
            let r = try #require(try w.db.run(id: run.id!))
            #expect(r.state == .succeeded, "\(r.error ?? "")")
            #expect(try w.db.slurmTasks(runIds: [run.id!]).first?.requeues ?? 0 >= 1)
            try w.expectEveryStepOnce(run.id!, steps: steps)
        }
    }

    @Test(.timeLimit(.minutes(15)), arguments: TestStore.tested)
    func aHeadKilledMidSweepReconcilesWhenStartedAgain(_ store: TestStore) async throws {
        try await slurmSlot {
            let w = try TestWorkspace(store, "slurm-head")
            let file = try Self.experiment("head", home: w.home, steps: 150, runs: 3)
            let head = try w.startHead(file)
            #expect(try waitFor(120) { try w.db.runs().contains { $0.state == .running } }, "no run started")
            kill(head.processIdentifier, SIGKILL)
            head.waitUntilExit()
            let again = try w.tracker(["run", file])
            #expect(again.status == 0, "\(again.stdout)\n\(again.stderr)")
            #expect(try w.db.slurmTasks().compactMap(\.arrayJobId).count == 3)
            #expect(Set(try w.db.slurmTasks().map(\.submissions)) == [1])
            for run in try w.db.runs() {
                #expect(run.state == .succeeded, "\(run.error ?? "")")
                try w.expectEveryStepOnce(run.id!, steps: 150)
                try w.expectReportedByTheTask(run.id!, attempts: 1)
            }
        }
    }

    @Test(.timeLimit(.minutes(15)), arguments: TestStore.tested)
    func aCorpusRunTrainsFromTheManifestAndAMissingShardIsAClearFailure(_ store: TestStore) async throws {
        try await slurmSlot {
            let w = try TestWorkspace(store, "slurm-corpus")
            let ingest = try w.tracker([
                "ingest", repoRoot + "/corpora/bundled.tar.xz", "--name", "bundled", "--vocab-size", "300",
            ])
            #expect(ingest.status == 0, "\(ingest.stderr)")
            let data = "[data]\ncorpus = \"bundled\""
            let ok = try Self.experiment("corpus", home: w.home, steps: 10, runs: 1, data: data)
            let first = try w.tracker(["run", ok])
            #expect(first.status == 0, "\(first.stdout)\n\(first.stderr)")
            // the train shard vanishes (a node without the shared filesystem): the next run fails clearly
            let shard = try #require(try w.db.corpus(named: "bundled")?.shards.first { $0.split == "train" })
            let path = shard.path.hasPrefix("/") ? shard.path : w.home + "/" + shard.path
            try FileManager.default.moveItem(atPath: path, toPath: path + ".away")
            let bad = try Self.experiment(
                "corpus", home: w.home, steps: 10, runs: 1, data: data + "\n[experiment]\nmax_attempts = 1", seeds: 2)
            let second = try w.tracker(["run", bad])
            #expect(second.status != 0)
            let failed = try #require(try w.db.runs().first { $0.state == .failed })
            #expect(failed.exitCode == 1)
            let host = ProcessInfo.processInfo.hostName
            #expect(
                failed.error?.contains("\(path) does not exist on \(host)") == true
                    && failed.error?.contains("shared filesystem") == true, "\(failed.error ?? "")")
        }
    }

    /// The password typed in --store and no file for the tasks: refused before anything is submitted.
    @Test(.timeLimit(.minutes(15)), .postgres)
    func aTypedPasswordWithoutAFileIsRefused() async throws {
        try await slurmSlot {
            let w = try TestWorkspace(.postgres, "slurm-typed")
            let file = try Self.experiment("typed", home: w.home, steps: 10, runs: 1)
            let r = try runTracker(["run", file] + w.arguments(typed: true))
            #expect(r.status != 0 && r.stderr.contains(StoreSettings.passwordFileVariable), "\(r.stdout)\n\(r.stderr)")
            let password = try #require(w.password)
            #expect(!r.stdout.contains(password) && !r.stderr.contains(password))
            #expect(try w.db.slurmTasks().isEmpty)
            #expect(try w.db.runs().map(\.state) == [.queued])
        }
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

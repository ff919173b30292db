// A fake Slurm for the head's unit tests: sbatch hands out job ids and keeps the scripts, squeue
// answers with the states a test sets, scancel and requeue are recorded.
import Foundation
import SlurmExecutor
import SlurmKit
import Store
import Testing

final class FakeSlurm: SlurmCommands, @unchecked Sendable {
    private let lock = NSLock()
    private var nextJob = 100
    private(set) var scripts: [String] = []
    private(set) var cancelled: [SlurmJobID] = []
    private(set) var requeued: [SlurmJobID] = []
    /// What squeue lists; a task not in it is not listed.
    var states: [SlurmJobID: String] = [:]
    /// squeue fails with this, when set.
    var failure: SlurmError?
    var maxArraySize = 1001

    /// sbatch submits, then throws this (as if the head died before it read the answer).
    var failAfterSubmit: SlurmError?
    private var submitted: [SlurmSubmittedScript] = []

    func sbatch(scriptPath: String) throws -> SlurmSubmission {
        let script = try String(contentsOfFile: scriptPath, encoding: .utf8)
        let job = lock.withLock {
            scripts.append(script)
            nextJob += 1
            submitted.append(SlurmSubmittedScript(jobID: nextJob, script: scriptPath))
            return nextJob
        }
        if let failAfterSubmit { throw failAfterSubmit }
        return SlurmSubmission(jobID: job, cluster: nil)
    }

    func submittedScripts(jobName: String) throws -> [SlurmSubmittedScript] { lock.withLock { submitted } }

    func squeue(jobs: [Int]) throws -> [SlurmJobStatus] {
        try lock.withLock {
            if let failure { throw failure }
            return states.filter { jobs.contains($0.key.job) }.map { SlurmJobStatus(id: $0.key, stateText: $0.value) }
        }
    }

    /// What sacct lists, when the cluster has accounting (nil: it has none).
    var accounting: [SlurmJobStatus]?

    func sacct(jobs: [Int]) throws -> [SlurmJobStatus] {
        try lock.withLock {
            guard let accounting else { throw SlurmError.accountingDisabled }
            return accounting.filter { jobs.contains($0.id.job) }
        }
    }

    func sacctCompletions() throws -> [SlurmJobStatus] { [] }

    func showConfig() throws -> SlurmConfig {
        SlurmConfig(values: [
            "ClusterName": "fake", "MaxArraySize": String(maxArraySize),
            "AccountingStorageType": accounting == nil ? "accounting_storage/none" : "accounting_storage/slurmdbd",
        ])
    }

    /// What `scontrol -o show job A_T` prints for each task slurmctld still knows (see `scontrolRecord`).
    var shown: [SlurmJobID: String] = [:]
    /// The tasks `showJob` was asked about, in order.
    private(set) var showJobCalls: [SlurmJobID] = []

    func showJob(_ id: SlurmJobID) throws -> [SlurmJobRecord] {
        let text = lock.withLock {
            showJobCalls.append(id)
            return shown[id]
        }
        return try text.map { try SlurmParse.jobs($0) } ?? []
    }

    func requeue(_ id: SlurmJobID) throws { lock.withLock { requeued.append(id) } }

    func scancel(_ ids: [SlurmJobID], pendingOnly: Bool) throws { lock.withLock { cancelled += ids } }

    func set(_ job: Int, _ task: Int, _ state: String) {
        lock.withLock { states[SlurmJobID(job: job, task: task)] = state }
    }
}

/// A workspace with one experiment of `count` queued runs (synthetic task configs).
struct Fixture {
    let home: String
    let db: TrackerDB
    let experimentId: Int64
    let runs: [RunRecord]
    let slurm = FakeSlurm()

    /// `spec`: the experiment's spec as JSON (e.g. a [sweep] with scheduler = "asha").
    init(count: Int, maxAttempts: Int64 = 3, spec: String = "{}") throws {
        home = NSTemporaryDirectory() + "slurm-exec-\(UUID().uuidString)"
        db = try TrackerDB(home: home)
        let e = try db.upsertExperiment(name: "sweep", source: nil, spec: spec)
        experimentId = e.id!
        let planned = (0..<count).map { i in
            TrackerDB.PlannedRun(
                run: RunRecord(
                    name: "run\(i)", config: #"{"data":{"task":"t1"},"train":{"seed":\#(i)}}"#, configHash: "h\(i)",
                    maxAttempts: maxAttempts),
                params: [:])
        }
        runs = try db.enqueue(planned, experimentId: experimentId, force: false).enqueued
    }

    /// A head with `maxRequeues` (else the defaults) that has submitted the sweep.
    func submittedHead(maxRequeues: Int) throws -> SlurmHead {
        var config = SlurmExecutorConfig()
        config.maxRequeues = maxRequeues
        let head = self.head(config)
        try head.submit(runs, experiment: "sweep")
        return head
    }

    func head(_ config: SlurmExecutorConfig = SlurmExecutorConfig(), clock: Double? = nil) -> SlurmHead {
        var c = config
        c.kind = .slurm
        let head = SlurmHead(db: db, home: home, slurm: slurm, config: c, executable: "/opt/tracker")
        head.warn = { _ in }
        if let clock { head.clock = { clock } }
        return head
    }

    func task(_ run: RunRecord) throws -> SlurmTaskRecord { try #require(try db.slurmTasks(runIds: [run.id!]).first) }

    func state(_ run: RunRecord) throws -> RunRecord { try #require(try db.run(id: run.id!)) }

    /// The spool writer a task of `run` would open.
    func spool(_ run: RunRecord) throws -> SpoolWriter { try SpoolWriter(path: try task(run).spoolPath) }
}

/// Appends what one attempt of a task reports: a start, metrics at `steps`, an optional
/// checkpoint at the last step, and the end.
func attempt(
    _ spool: SpoolWriter, job: String, steps: ClosedRange<Int64>, checkpoint: String? = nil,
    end: SpoolEvent.Outcome?, exitCode: Int64? = nil
) throws {
    try spool.append(SpoolEvent(kind: .start, job: job, host: "node1"))
    for s in steps { try spool.append(SpoolEvent(kind: .metrics, step: s, metrics: ["train/loss": 1 / Double(s)])) }
    if let checkpoint {
        try spool.append(SpoolEvent(kind: .checkpoint, step: steps.upperBound, path: checkpoint, sha256: "ab", size: 1))
    }
    if let end {
        try spool.append(SpoolEvent(kind: .end, outcome: end, exitCode: exitCode, error: "exit \(exitCode ?? 0)"))
    }
}

/// `scontrol -o show job A_T` of a finished array task, in the format recorded from Slurm 22.05
/// (Tests/SlurmKitTests/Fixtures/hand-scontrol-show-job-oom.txt) with its ids, state, reason and
/// exit code replaced.
func scontrolRecord(array: Int, task: Int, state: String, reason: String = "None", exit: String = "0:0") -> String {
    "JobId=\(array + task + 1) ArrayJobId=\(array) ArrayTaskId=\(task) JobName=tracker-sweep UserId=root(0) "
        + "GroupId=root(0) MCS_label=N/A Priority=4294901759 Nice=0 Account=(null) QOS=(null) JobState=\(state) "
        + "Reason=\(reason) Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=\(exit) "
        + "RunTime=00:00:03 TimeLimit=00:10:00 TimeMin=N/A SubmitTime=2026-12-06T02:53:44 "
        + "EligibleTime=2026-12-06T02:53:44 AccrueTime=2026-12-06T02:53:44 StartTime=2026-12-06T02:53:45 "
        + "EndTime=2026-12-06T02:53:48 Deadline=N/A Partition=debug AllocNode:Sid=localhost:24951 NodeList=vm "
        + "BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 TRES=cpu=1,node=1,billing=1 "
        + "Command=/tmp/sweep/array-0.sh WorkDir=/tmp/sweep StdErr=/dev/null StdIn=/dev/null StdOut=/dev/null Power= \n"
}

// The head of the Slurm executor: the one process that opens the database. It hands queued runs
// to Slurm (a submission folder with the manifest, one job array per MaxArraySize runs), and
// then polls: one squeue for all live arrays, the runs' spool files ingested (a SQLite head's
// tasks report there; on a PostgreSQL store the tasks write the store themselves and there is
// no spool file), and every task Slurm no longer runs settled from the store (the truth for
// outcomes) or, where the run wrote no end, from Slurm's final state; runs to try again are
// resubmitted. It keeps nothing in
// memory that the store and squeue do not hold, so a head that died is simply started again.
import Basics
import Foundation
import Scheduler
import SlurmKit
import Store

public final class SlurmHead {
    public let db: TrackerDB
    public let home: String
    public let slurm: SlurmCommands
    public let config: SlurmExecutorConfig
    /// The `tracker` binary the tasks exec (on the shared filesystem).
    public var executable: String
    /// Unix seconds now (tests move it).
    public var clock: () -> Double = { Date().timeIntervalSince1970 }
    /// Waits this many seconds between two looks of `track` (tests move `clock` instead).
    public var sleep: (Double) -> Void = { Thread.sleep(forTimeInterval: $0) }
    /// The head's environment: where a PostgreSQL store's password file is named for the tasks.
    public var environment = ProcessInfo.processInfo.environment
    /// Warnings (a spool file that cannot be read, a controller that does not answer).
    public var warn: (String) -> Void = { FileHandle.standardError.write(Data(("warning: " + $0 + "\n").utf8)) }
    private var cachedSlurmConfig: SlurmConfig?
    private var cachedAsha: [Int64: AshaConfig?] = [:]

    public init(db: TrackerDB, home: String, slurm: SlurmCommands, config: SlurmExecutorConfig, executable: String) {
        self.db = db
        self.home = home
        self.slurm = slurm
        self.config = config
        self.executable = executable
    }

    /// `scontrol show config`, asked once per head.
    func slurmConfig() throws -> SlurmConfig {
        if let c = cachedSlurmConfig { return c }
        let c = try slurm.showConfig()
        cachedSlurmConfig = c
        return c
    }

    /// The ASHA scheduler of an experiment's sweep (nil without), read once per head.
    func asha(experimentId: Int64) throws -> AshaConfig? {
        if let c = cachedAsha[experimentId] { return c }
        let c = try AshaConfig.of(experimentId: experimentId, db: db)
        cachedAsha[experimentId] = c
        return c
    }

    // MARK: - Submit

    /// Hands `runs` (queued, not yet Slurm's) to Slurm as one submission of `experiment`: writes
    /// the manifest, registers the tasks, then submits the arrays. Returns the array job ids.
    @discardableResult
    public func submit(_ runs: [RunRecord], experiment: String) throws -> [Int] {
        let known = Set(try db.slurmTasks(runIds: runs.map { $0.id! }).map(\.runId))
        let fresh = runs.filter { $0.state == .queued && !known.contains($0.id!) }
        if fresh.isEmpty { return [] }
        let store = try storeForTasks()
        var corpora: [String: SlurmManifest.Corpus] = [:]
        let entries = try fresh.map { run -> SlurmManifest.Entry in
            let corpus = try Self.corpusName(configJSON: run.config)
            if let corpus, corpora[corpus] == nil {
                guard let c = try db.corpus(named: corpus) else {
                    throw SlurmExecutorError.noCorpus(name: corpus, home: home)
                }
                corpora[corpus] = SlurmManifest.Corpus(c)
            }
            return SlurmManifest.Entry(runId: run.id!, name: run.name, config: run.config, corpus: corpus)
        }
        let sweepDir = try makeSweepDir(experiment)
        try SlurmManifest(
            home: home, maxRequeues: config.maxRequeues, runs: entries, corpora: corpora,
            asha: try fresh.first?.experimentId.flatMap { try asha(experimentId: $0) },
            rungTimeoutSeconds: config.rungTimeoutSeconds, store: store
        ).write(sweepDir: sweepDir)
        let name = "tracker-\(experiment)"
        try db.registerSlurmTasks(
            fresh.enumerated().map {
                SlurmTaskRecord(
                    runId: $1.id!, sweepDir: sweepDir, taskIndex: Int64($0), jobName: name,
                    maxRequeues: Int64(config.maxRequeues))
            })
        let spec = jobSpec(sweepDir: sweepDir, name: name, taskCount: fresh.count)
        var arrays: [Int] = []
        for chunk in spec.chunks(maxArraySize: try slurmConfig().maxArraySize) {
            let ids = fresh[chunk.offset..<(chunk.offset + chunk.count)].map { $0.id! }
            arrays.append(try sbatch(spec, chunk, sweepDir: sweepDir, script: "array-\(chunk.offset).sh", runIds: ids))
        }
        return arrays
    }

    /// The PostgreSQL store the tasks write themselves (nil on SQLite: spool files).
    func storeForTasks() throws -> SlurmManifest.Store? {
        guard db.dialect == .postgres else { return nil }
        return try SlurmManifest.Store.forTasks(
            url: try PostgresURL(db.path), password: try StoreSettings.postgres(environment: environment)?.password,
            environment: environment)
    }

    private func jobSpec(sweepDir: String, name: String, taskCount: Int) -> SlurmJobSpec {
        config.jobSpec(
            name: name, taskCount: taskCount, output: sweepDir + "/logs/%A_%a.out",
            command: [executable, "worker", "--slurm", sweepDir])
    }

    /// Writes the chunk's script, submits it, records which run each task holds.
    private func sbatch(
        _ spec: SlurmJobSpec, _ chunk: SlurmArrayChunk, sweepDir: String, script: String, runIds: [Int64]
    ) throws -> Int {
        let path = sweepDir + "/" + script
        do {
            try spec.script(for: chunk).write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: path)
        } catch let e as SlurmError {
            throw e
        } catch {
            throw SlurmExecutorError.io(path: path, reason: error.localizedDescription)
        }
        let called = clock()
        let job = try slurm.sbatch(scriptPath: path).jobID
        let answered = clock()
        try db.recordSlurmSubmission(
            arrayJobId: Int64(job), tasks: runIds.enumerated().map { ($1, Int64($0)) }, now: answered)
        do {
            try SbatchRecord(script: script, job: job, called: called, answered: answered).append(sweepDir: sweepDir)
        } catch {
            warn("\(error)")  // only a timing record: the submission itself is in the store
        }
        return job
    }

    /// `<dir>/<experiment>-<time>-<n>`, created with its logs/ and spool/ folders.
    private func makeSweepDir(_ experiment: String) throws -> String {
        let root = config.dir ?? home + "/slurm"
        let stamp = Int(clock() * 1000)
        for n in 0..<1000 {
            let dir = "\(root)/\(experiment)-\(stamp)\(n == 0 ? "" : "-\(n)")"
            if FileManager.default.fileExists(atPath: dir) { continue }
            do {
                for sub in ["logs", "spool"] {
                    try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
                }
            } catch {
                throw SlurmExecutorError.io(
                    path: dir, reason: "cannot create the submission folder: \(error.localizedDescription)")
            }
            return dir
        }
        throw SlurmExecutorError.io(path: root, reason: "no free submission folder name")
    }

    /// The corpus a run config's [data] names (nil for a synthetic task).
    static func corpusName(configJSON: String) throws -> String? {
        let tree = try ConfigValue(json: configJSON)
        if tree.value(at: "data.task") != nil { return nil }
        if case .string(let name)? = tree.value(at: "data.corpus") { return name }
        return nil
    }

    /// Submits again, one single-task array each, the live runs whose task is gone (a failure
    /// with attempts left, a time limit or preemption Slurm did not requeue), or that were never
    /// submitted; a task whose script squeue already lists (its head died right after sbatch) is
    /// adopted instead. Returns the sbatch calls made.
    func resubmit(_ tasks: [SlurmTaskRecord]) throws -> Int {
        var count = 0
        var submitted: [String: [String: Int]] = [:]  // job name -> script path -> array job id
        for t in tasks where t.arrayJobId == nil {
            guard let run = try db.run(id: t.runId), run.state == .queued, !run.cancelRequested else { continue }
            if submitted[t.jobName] == nil {
                submitted[t.jobName] = Dictionary(
                    try slurm.submittedScripts(jobName: t.jobName).map { ($0.script, $0.jobID) },
                    uniquingKeysWith: { max($0, $1) })
            }
            let (script, arrayTask) = try nextScript(t)
            if let job = submitted[t.jobName]?[t.sweepDir + "/" + script] {
                try db.recordSlurmSubmission(arrayJobId: Int64(job), tasks: [(t.runId, arrayTask)], now: clock())
                continue
            }
            let limit = run.maxAttempts + t.maxRequeues + 1
            if t.submissions >= limit {
                try db.settleSlurmRun(
                    runId: t.runId,
                    .failed(exitCode: nil, signal: nil, why: "submitted \(t.submissions) times without finishing"))
                continue
            }
            let manifest = try SlurmManifest.load(sweepDir: t.sweepDir)
            let spec = jobSpec(sweepDir: t.sweepDir, name: t.jobName, taskCount: manifest.runs.count)
            let chunk = SlurmArrayChunk(offset: Int(t.taskIndex), count: 1)
            _ = try sbatch(spec, chunk, sweepDir: t.sweepDir, script: script, runIds: [t.runId])
            count += 1
        }
        return count
    }

    /// The script of a task's next submission (the first one: its share of the submission's
    /// arrays, named as `submit` names them) and the task's index in that array.
    private func nextScript(_ t: SlurmTaskRecord) throws -> (script: String, arrayTask: Int64) {
        if t.submissions == 0 {
            let size = Int64(max(1, try slurmConfig().maxArraySize))
            let offset = t.taskIndex / size * size
            return ("array-\(offset).sh", t.taskIndex - offset)
        }
        return ("retry-\(t.taskIndex)-\(t.submissions).sh", 0)
    }
}

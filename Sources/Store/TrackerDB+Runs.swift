// Writes and reads of experiments and runs outside the queue's life cycle: creating an
// experiment and its runs (deduplicated by config hash), typed parameters, tags, provenance,
// artifacts. All SQL lives in the Store so that a second store (PostgreSQL, for a shared
// cluster) can be added behind these same calls without reshaping the Scheduler or the CLI.
import Foundation

extension TrackerDB {
    // MARK: - Experiments

    /// Creates the experiment `name`, or updates its source and spec; returns it with its id.
    public func upsertExperiment(name: String, source: String?, spec: String) throws -> ExperimentRecord {
        try write { db in
            try db.fetchOne(
                ExperimentRecord.self,
                sql: """
                    INSERT INTO experiment (name, source, spec) VALUES (?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET source = excluded.source, spec = excluded.spec
                    RETURNING *
                    """, arguments: [name, source, spec])!
        }
    }

    public func experiment(named name: String) throws -> ExperimentRecord? {
        try read { db in
            try db.fetchOne(ExperimentRecord.self, sql: "SELECT * FROM experiment WHERE name = ?", arguments: [name])
        }
    }

    public func experiment(id: Int64) throws -> ExperimentRecord? {
        try read { db in try db.fetch(ExperimentRecord.self, id: id) }
    }

    public func experiments() throws -> [ExperimentRecord] {
        try read { db in try db.fetchAll(ExperimentRecord.self, sql: "SELECT * FROM experiment ORDER BY name") }
    }

    // MARK: - Runs

    /// Inserts a run with its parameters and tags, and its first state event; returns it with its id.
    /// Used for enqueued runs and, with a terminal `state` and origin 'import', for imported ones.
    public func createRun(_ run: RunRecord, params: [String: ParamValue] = [:], tags: [String: String] = [:]) throws
        -> RunRecord
    {
        try write { db in try Self.createRun(run, params: params, tags: tags, in: db) }
    }

    /// `createRun` inside a caller's transaction.
    public static func createRun(
        _ run: RunRecord, params: [String: ParamValue], tags: [String: String], in db: any StoreConnection
    ) throws -> RunRecord {
        let r = try db.insert(run)
        try setParams(runId: r.id!, params, in: db)
        try setTags(runId: r.id!, tags, in: db)
        try recordEvent(
            runId: r.id!, from: nil, to: r.state, worker: nil, detail: r.origin == "import" ? "imported" : nil, db)
        return r
    }

    /// One run to enqueue: the row, its typed parameters and tags, and the hashes of other
    /// configs that mean the same run (e.g. the same config before it was resolved).
    public struct PlannedRun: Sendable {
        public var run: RunRecord
        public var params: [String: ParamValue]
        public var tags: [String: String]
        public var equivalentHashes: [String]
        public init(
            run: RunRecord, params: [String: ParamValue], tags: [String: String] = [:], equivalentHashes: [String] = []
        ) {
            self.run = run
            self.params = params
            self.tags = tags
            self.equivalentHashes = equivalentHashes
        }
    }

    /// Enqueues `planned` into experiment `experimentId` in one transaction. A run whose config hash
    /// (or one of its equivalent hashes) already exists in the experiment (in any state) is skipped
    /// unless `force`.
    public func enqueue(_ planned: [PlannedRun], experimentId: Int64, force: Bool) throws
        -> (enqueued: [RunRecord], skipped: [RunRecord])
    {
        try write { db in
            var enqueued: [RunRecord] = []
            var skipped: [RunRecord] = []
            for p in planned {
                if !force,
                    let existing = try Self.existingRun(
                        experimentId: experimentId, hashes: [p.run.configHash] + p.equivalentHashes, db)
                {
                    skipped.append(existing)
                    continue
                }
                var r = p.run
                r.experimentId = experimentId
                r.state = .queued
                enqueued.append(try Self.createRun(r, params: p.params, tags: p.tags, in: db))
            }
            return (enqueued, skipped)
        }
    }

    /// The latest run of the experiment whose config hash is one of `hashes`.
    static func existingRun(experimentId: Int64, hashes: [String], _ db: any StoreConnection) throws -> RunRecord? {
        try db.fetchOne(
            RunRecord.self,
            sql: """
                SELECT * FROM run WHERE experimentId = ? AND configHash IN (\(sqlMarks(hashes.count)))
                ORDER BY id DESC LIMIT 1
                """, arguments: [experimentId] + sqlArguments(hashes))
    }

    /// Deletes runs `ids` with everything recorded about them (params, tags, metrics, summaries,
    /// artifacts' rows, events, rungs, Slurm tasks: the schema's foreign keys cascade), in one
    /// transaction, and returns the deleted rows. Only finished runs (succeeded, failed, cancelled,
    /// pruned) can go: a queued, running or crashed one has a worker, a retry or a Slurm task that
    /// may still write it, so it must be cancelled first. Checked inside the write transaction, so
    /// a worker cannot claim a run between the check and the delete. Files are the caller's
    /// (`runFiles(home:runId:)`).
    @discardableResult
    public func deleteRuns(ids: [Int64]) throws -> [RunRecord] {
        let ids = Array(Set(ids)).sorted()
        if ids.isEmpty { return [] }
        let chunks = sqlChunks(ids).map(Array.init)
        return try write { db in
            var runs: [RunRecord] = []
            for chunk in chunks {
                runs += try db.fetchAll(
                    RunRecord.self, sql: "SELECT * FROM run WHERE id IN (\(sqlMarks(chunk.count))) ORDER BY id",
                    arguments: sqlArguments(chunk))
            }
            let found = Set(runs.compactMap(\.id))
            if let missing = ids.first(where: { !found.contains($0) }) { throw StoreError.runNotFound(String(missing)) }
            let busy = runs.filter { !$0.state.isTerminal }
            if let first = busy.first {
                throw StoreError.runNotFinished(
                    id: first.id!, name: first.name, state: first.state.rawValue, others: busy.count - 1)
            }
            for chunk in chunks {
                try db.execute(
                    sql: "DELETE FROM run WHERE id IN (\(sqlMarks(chunk.count)))", arguments: sqlArguments(chunk))
            }
            return runs
        }
    }

    /// The files and folders of run `runId` that exist: its folder in workspace `home` (config,
    /// metrics.jsonl, checkpoints), the log its workers appended to, and for a run handed to Slurm
    /// (`sweepDir`, its slurmTask row's) its spool file and rung decision files. The sweep's Slurm
    /// logs (one per array task) stay with the sweep.
    public static func runFiles(home: String, runId: Int64, sweepDir: String? = nil) -> [String] {
        var paths = ["\(home)/runs/\(runId)", runLogPath(home: home, runId: runId)]
        if let sweepDir {
            let spool = SlurmTaskRecord.spoolPath(sweepDir: sweepDir, runId: runId)
            paths.append(spool)
            let decision = URL(fileURLWithPath: RungDecisionFile.path(spoolPath: spool, rung: 0)).lastPathComponent
            let prefix = String(decision.dropLast(1))  // "ID.rung-"
            let folder = (spool as NSString).deletingLastPathComponent
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            let decisions = names.filter { (name: String) -> Bool in
                name.hasPrefix(prefix) && Int(name.dropFirst(prefix.count)) != nil
            }
            paths += decisions.sorted().map { folder + "/" + $0 }
        }
        return paths.filter { FileManager.default.fileExists(atPath: $0) }
    }

    public func run(id: Int64) throws -> RunRecord? {
        try read { db in try db.fetch(RunRecord.self, id: id) }
    }

    /// Runs of one experiment (or every run), oldest first.
    public func runs(experimentId: Int64? = nil) throws -> [RunRecord] {
        try read { db in
            try db.fetchAll(
                RunRecord.self,
                sql: "SELECT * FROM run WHERE CAST(? AS BIGINT) IS NULL OR experimentId = ? ORDER BY id",
                arguments: [experimentId, experimentId])
        }
    }

    /// Records where and with what code and data a run executes (set when it starts).
    public func setProvenance(
        runId: Int64, codeVersion: String?, codeDirty: Bool?, machine: String?, corpusId: Int64?, lineage: String?
    ) throws {
        try write { db in
            try db.execute(
                sql: """
                    UPDATE run SET codeVersion = ?, codeDirty = ?, machine = ?,
                      corpusId = coalesce(?, corpusId), lineage = coalesce(?, lineage) WHERE id = ?
                    """, arguments: [codeVersion, codeDirty, machine, corpusId, lineage, runId])
        }
    }

    // MARK: - Parameters and tags

    public func setParams(runId: Int64, _ params: [String: ParamValue]) throws {
        try write { db in try Self.setParams(runId: runId, params, in: db) }
    }

    public static func setParams(runId: Int64, _ params: [String: ParamValue], in db: any StoreConnection) throws {
        for (key, value) in params.sorted(by: { $0.key < $1.key }) {
            let num: Double? =
                switch value {
                case .int(let v): Double(v)
                case .real(let v): v
                case .bool(let v): v ? 1 : 0
                case .text: nil
                }
            let text: String? = if case .text(let s) = value { s } else { nil }
            try db.execute(
                sql: """
                    INSERT INTO runParam (runId, key, type, num, text) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (runId, key) DO UPDATE SET type = excluded.type, num = excluded.num, text = excluded.text
                    """, arguments: [runId, key, value.typeName, num, text])
        }
        if !params.isEmpty { try SummaryPack.rebuild(.params, runId: runId, db) }
    }

    /// A run's parameters, typed as stored.
    public func params(runId: Int64) throws -> [String: ParamValue] {
        try read { db in
            var out: [String: ParamValue] = [:]
            for row in try db.rows(sql: "SELECT key, type, num, text FROM runParam WHERE runId = ?", arguments: [runId])
            {
                let num = Double(sqlValue: row["num"])
                let value: ParamValue =
                    switch String(sqlValue: row["type"]) {
                    case "int": .int(Int64(num ?? 0))
                    case "real": .real(num ?? .nan)
                    case "bool": .bool((num ?? 0) != 0)
                    default: .text(String(sqlValue: row["text"]) ?? "")
                    }
                out[try row.get("key")] = value
            }
            return out
        }
    }

    public func setTags(runId: Int64, _ tags: [String: String]) throws {
        try write { db in try Self.setTags(runId: runId, tags, in: db) }
    }

    public static func setTags(runId: Int64, _ tags: [String: String], in db: any StoreConnection) throws {
        for (key, value) in tags.sorted(by: { $0.key < $1.key }) {
            try db.execute(
                sql: """
                    INSERT INTO runTag (runId, key, value) VALUES (?, ?, ?)
                    ON CONFLICT (runId, key) DO UPDATE SET value = excluded.value
                    """, arguments: [runId, key, value])
        }
        if !tags.isEmpty { try SummaryPack.rebuild(.tags, runId: runId, db) }
    }

    public func tags(runId: Int64) throws -> [String: String] {
        try read { db in
            Dictionary(
                uniqueKeysWithValues: try db.fetchAll(
                    RunTagRecord.self, sql: "SELECT * FROM runTag WHERE runId = ?", arguments: [runId]
                ).map { ($0.key, $0.value) })
        }
    }

    // MARK: - Artifacts

    /// Records a file a run produced (path relative to the workspace); returns it with its id.
    public func addArtifact(_ artifact: ArtifactRecord) throws -> ArtifactRecord {
        try write { db in try db.insert(artifact) }
    }

    /// A run's artifacts of one kind (or all), by step then id.
    public func artifacts(runId: Int64, kind: String? = nil) throws -> [ArtifactRecord] {
        try read { db in
            try db.fetchAll(
                ArtifactRecord.self,
                sql: """
                    SELECT * FROM artifact WHERE runId = ? AND (CAST(? AS TEXT) IS NULL OR kind = ?)
                    ORDER BY step NULLS FIRST, id
                    """, arguments: [runId, kind, kind])
        }
    }

    /// The checkpoint with the highest step, the one a resumed run starts from.
    public func latestCheckpoint(runId: Int64) throws -> ArtifactRecord? {
        try read { db in
            try db.fetchOne(
                ArtifactRecord.self,
                sql:
                    "SELECT * FROM artifact WHERE runId = ? AND kind = 'checkpoint' ORDER BY step DESC, id DESC LIMIT 1",
                arguments: [runId])
        }
    }

    public func deleteArtifacts(ids: [Int64]) throws {
        if ids.isEmpty { return }
        try write { db in
            try db.execute(
                sql: "DELETE FROM artifact WHERE id IN (\(sqlMarks(ids.count)))", arguments: sqlArguments(ids))
        }
    }

    // MARK: - Events

    /// A run's state history, oldest first.
    public func events(runId: Int64) throws -> [RunEventRecord] {
        try read { db in
            try db.fetchAll(
                RunEventRecord.self, sql: "SELECT * FROM runEvent WHERE runId = ? ORDER BY id", arguments: [runId])
        }
    }

    static func recordEvent(
        runId: Int64, from: RunState?, to: RunState, worker: String?, detail: String?, _ db: any StoreConnection
    ) throws {
        try db.execute(
            sql: "INSERT INTO runEvent (runId, fromState, toState, worker, detail) VALUES (?, ?, ?, ?, ?)",
            arguments: [runId, from, to, worker, detail])
    }
}

// The two stores the CLI tests run tracker against: SQLite (`--home`; on Slurm the tasks append
// to spool files and the head ingests them) and PostgreSQL (`--store postgres://...`, a schema
// of its own per test; on Slurm each task writes the store itself, the password reaching it in
// a 0600 file). The Slurm tests share the single-node cluster through `slurmSlot`: two at a
// time, as the two serialized Slurm suites (SQLite, PostgreSQL) ran side by side before they
// were one, now balanced over both stores.
import Foundation
import Store
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

enum TestStore: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// The stores the tests run on: SQLite, and PostgreSQL where a server is there or can be
    /// started; under CI=true always both (a missing server fails the PostgreSQL cases). Without
    /// one, a warning says the PostgreSQL cases are left out.
    static let tested: [TestStore] = {
        if runningInCI || TestPostgres.available { return allCases }
        FileHandle.standardError.write(
            Data(
                ("warning: the Slurm tests run on SQLite only: their postgres:// cases need a PostgreSQL server "
                    + "(TRACKER_TEST_DATABASE_URL, or root with postgresql installed; with CI=true they fail)\n").utf8))
        return [.sqlite]
    }()

}

/// Runs `body` in `slots` of the two slots of the Slurm test cluster (both for a test that takes
/// the whole node), waiting for them without holding a thread of the test pool (each test's time
/// limit counts the wait).
func slurmSlot(_ slots: Int = 1, _ body: () throws -> Void) async throws {
    await SlurmSlots.shared.acquire(slots)
    do {
        try body()
    } catch {
        await SlurmSlots.shared.release(slots)
        throw error
    }
    await SlurmSlots.shared.release(slots)
}

/// A counting semaphore tests wait on without blocking a thread of the test pool; first come,
/// first served (one waiting for both slots is not overtaken).
actor SlurmSlots {
    static let shared = SlurmSlots(count: 2)
    private var free: Int
    private var waiting: [(slots: Int, go: CheckedContinuation<Void, Never>)] = []

    init(count: Int) { free = count }

    func acquire(_ slots: Int) async {
        if waiting.isEmpty && free >= slots {
            free -= slots
            return
        }
        await withCheckedContinuation { waiting.append((slots, $0)) }
    }

    /// Gives the slots back and lets the waiters in, in order, while theirs are free.
    func release(_ slots: Int) {
        free += slots
        while let next = waiting.first, next.slots <= free {
            waiting.removeFirst()
            free -= next.slots
            next.go.resume()
        }
    }
}

/// Writes HOME/NAME.toml: a tiny model (1 layer, 2 heads, 16 channels, context 16) trained for
/// `steps` steps of batch 4 on `data`, one run per seed; `header` goes first (e.g. an [executor]
/// table) and `sweep` after the seeds. The experiment file of the CLI tests that run tracker.
func tinyExperiment(
    _ name: String, home: String, data: String, steps: Int, seeds: [Int], checkpointEvery: Int = 1000,
    header: String = "", sweep: String = ""
) throws -> String {
    let file = "\(home)/\(name).toml"
    try """
    \(header)

    \(data)

    \(tinyRunTables(steps: steps, checkpointEvery: checkpointEvery))

    [sweep]
    seeds = [\(seeds.map(String.init).joined(separator: ", "))]
    \(sweep)
    """.write(toFile: file, atomically: true, encoding: .utf8)
    return file
}

/// One test's workspace and store, and tracker run against them.
struct TestWorkspace {
    let store: TestStore
    let home: String
    let db: TrackerDB
    /// PostgreSQL: the store's URL without the password, the password, the 0600 file holding it.
    let url: String?
    let password: String?
    let passwordFile: String?

    /// A new workspace in a new temp folder named after `tag`.
    init(_ store: TestStore, _ tag: String) throws {
        try self.init(store, home: tempDir("\(tag)-\(store.rawValue)"))
    }

    /// A new store for the workspace `home` (an existing folder).
    init(_ store: TestStore, home: String) throws {
        self.store = store
        self.home = home
        guard store == .postgres else {
            db = try TrackerDB(home: home)
            url = nil
            password = nil
            passwordFile = nil
            return
        }
        let full = try PostgresURL(try TestPostgres.newDatabase())
        let password = try #require(full.password)
        let file = home + "/pgpass"
        try password.write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        var bare = full
        bare.password = nil
        db = try TrackerDB(postgres: bare, password: password, home: home)
        url = bare.redacted
        self.password = password
        passwordFile = file
    }

    /// The environment tracker gets: the password file's path on PostgreSQL.
    var environment: [String: String] { passwordFile.map { [StoreSettings.passwordFileVariable: $0] } ?? [:] }

    /// `--home HOME`, and `--store URL` on PostgreSQL (`typed`: with the password in the URL).
    func arguments(typed: Bool = false) -> [String] {
        guard let url else { return ["--home", home] }
        guard typed, let password else { return ["--home", home, "--store", url] }
        return [
            "--home", home, "--store", url.replacingOccurrences(of: "://tracker@", with: "://tracker:\(password)@"),
        ]
    }

    /// `tracker ARGS` on this workspace and store.
    func tracker(_ args: [String], typed: Bool = false) throws -> ProcessResult {
        try runTracker(args + arguments(typed: typed), environment: environment)
    }

    /// `tracker run FILE` in the background (its output dropped).
    func startHead(_ file: String) throws -> Process {
        let head = Process()
        head.executableURL = URL(fileURLWithPath: trackerBinary)
        head.arguments = ["run", file] + arguments()
        head.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        head.standardOutput = FileHandle.nullDevice
        head.standardError = FileHandle.nullDevice
        try head.run()
        return head
    }

    /// The last metric step the run's task reported: in its spool file on SQLite (the head
    /// ingests it only while one runs), in the store on PostgreSQL.
    func reportedStep(_ runId: Int64) throws -> Int64 {
        guard store == .sqlite else { return try db.metrics(runId: runId, key: "train/loss").last?.step ?? 0 }
        guard let task = try db.slurmTasks(runIds: [runId]).first else { return 0 }
        return try Spool.read(path: task.spoolPath).events.compactMap(\.step).max() ?? 0
    }

    /// The run's spool file exists exactly on SQLite: on PostgreSQL the task wrote the store itself.
    func expectSpoolFileOnlyOnSQLite(_ runId: Int64) throws {
        let task = try #require(try db.slurmTasks(runIds: [runId]).first)
        let spooled = FileManager.default.fileExists(atPath: task.spoolPath)
        #expect(spooled == (store == .sqlite), "run \(runId) on \(store.rawValue): spool file \(spooled)")
    }

    /// The task reported the run (through its spool file, or by writing the PostgreSQL store),
    /// its `attempts` starts each under its Slurm job.
    func expectReportedByTheTask(_ runId: Int64, attempts: Int) throws {
        try expectSpoolFileOnlyOnSQLite(runId)
        let task = try #require(try db.slurmTasks(runIds: [runId]).first)
        let starts = try db.events(runId: runId).filter { $0.fromState == .queued && $0.toState == .running }
        #expect(starts.count == attempts)
        let job = try #require(task.jobText)
        #expect(starts.allSatisfy { $0.worker?.hasPrefix("slurm:\(job)@") == true }, "\(starts.map(\.worker))")
    }

    /// Every train/loss step of the run is in the store exactly once.
    func expectEveryStepOnce(_ runId: Int64, steps: Int) throws {
        #expect(try db.metrics(runId: runId, key: "train/loss").map(\.step) == (1...Int64(steps)).map { $0 })
        #expect(try db.metricSummaries(runId: runId).first { $0.key == "train/loss" }?.count == Int64(steps))
    }

    /// Every file under the workspace holding the password (PostgreSQL; [] on SQLite).
    func filesHoldingThePassword() -> [String] {
        guard let password else { return [] }
        let files = FileManager.default.enumerator(atPath: home)?.compactMap { $0 as? String } ?? []
        return files.filter { f in
            guard let data = FileManager.default.contents(atPath: home + "/" + f) else { return false }
            return String(decoding: data, as: UTF8.self).contains(password)
        }
    }
}

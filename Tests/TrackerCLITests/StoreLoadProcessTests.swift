// The store under load from real `tracker` processes (`bench-store --mode claimers|writers`), each
// with its own connections, as on a cluster: 16 processes claiming 400 queued runs claim each
// exactly once (FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite), and 32 writer
// processes logging at once, with a reader, see no error and lose no point. On PostgreSQL (the
// issue's case) and on SQLite.
import Foundation
import Store
import TestSupport
import Testing

@Suite(
    .serialized,
    .requires(
        "the tracker binary built next to the tests (swift build)",
        FileManager.default.isExecutableFile(atPath: trackerBinary)
    ))
struct StoreLoadProcessTests {
    /// A new store: its handle here, the arguments that make tracker open it, and the environment
    /// (the password file) its processes need. nil when PostgreSQL is missing outside CI.
    func open(_ kind: TestStore, home: String) throws -> (db: TrackerDB, args: [String], env: [String: String])? {
        if kind == .postgres, !TestPostgres.available {
            if runningInCI {
                throw MissingRequirement(description: "CI=true but no PostgreSQL: \(TestPostgres.problem)")
            }
            FileHandle.standardError.write(Data("warning: skipping a PostgreSQL case: \(TestPostgres.problem)\n".utf8))
            return nil
        }
        let w = try TestWorkspace(kind, home: home)
        return (w.db, w.arguments(), w.environment)
    }

    /// What the children of `tracker bench-store` wrote, for a failure's message.
    func childOutput(_ home: String, _ name: String) -> String {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: home)) ?? []
        return files.filter { $0.hasPrefix(name) }.sorted().compactMap {
            try? String(contentsOfFile: home + "/" + $0, encoding: .utf8).suffix(300)
        }.joined(separator: "\n")
    }

    @Test(arguments: TestStore.allCases) func sixteenClaimerProcessesTakeEachOf400RunsOnce(store: TestStore) throws {
        let home = tempDir("load-claim")
        guard let (db, args, env) = try open(store, home: home) else { return }
        let e = try db.upsertExperiment(name: "load", source: nil, spec: "{}")
        let planned = (0..<400).map { i in
            TrackerDB.PlannedRun(
                run: RunRecord(name: "r\(i)", config: "{\"i\":\(i)}", configHash: "h\(i)"), params: [:])
        }
        let enqueued = try db.enqueue(planned, experimentId: e.id!, force: false).enqueued.map { $0.id! }.sorted()
        #expect(enqueued.count == 400)
        let r = try runTracker(["bench-store", "--mode", "claimers", "--processes", "16"] + args, environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONDecoder().decode(ClaimersOutput.self, from: Data(r.stdout.utf8))
        #expect(report.failedClaimers == 0, "\(childOutput(home, "claimer"))")
        #expect(report.claimed == enqueued, "\(report.claimed.count) claims of 400 runs")
        #expect(try db.stateCounts() == [.running: 400])
    }

    struct ClaimersOutput: Decodable {
        var claimed: [Int64]
        var failedClaimers: Int
    }

    @Test(arguments: TestStore.allCases) func thirtyTwoWriterProcessesLoseNothing(store: TestStore) throws {
        let home = tempDir("load-write")
        guard let (db, args, env) = try open(store, home: home) else { return }
        let r = try runTracker(
            ["bench-store", "--mode", "writers", "--processes", "32", "--points", "2000", "--batch", "500"] + args,
            environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONDecoder().decode([String: Double].self, from: Data(r.stdout.utf8))
        #expect(report["failedWriters"] == 0, "\(childOutput(home, "writer"))")
        #expect(report["writerLockErrors"] == 0 && report["readerLockErrors"] == 0, "\(report)")
        let runs = try db.runs()
        #expect(runs.count == 32)
        for run in runs {
            let summaries = try db.metricSummaries(runId: run.id!)
            #expect(summaries.map(\.key) == ["k0", "k1", "k2", "k3"])
            for s in summaries {
                let recomputed = try db.recomputedSummary(runId: run.id!, key: s.key)
                #expect(s.count == 500 && s == recomputed, "\(s)")
            }
        }
        #expect(try db.read { try $0.scalar(Int.self, sql: "SELECT count(*) FROM metric") } == 32 * 2000)
    }
}

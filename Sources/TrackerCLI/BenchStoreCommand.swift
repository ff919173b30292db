// `tracker bench-store` (hidden): the store's write-path measurements for
// bench/tracker_vs_mlflow.sh, and the writer processes of the concurrency test. Modes:
//   batched  - logMetrics in batches of --batch points (points/s)
//   per-step - MetricWriter.log for --keys metrics, then flush(), once per step (steps/s)
//   log      - MetricWriter.log latency without waiting (p50/p99 in microseconds)
//   writers  - --processes child processes each writing --points in batches while this process
//              reads; counts "database is locked" errors everywhere
//   write    - one writer child (used by `writers`)
//   claimers - --processes child processes each claiming queued runs until none is left; reports
//              every run id claimed (sorted, repeats kept) and the children that failed
//   claim    - one claimer child (used by `claimers`): the ids it claimed
// Each mode prints one JSON object on stdout. With --store, the children open the same store
// (its URL goes to them through TRACKER_DATABASE_URL, the password file's name too).
import ArgumentParser
import Basics
import Foundation
import Scheduler
import Store

#if canImport(Glibc)
    import Glibc
#endif

struct BenchStoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-store", abstract: "Measure the metric write path.", shouldDisplay: false)

    @OptionGroup var workspace: WorkspaceOptions

    @Option var mode = "batched"
    @Option var points = 200_000
    @Option var batch = 1000
    @Option var steps = 2000
    @Option var keys = 4
    @Option var processes = 8

    func run() throws {
        let home = workspace.resolvedHome
        let db = try TrackerDB(home: home)
        var out: [String: Double] = [:]
        switch mode {
        case "batched":
            let run = try newRun(db, "batched")
            // Locals, not the @Option properties: each read of one went through ArgumentParser's
            // generic getter, a few percent of the time measured (perf).
            let keys = self.keys
            let names = (0..<keys).map { "k\($0)" }
            let cpu0 = ProcessStats.cpuSeconds()
            let t = Date()
            var step: Int64 = 0
            var written = 0
            while written < points {
                let n = min(batch, points - written)
                let now = Date().timeIntervalSince1970
                try db.logMetrics(
                    (0..<n).map { i in
                        MetricPoint(
                            runId: run, key: names[i % keys], step: step + Int64(i / keys), value: Double(i), time: now)
                    })
                step += Int64((n + keys - 1) / keys)
                written += n
            }
            let s = Date().timeIntervalSince(t)
            let cpu = ProcessStats.cpuSeconds() - cpu0
            out = [
                "points": Double(points), "seconds": s, "pointsPerSecond": Double(points) / s, "cpuSeconds": cpu,
                "pointsPerCPUSecond": Double(points) / cpu,
            ]
        case "per-step":
            let run = try newRun(db, "per-step")
            let writer = MetricWriter(db: db)
            let t = Date()
            for step in 0..<steps {
                for k in 0..<keys { writer.log(runId: run, key: "k\(k)", step: Int64(step), value: Double(step)) }
                try writer.flush()
            }
            let s = Date().timeIntervalSince(t)
            try writer.close()
            out = [
                "steps": Double(steps), "seconds": s, "stepsPerSecond": Double(steps) / s,
                "pointsPerSecond": Double(steps * keys) / s,
            ]
        case "log":
            let run = try newRun(db, "log")
            let writer = MetricWriter(db: db)
            var lat: [Double] = []
            lat.reserveCapacity(points)
            for i in 0..<points {
                let t0 = DispatchTime.now().uptimeNanoseconds
                writer.log(runId: run, key: "k\(i % keys)", step: Int64(i / keys), value: Double(i))
                lat.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1000)
            }
            try writer.close()
            lat.sort()
            out = [
                "points": Double(points), "p50us": lat[lat.count / 2], "p99us": lat[lat.count * 99 / 100],
                "maxus": lat.last!,
            ]
        case "write":
            out = try writeChild(db)
        case "writers":
            out = try writers(db, home: home)
        case "claim":
            print(try prettyJSON(claimChild(db)).replacingOccurrences(of: "\n", with: " "))
            return
        case "claimers":
            print(try prettyJSON(claimers(home: home)).replacingOccurrences(of: "\n", with: " "))
            return
        default:
            throw ValidationError("--mode must be batched, per-step, log, write, writers, claim or claimers")
        }
        print(try prettyJSON(out).replacingOccurrences(of: "\n", with: " "))
    }

    private func newRun(_ db: TrackerDB, _ name: String) throws -> Int64 {
        try db.createRun(RunRecord(name: "bench-\(name)-\(getpid())", config: "{}", configHash: UUID().uuidString)).id!
    }

    static func isLockError(_ error: Error) -> Bool {
        let text = "\(error)"
        return text.contains("database is locked") || text.contains("SQLITE_BUSY") || text.contains("SQLITE_LOCKED")
    }

    /// One writer process: its own run, `points` points in batches; lock errors are counted, not fatal.
    private func writeChild(_ db: TrackerDB) throws -> [String: Double] {
        let run = try newRun(db, "writer")
        var lockErrors = 0
        var written = 0
        let (keys, batch, points) = (self.keys, self.batch, self.points)
        let names = (0..<keys).map { "k\($0)" }
        let t = Date()
        while written < points {
            let n = min(batch, points - written)
            let base = Int64(written / keys)
            let batchPoints = (0..<n).map { i in
                MetricPoint(runId: run, key: names[i % keys], step: base + Int64(i / keys), value: Double(i), time: 0)
            }
            do {
                try db.logMetrics(batchPoints)
                written += n
            } catch  where Self.isLockError(error) {
                lockErrors += 1
            }
        }
        return ["points": Double(points), "seconds": Date().timeIntervalSince(t), "lockErrors": Double(lockErrors)]
    }

    /// Starts `processes` children of this command in `mode`, each one's output in `home/NAME-i.json`.
    private func spawnChildren(_ mode: String, name: String, home: String, _ extra: [String] = []) throws -> [pid_t] {
        let exe = currentExecutablePath()
        return try (0..<processes).map { i in
            try LocalProcessExecutor.spawnProcess(
                [exe, "bench-store", "--home", home, "--mode", mode] + extra,
                environment: ProcessInfo.processInfo.environment, output: "\(home)/\(name)-\(i).json")
        }
    }

    /// The JSON object a child printed last in `home/NAME-i.json` (nil: it printed none, i.e. it failed).
    private func childReport<T: Decodable>(_ type: T.Type, name: String, _ i: Int, home: String) -> T? {
        let text = (try? String(contentsOfFile: "\(home)/\(name)-\(i).json", encoding: .utf8)) ?? ""
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(line.utf8))
    }

    struct ClaimReport: Codable {
        var claimed: [Int64]
    }

    struct ClaimersReport: Encodable {
        var processes: Int
        var seconds: Double
        /// Every id claimed by any child, sorted; an id claimed twice appears twice.
        var claimed: [Int64]
        var failedClaimers: Int
    }

    /// One claimer process: claims queued runs (never releasing one) until none is left.
    private func claimChild(_ db: TrackerDB) throws -> ClaimReport {
        let worker = "claimer-\(getpid())"
        var claimed: [Int64] = []
        while let run = try db.claimNextRun(worker: worker, lease: 3600) { claimed.append(run.id!) }
        return ClaimReport(claimed: claimed)
    }

    /// Starts `processes` claimer children at once and gathers what each claimed.
    private func claimers(home: String) throws -> ClaimersReport {
        let t = Date()
        for pid in try spawnChildren("claim", name: "claimer", home: home) {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        let reports = (0..<processes).map { childReport(ClaimReport.self, name: "claimer", $0, home: home) }
        return ClaimersReport(
            processes: processes, seconds: Date().timeIntervalSince(t),
            claimed: reports.flatMap { $0?.claimed ?? [] }.sorted(), failedClaimers: reports.filter { $0 == nil }.count)
    }

    struct WriterReport: Decodable {
        var lockErrors: Double
    }

    /// Starts `processes` writer children and reads while they write.
    private func writers(_ db: TrackerDB, home: String) throws -> [String: Double] {
        let t = Date()
        let pids = try spawnChildren(
            "write", name: "writer", home: home, ["--points", String(points), "--batch", String(batch)])
        var reads = 0
        var readerLockErrors = 0
        var alive = pids
        while !alive.isEmpty {
            do {
                for r in try db.runs() { _ = try db.metricSummaries(runId: r.id!) }
                reads += 1
            } catch  where Self.isLockError(error) {
                readerLockErrors += 1
            }
            alive.removeAll { pid in
                var status: Int32 = 0
                return waitpid(pid, &status, WNOHANG) == pid
            }
        }
        let seconds = Date().timeIntervalSince(t)
        var writerLockErrors = 0.0
        var failedWriters = 0.0
        for i in 0..<processes {
            guard let report = childReport(WriterReport.self, name: "writer", i, home: home) else {
                failedWriters += 1
                continue
            }
            writerLockErrors += report.lockErrors
        }
        let total = Double(points * processes)
        return [
            "processes": Double(processes), "points": total, "seconds": seconds, "pointsPerSecond": total / seconds,
            "writerLockErrors": writerLockErrors, "readerLockErrors": Double(readerLockErrors), "reads": Double(reads),
            "failedWriters": failedWriters,
        ]
    }
}

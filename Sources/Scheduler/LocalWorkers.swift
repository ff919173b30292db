// `tracker run` and `tracker nightly` execute the queue with N local worker *processes*
// (`<this executable> worker --home H --until-empty ...`), not threads: a run that traps takes
// down only its own process, and each worker is exactly what a user would start by hand or from
// cron. This supervisor starts them, recovers expired leases while they run, starts a new worker
// when one dies while work is left, forwards SIGINT/SIGTERM, and reports progress every second.
import Basics
import Foundation
import Store

#if canImport(Glibc)
    import Glibc
#endif

public struct LocalWorkers {
    public var home: String
    public var count: Int
    /// Only runs of this experiment (nil: the whole queue).
    public var experimentId: Int64?
    /// Unix time when workers stop starting runs and release the ones they hold.
    public var deadline: Double?
    /// Extra arguments for each worker (e.g. --lease, --command).
    public var workerArguments: [String] = []
    public var executable = currentExecutablePath()
    public var pollInterval: TimeInterval = 1

    public init(home: String, count: Int, experimentId: Int64? = nil, deadline: Double? = nil) {
        self.home = home
        self.count = count
        self.experimentId = experimentId
        self.deadline = deadline
    }

    /// What the supervisor sees at each poll.
    public struct Snapshot: Sendable {
        public var counts: StateCounts
        public var running: [(run: RunRecord, loss: Double?)]
        public var workersAlive: Int
    }

    public struct Result: Sendable {
        public var counts: StateCounts
        public var interruptedBy: Int32?
        public var hitDeadline: Bool
    }

    /// Runs workers until no queued or running run is left (or the deadline, or a signal).
    public func run(db: TrackerDB, signals: SignalWatcher? = nil, progress: (Snapshot) -> Void) throws -> Result {
        let logDir = home + "/logs"
        try? FileManager.default.createDirectory(atPath: logDir, withIntermediateDirectories: true)
        var alive: [pid_t] = []
        var spawnBudget = count + 2 * max(1, (try db.stateCounts(experimentId: experimentId)).values.reduce(0, +))
        var forwarded: Int32?
        func spawn() throws {
            var args = [executable, "worker", "--home", home, "--until-empty"]
            if let experimentId { args += ["--experiment", String(experimentId)] }
            if let deadline { args += ["--deadline", String(deadline)] }
            args += workerArguments
            let log = "\(logDir)/worker-\(Int(Date().timeIntervalSince1970))-\(getpid())-\(spawnBudget).log"
            alive.append(
                try LocalProcessExecutor.spawnProcess(
                    args, environment: ProcessInfo.processInfo.environment, output: log))
            spawnBudget -= 1
        }
        for _ in 0..<count { try spawn() }
        while true {
            alive.removeAll { pid in
                var status: Int32 = 0
                return waitpid(pid, &status, WNOHANG) == pid
            }
            if forwarded == nil, let s = signals?.received {
                forwarded = s
                for pid in alive { kill(pid, SIGTERM) }
            }
            _ = try db.recoverExpiredLeases()
            let counts = try db.stateCounts(experimentId: experimentId)
            let runs = try db.runs(experimentId: experimentId).filter { $0.state == .running }
            let losses = try db.lastValues(key: MetricKey.trainLoss, runIds: runs.map { $0.id! })
            progress(Snapshot(counts: counts, running: runs.map { ($0, losses[$0.id!]) }, workersAlive: alive.count))
            let queued = counts[.queued] ?? 0
            let running = counts[.running] ?? 0
            let pastDeadline = deadline.map { Date().timeIntervalSince1970 >= $0 } ?? false
            if forwarded != nil || pastDeadline {
                if alive.isEmpty { return Result(counts: counts, interruptedBy: forwarded, hitDeadline: pastDeadline) }
            } else {
                if alive.isEmpty && queued == 0 && running == 0 {
                    return Result(counts: counts, interruptedBy: nil, hitDeadline: false)
                }
                while alive.count < count && queued > alive.count && spawnBudget > 0 { try spawn() }
                if alive.isEmpty && queued > 0 && spawnBudget <= 0 {
                    throw SchedulerError.io(
                        path: logDir, reason: "workers keep exiting while runs are queued; see the worker-*.log files")
                }
            }
            Thread.sleep(forTimeInterval: pollInterval)
        }
    }
}

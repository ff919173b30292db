// `tracker status`: the queue by state, live workers with their run and last heartbeat, runs on
// Slurm with their job ids and states, the rungs of ASHA sweeps (results and pruned runs per
// rung), and the most recent failures. Like every worker, it first recovers runs whose lease
// expired, so a run whose worker died shows up as re-queued (or crashed for good) here.
import ArgumentParser
import Basics
import Foundation
import Scheduler
import Store

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the run queue, live workers and recent failures.")

    @OptionGroup var workspace: WorkspaceOptions

    @Option(help: ArgumentHelp("Only this experiment (name or id).", valueName: "name"))
    var experiment: String?

    @Option(help: "Output: a text summary, or JSON on stdout.")
    var format: OutputFormat = .text

    struct Status: Encodable {
        struct Worker: Encodable {
            var id: String
            var runId: Int64?
            var runName: String?
            var secondsSinceHeartbeat: Double
            /// Progress of its run: the last logged step, the configured steps, the last train loss.
            var step: Int64?
            var steps: Int64?
            var trainLoss: Double?
        }
        struct Failure: Encodable {
            var runId: Int64
            var name: String
            var state: String
            var exitCode: Int64?
            var signal: Int64?
            var finishedAt: String?
            var error: String?
        }
        var counts: [String: Int]
        var recovered: [Int64]
        var workers: [Worker]
        var recentFailures: [Failure]
        var slurm: [SlurmTask]
        var rungs: [RungSummary]
    }

    func run() throws {
        try withCLIErrors {
            let home = workspace.resolvedHome
            let db = try Self.openUpgrading(home)
            let recovered = Self.recoverLeases(home: home)
            let experimentId = try experiment.map { try WorkerCommand.experimentId($0, db) }
            let counts = try db.stateCounts(experimentId: experimentId)
            let now = Date().timeIntervalSince1970
            let workers = try db.liveWorkers(within: 10).map { w in
                var worker = Status.Worker(
                    id: w.id, runId: w.runId, runName: try w.runId.flatMap { try db.run(id: $0)?.name },
                    secondsSinceHeartbeat: (now - w.heartbeatAt).rounded(toPlaces: 1))
                if let runId = w.runId {
                    let loss = try db.metricSummaries(runId: runId).first { $0.key == MetricKey.trainLoss }
                    worker.step = loss?.lastStep
                    worker.trainLoss = loss.map { $0.lastIsNaN ? .nan : ($0.last ?? .nan) }
                    if case .int(let n)? = try db.params(runId: runId)[ConfigKey.steps] { worker.steps = n }
                }
                return worker
            }
            let failures = try db.recentFailures(limit: 5).filter {
                experimentId == nil || $0.experimentId == experimentId
            }.map {
                Status.Failure(
                    runId: $0.id!, name: $0.name, state: $0.state.rawValue, exitCode: $0.exitCode, signal: $0.signal,
                    finishedAt: $0.finishedAt, error: $0.error)
            }
            let slurm = try Self.slurmTasks(home: home, db: db, experimentId: experimentId)
            if recovered == nil {
                writeStderr(
                    "note: the workspace cannot be written (read-only or full): runs whose worker died are shown as they are, not recovered\n"
                )
            }
            let status = Status(
                counts: Dictionary(uniqueKeysWithValues: RunState.allCases.map { ($0.rawValue, counts[$0] ?? 0) }),
                recovered: (recovered ?? []).map { $0.id! }, workers: workers, recentFailures: failures, slurm: slurm,
                rungs: try db.rungSummaries(experimentId: experimentId))
            if format == .json {
                print(try prettyJSON(status))
                return
            }
            print("queue: " + RunState.allCases.map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", "))
            if let recovered, !recovered.isEmpty {
                print(
                    "recovered \(recovered.count) run(s) whose worker stopped sending heartbeats: "
                        + recovered.map { "#\($0.id!) -> \($0.state.rawValue)" }.joined(separator: ", "))
            }
            print("workers: \(workers.isEmpty ? "none alive" : "")")
            for w in workers {
                let run = w.runId.map { "run #\($0) \(w.runName ?? "")" } ?? "idle"
                var progress = ""
                if let step = w.step {
                    progress = "  step \(step)" + (w.steps.map { "/\($0)" } ?? "")
                    if let loss = w.trainLoss { progress += String(format: "  train/loss %.4f", loss) }
                }
                print("  \(w.id)  \(run)\(progress)  heartbeat \(w.secondsSinceHeartbeat)s ago")
            }
            Self.printSlurm(slurm)
            Self.printRungs(status.rungs)
            if !failures.isEmpty {
                print("recent failures:")
                for f in failures {
                    let how = f.exitCode.map { "exit \($0)" } ?? f.signal.map { "signal \($0)" } ?? f.state
                    print("  #\(f.runId) \(f.name)  \(f.state) (\(how))  \(f.finishedAt ?? "")  \(f.error ?? "")")
                }
            }
        }
    }
}

extension StatusCommand {
    /// ASHA sweeps: per experiment, each rung's results and the runs pruned there.
    static func printRungs(_ rungs: [RungSummary]) {
        if rungs.isEmpty { return }
        print("rungs (ASHA):")
        for (name, list) in Dictionary(grouping: rungs, by: \.experiment).sorted(by: { $0.key < $1.key }) {
            let parts = list.map { "rung \($0.rung) (step \($0.step)): \($0.results) results, \($0.pruned) pruned" }
            print("  \(name)  \(list[0].metric)  " + parts.joined(separator: "; "))
        }
    }

    /// The read-only handle; a workspace an older tracker wrote is first upgraded through a
    /// write handle (what StoreError.schemaBehind tells users to run this command for).
    static func openUpgrading(_ home: String) throws -> TrackerDB {
        do {
            return try TrackerDB(home: home, access: .readOnly)
        } catch StoreError.schemaBehind {
            _ = try TrackerDB(home: home)
            return try TrackerDB(home: home, access: .readOnly)
        }
    }

    /// Status's only write: runs whose lease expired go back to the queue (or to crashed). Nil
    /// when the workspace cannot be written (read-only folder or mount, full disk).
    static func recoverLeases(home: String) -> [RunRecord]? {
        do {
            return try TrackerDB(home: home).recoverExpiredLeases()
        } catch {
            return nil
        }
    }
}

extension Double {
    func rounded(toPlaces p: Int) -> Double {
        let m = pow(10, Double(p))
        return (self * m).rounded() / m
    }
}

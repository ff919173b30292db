// `tracker delete RUN|EXPERIMENT... --yes`: removes finished runs from the store with everything
// recorded about them, and their folders and logs from the workspace. Without --yes it lists what
// it would delete and deletes nothing. An experiment's runs go but the experiment stays, so
// `tracker run` on its file enqueues the deleted configs again: the way to re-run (or re-time)
// part of a sweep, where `tracker run --force` would add second copies beside the old runs.
import ArgumentParser
import Foundation
import Store

struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete finished runs, their metrics and their files, by run id or by experiment name.",
        discussion: """
            Only finished runs (succeeded, failed, cancelled, pruned) can be deleted: stop the others \
            with `tracker cancel` first. Without --yes, lists the runs and deletes nothing. An \
            experiment named here keeps its record, so `tracker run` on its file enqueues the deleted \
            runs again.

            Examples:
              tracker delete 42 43
              tracker delete attention-sweep            (lists what would go)
              tracker delete attention-sweep --yes
            """)

    @OptionGroup var workspace: WorkspaceOptions

    @Argument(help: "Run ids or experiment names.")
    var targets: [String]

    @Flag(help: "Delete; without it, only list what would be deleted.")
    var yes = false

    func run() throws {
        try withCLIErrors {
            let db = try TrackerDB(home: workspace.resolvedHome)
            let runs = try runTargets(targets, in: db)
            if runs.isEmpty {
                print("no runs to delete")
                return
            }
            let ids = runs.map { $0.id! }
            guard yes else {
                for r in runs { print("\(r.id!)\t\(r.name)\t\(r.state.rawValue)") }
                let busy = runs.filter { !$0.state.isTerminal }
                if !busy.isEmpty {
                    print(
                        "\(busy.count) of them are not finished (\(busy.map { String($0.id!) }.joined(separator: ", "))): "
                            + "stop them with `tracker cancel` before deleting")
                }
                print("nothing deleted: add --yes to delete these \(runs.count) run(s), their metrics and their files")
                return
            }
            let sweepDirs = Dictionary(
                try db.slurmTasks(runIds: ids).map { ($0.runId, $0.sweepDir) }, uniquingKeysWith: { a, _ in a })
            let deleted = try db.deleteRuns(ids: ids)
            // The rows go first, so a failure below leaves files no run refers to (ids are never
            // reused: migrations/0009), never a run whose checkpoints are missing.
            var bytes: Int64 = 0
            var left: [String] = []
            for r in deleted {
                for path in TrackerDB.runFiles(home: db.home, runId: r.id!, sweepDir: sweepDirs[r.id!]) {
                    bytes += diskUsage(path)
                    do {
                        try FileManager.default.removeItem(atPath: path)
                    } catch {
                        left.append(path)
                    }
                }
            }
            print(
                "deleted \(deleted.count) run(s) and \(String(format: "%.1f", Double(bytes) / 1e6)) MB of their files")
            if !left.isEmpty {
                throw CLIError(
                    description: "the runs are deleted, but these files could not be removed (remove them by hand): "
                        + left.joined(separator: ", "))
            }
        }
    }

    /// Bytes of a file, or of the files under a folder.
    private func diskUsage(_ path: String) -> Int64 {
        let fm = FileManager.default
        func size(_ p: String) -> Int64 {
            guard let a = try? fm.attributesOfItem(atPath: p), a[.type] as? FileAttributeType == .typeRegular
            else { return 0 }
            return (a[.size] as? NSNumber)?.int64Value ?? 0
        }
        guard let inside = fm.enumerator(atPath: path) else { return size(path) }
        var total = size(path)
        for case let sub as String in inside { total += size(path + "/" + sub) }
        return total
    }
}

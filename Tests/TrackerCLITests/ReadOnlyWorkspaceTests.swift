// Readers never write: `report`, `export` and `corpus list` work on a workspace they cannot
// write, `status` shows it without recovering, and a mistyped --home is an error, not a new empty
// workspace. As root (CI), the readers run as `nobody` through setpriv, since root writes
// through any file mode.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

struct ReadOnlyWorkspaceTests {
    /// Runs tracker as an unprivileged user when this process is root, as itself otherwise.
    func runUnprivileged(_ args: [String]) throws -> ProcessResult {
        guard getuid() == 0 else { return try runTracker(args) }
        let setpriv = "/usr/bin/setpriv"
        try #require(FileManager.default.isExecutableFile(atPath: setpriv), "util-linux's setpriv is needed as root")
        return try runProcess(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", trackerBinary] + args)
    }

    /// A workspace with two imported runs, then made read-only (folders r-x, files r--).
    func readOnlyWorkspace() throws -> String {
        let dir = tempDir("readonly")
        let home = dir + "/ws"
        let lines = [
            #"{"run": "alpha", "experiment": "ro", "params": {"train.lr": 0.001}}"#,
            #"{"run": "alpha", "step": 1, "metrics": {"train/loss": 2.5, "val/loss": 2.75}}"#,
            #"{"run": "beta", "experiment": "ro", "params": {"train.lr": 0.003}}"#,
            #"{"run": "beta", "step": 1, "metrics": {"train/loss": 2.25, "val/loss": 2.5}}"#,
        ]
        try lines.joined(separator: "\n").write(toFile: dir + "/runs.jsonl", atomically: true, encoding: .utf8)
        let imported = try runTracker(["import", dir + "/runs.jsonl", "--home", home])
        try #require(imported.status == 0, "import failed: \(imported.stderr)")
        for path in [dir, home] + (try FileManager.default.contentsOfDirectory(atPath: home)).map({ home + "/" + $0 }) {
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
            try FileManager.default.setAttributes(
                [.posixPermissions: isDir.boolValue ? 0o555 : 0o444], ofItemAtPath: path)
        }
        return home
    }

    func modificationTimes(_ home: String) throws -> [String: Date] {
        var times: [String: Date] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: home) {
            times[name] =
                try FileManager.default.attributesOfItem(atPath: home + "/" + name)[.modificationDate] as? Date
        }
        return times
    }

    @Test func readersWorkOnAWorkspaceTheyCannotWrite() throws {
        let home = try readOnlyWorkspace()
        let before = try modificationTimes(home)
        let report = try runUnprivileged(["report", "--home", home, "--format", "csv"])
        #expect(report.status == 0, "report: \(report.stderr)")
        #expect(report.stdout.contains("alpha") && report.stdout.contains("beta"))
        let compare = try runUnprivileged(["report", "--compare", "--experiment", "ro", "--home", home])
        #expect(compare.status == 0, "report --compare: \(compare.stderr)")
        let corpora = try runUnprivileged(["corpus", "list", "--home", home])
        #expect(corpora.status == 0, "corpus list: \(corpora.stderr)")
        let status = try runUnprivileged(["status", "--home", home, "--format", "json"])
        #expect(status.status == 0, "status: \(status.stderr)")
        #expect(status.stdout.contains("\"queued\""))
        #expect(try modificationTimes(home) == before, "a reader changed the workspace")
    }

    @Test(arguments: [["report"], ["report", "--compare"], ["status"], ["corpus", "list"], ["export", "alpha"]])
    func aMistypedHomeIsAnErrorAndCreatesNothing(command: [String]) throws {
        let missing = tempDir("nohome") + "/typo"
        let result = try runTracker(command + ["--home", missing])
        #expect(result.status != 0)
        #expect(result.stderr.contains("no tracker workspace at \(missing)"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: missing), "\(command) created \(missing)")
    }
}

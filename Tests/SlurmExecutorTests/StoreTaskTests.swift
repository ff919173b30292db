// A sweep on a PostgreSQL store: what the head puts in the manifest for the tasks (the URL
// without its password, the 0600 file holding it, or a refusal when the password was typed
// and no file names it), and a task whose node cannot reach the store failing clearly.
import Foundation
import Store
import TestSupport
import Testing

@testable import SlurmExecutor

#if canImport(Glibc)
    import Glibc
#endif

struct StoreTaskTests {
    static func url() throws -> PostgresURL {
        try PostgresURL("postgres://tracker:s3cret@db.example:5433/runs?schema=lab")
    }

    func passwordFile(mode: mode_t) throws -> String {
        let dir = NSTemporaryDirectory() + "pgpass-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/pgpass"
        try "s3cret\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, mode)
        return file
    }

    @Test func aSQLiteHeadNamesNoStore() throws {
        #expect(try SlurmManifest.Store.forTasks(url: nil, password: nil, environment: [:]) == nil)
    }

    @Test func theTasksGetTheURLWithoutPasswordAndTheFilesAbsolutePath() throws {
        let url = try Self.url()
        let file = try passwordFile(mode: 0o600)
        let dir = (file as NSString).deletingLastPathComponent
        let store = try #require(
            try SlurmManifest.Store.forTasks(
                url: url, password: "s3cret", environment: [StoreSettings.passwordFileVariable: "pgpass"],
                currentDirectory: dir))
        #expect(
            store == SlurmManifest.Store(url: "postgres://tracker@db.example:5433/runs?schema=lab", passwordFile: file))
    }

    @Test func aServerThatAsksNoPasswordNeedsNoFile() throws {
        var bare = try Self.url()
        bare.password = nil
        let store = try SlurmManifest.Store.forTasks(url: bare, password: nil, environment: [:])
        #expect(store == SlurmManifest.Store(url: bare.redacted, passwordFile: nil))
    }

    @Test func aTypedPasswordWithoutAFileIsRefused() throws {
        let url = try Self.url()
        #expect {
            try SlurmManifest.Store.forTasks(url: url, password: "s3cret", environment: [:])
        } throws: { error in
            let text = "\(error)"
            return text.contains("TRACKER_DATABASE_PASSWORD_FILE") && text.contains("0600") && !text.contains("s3cret")
        }
    }

    @Test func aPasswordFileOthersMayReadIsRefused() throws {
        let url = try Self.url()
        let file = try passwordFile(mode: 0o644)
        #expect {
            try SlurmManifest.Store.forTasks(
                url: url, password: "s3cret", environment: [StoreSettings.passwordFileVariable: file])
        } throws: { error in
            "\(error)".contains("chmod 600 \(file)")
        }
    }

    /// Nothing listens on 127.0.0.1:1: the task says which store it cannot reach from which node
    /// and exits non-zero before training, so Slurm's state and max_attempts decide what follows.
    @Test func aTaskThatCannotReachTheStoreFailsClearly() throws {
        let dir = NSTemporaryDirectory() + "slurm-unreachable-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let store = SlurmManifest.Store(url: "postgres://tracker@127.0.0.1:1/runs", passwordFile: nil)
        try SlurmManifest(
            home: dir, maxRequeues: 3,
            runs: [SlurmManifest.Entry(runId: 1, name: "seed1", config: #"{"data":{"task":"t1"}}"#, corpus: nil)],
            corpora: [:], store: store
        ).write(sweepDir: dir)
        #expect {
            try StoreReporter(store, home: dir, runId: 1)
        } throws: { error in
            "\(error)".hasPrefix("cannot reach the store at 127.0.0.1:1 from \(ProcessInfo.processInfo.hostName): ")
        }
        let status = SlurmTaskRunner(sweepDir: dir, index: 0, environment: [:], slurm: FakeSlurm()).run()
        #expect(status == 2)
        #expect(!FileManager.default.fileExists(atPath: SlurmTaskRecord.spoolPath(sweepDir: dir, runId: 1)))
    }
}

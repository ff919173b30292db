// Which store a process opens: `--store postgres://USER@HOST:PORT/DB` (every command that opens
// the store has it) or TRACKER_DATABASE_URL; without either, the workspace's SQLite file.
//
// The password: taken from the URL only when the user typed it on the command line; otherwise
// read from the file named by TRACKER_DATABASE_PASSWORD_FILE, which must be readable by its
// owner alone (0600 or 0400). It is kept in this process's memory: never written to the
// environment (sbatch hands its environment to the job, and slurmctld keeps it), a job script,
// a log, or the store. Slurm tasks and local workers read the same file.
import Foundation

public enum StoreSettings {
    /// The environment variable naming the PostgreSQL store.
    public static let urlVariable = "TRACKER_DATABASE_URL"
    /// The environment variable naming the password file.
    public static let passwordFileVariable = "TRACKER_DATABASE_PASSWORD_FILE"

    private static let lock = NSLock()
    nonisolated(unsafe) private static var commandLine: (url: PostgresURL, password: String?)?

    /// Uses the store named on the command line (`--store`) for the rest of this process. Its
    /// URL without the password goes to TRACKER_DATABASE_URL, so child processes (local
    /// workers) open the same store; its password, if any, stays in memory.
    public static func useCommandLineStore(_ text: String) throws {
        let url = try PostgresURL(text)
        lock.lock()
        commandLine = (url, url.password)
        lock.unlock()
        setenv(urlVariable, url.redacted, 1)
    }

    /// The PostgreSQL store this process uses, with its password; nil for the SQLite workspace.
    public static func postgres(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> (url: PostgresURL, password: String?)? {
        lock.lock()
        let given = commandLine
        lock.unlock()
        if let given, given.password != nil { return given }
        let url: PostgresURL
        if let given {
            url = given.url
        } else if let text = environment[urlVariable], !text.isEmpty {
            url = try PostgresURL(text)
            if url.password != nil {
                throw StoreError.badStoreURL(
                    url: url.redacted,
                    reason: "\(urlVariable) must not hold a password (the environment reaches job scripts and "
                        + "child processes): put it in a 0600 file named by \(passwordFileVariable)")
            }
        } else {
            return nil
        }
        let password = try environment[passwordFileVariable].flatMap { $0.isEmpty ? nil : try readPasswordFile($0) }
        return (url, password)
    }

    /// The first line of the password file, which only its owner may read.
    public static func readPasswordFile(_ path: String) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw StoreError.passwordFile(path: path, reason: "it does not exist or cannot be read")
        }
        if st.st_mode & 0o077 != 0 {
            throw StoreError.passwordFile(
                path: path,
                reason:
                    "group or others may read it (mode \(String(st.st_mode & 0o777, radix: 8))): run chmod 600 \(path)"
            )
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw StoreError.passwordFile(path: path, reason: "it cannot be read as UTF-8 text")
        }
        let password = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        if password.isEmpty { throw StoreError.passwordFile(path: path, reason: "its first line is empty") }
        return password
    }
}

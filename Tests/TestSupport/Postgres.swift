// A PostgreSQL server for the tests of the PostgreSQL store: the one TRACKER_TEST_DATABASE_URL
// names (CI's, started by .ci/run), else one this test process starts with
// `.ci/services/postgres.sh start` (in a temp dir, stopped by pid when the process exits).
// Each test gets a schema of its own (`newDatabase()`), so tests run in parallel.
// Tests that need it carry `.requires(.postgres)`: skipped with a warning without a server,
// a failure under CI=true.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

public enum TestPostgres {
    /// The admin URL (with its password) of a running server; nil when none can be had.
    public static var serverURL: String? { server.url }

    /// True when a server runs or could be started.
    public static var available: Bool { server.url != nil }

    /// Why no server could be had, for messages.
    public static var problem: String { server.problem ?? "" }

    /// Creates a new, empty schema and returns the store URL that uses it (with the password).
    public static func newDatabase() throws -> String {
        guard let admin = server.url, var c = URLComponents(string: admin) else {
            throw MissingRequirement(description: "no PostgreSQL server: \(problem)")
        }
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try psql(admin, "CREATE SCHEMA \(name)")
        c.queryItems = (c.queryItems ?? []) + [URLQueryItem(name: "schema", value: name)]
        return c.string!
    }

    /// Runs one SQL command with psql.
    public static func psql(_ url: String, _ sql: String) throws {
        let out = try run("/usr/bin/env", ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        if out.status != 0 { throw MissingRequirement(description: "psql failed: \(out.text)") }
    }

    /// The repository's root (for .ci/services).
    public static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    private struct Server {
        var url: String?
        var problem: String?
    }

    nonisolated(unsafe) private static var stopDir: String?

    private static let server: Server = {
        let env = ProcessInfo.processInfo.environment
        if let url = env["TRACKER_TEST_DATABASE_URL"], !url.isEmpty { return Server(url: url) }
        guard getuid() == 0 else {
            return Server(
                problem: "set TRACKER_TEST_DATABASE_URL, or run as root so .ci/services/postgres.sh can start one")
        }
        let script = repositoryRoot + "/.ci/services/postgres.sh"
        guard let out = try? run("/usr/bin/env", ["TRACKER_POSTGRES_FAST=1", "bash", script, "start"]),
            out.status == 0
        else {
            return Server(problem: "`.ci/services/postgres.sh start` failed (is postgresql installed? run .ci/setup)")
        }
        var vars: [String: String] = [:]
        for line in out.text.split(separator: "\n") {
            var l = line.trimmingCharacters(in: .whitespaces)
            if l.hasPrefix("export ") { l = String(l.dropFirst(7)) }
            guard let eq = l.firstIndex(of: "=") else { continue }
            var value = String(l[l.index(after: eq)...])
            if value.hasPrefix("'") && value.hasSuffix("'") && value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            vars[String(l[..<eq])] = value
        }
        guard let url = vars["TRACKER_TEST_DATABASE_URL"] else {
            return Server(problem: "postgres.sh printed no TRACKER_TEST_DATABASE_URL")
        }
        stopDir = vars["TRACKER_POSTGRES_DIR"]
        atexit {
            guard let dir = TestPostgres.stopDir else { return }
            _ = try? TestPostgres.run(
                "/usr/bin/env", ["bash", TestPostgres.repositoryRoot + "/.ci/services/postgres.sh", "stop", dir])
        }
        return Server(url: url)
    }()

    /// Runs a tool with its output in a temp file, not a pipe (a server it starts in the
    /// background inherits the output, and a pipe would never reach its end), through
    /// posix_spawn and waitpid: Foundation's Process did not reap the child when this ran from
    /// a lazily initialised static inside a test.
    static func run(_ tool: String, _ args: [String]) throws -> (status: Int32, text: String) {
        let path = NSTemporaryDirectory() + "tracker-test-run-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([tool] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, tool, &actions, nil, argv, environ)
        guard rc == 0 else { throw MissingRequirement(description: "cannot run \(tool): error \(rc)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let data = FileManager.default.contents(atPath: path) ?? Data()
        return (exit, String(decoding: data, as: UTF8.self))
    }
}

extension Trait where Self == ConditionTrait {
    /// Needs a PostgreSQL server (see TestPostgres).
    public static var postgres: Self {
        .requires(
            "a PostgreSQL server (TRACKER_TEST_DATABASE_URL, or root with postgresql installed)", TestPostgres.available
        )
    }
}

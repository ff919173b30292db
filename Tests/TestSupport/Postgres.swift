// A PostgreSQL server for the tests of the PostgreSQL store: the one TRACKER_TEST_DATABASE_URL
// names (CI's, started by .ci/run), else one this test process starts with
// `.ci/services/postgres.sh start` (in a temp dir, stopped by pid when the process exits).
// Each test gets a schema of its own (`newDatabase()`), so tests run in parallel.
// Tests that need it carry `.requires(.postgres)`: skipped with a warning without a server,
// a failure under CI=true.
import Foundation
import Testing

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

    static func run(_ tool: String, _ args: [String]) throws -> (status: Int32, text: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
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

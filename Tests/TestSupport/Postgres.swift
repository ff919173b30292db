// A PostgreSQL server for the tests of the PostgreSQL store: the one TRACKER_TEST_DATABASE_URL
// names (CI's, started by .ci/run), else one this test process starts with
// `.ci/services/postgres.sh start` (in a temp dir, stopped by pid when the process exits; see
// ServiceScript).
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
        let out = try ServiceScript.run("/usr/bin/env", ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        if out.status != 0 { throw MissingRequirement(description: "psql failed: \(out.text)") }
    }

    /// The repository's root (for .ci/services).
    public static var repositoryRoot: String { ServiceScript.repositoryRoot }

    private struct Server {
        var url: String?
        var problem: String?
    }

    private static let server: Server = {
        let env = ProcessInfo.processInfo.environment
        if let url = env["TRACKER_TEST_DATABASE_URL"], !url.isEmpty { return Server(url: url) }
        guard getuid() == 0 else {
            return Server(
                problem: "set TRACKER_TEST_DATABASE_URL, or run as root so .ci/services/postgres.sh can start one")
        }
        let vars: [String: String]
        do {
            vars = try ServiceScript.start("postgres.sh", environment: ["TRACKER_POSTGRES_FAST": "1"])
        } catch {
            return Server(problem: "\(error) (is postgresql installed? run .ci/setup)")
        }
        guard let url = vars["TRACKER_TEST_DATABASE_URL"] else {
            return Server(problem: "postgres.sh printed no TRACKER_TEST_DATABASE_URL")
        }
        if let dir = vars["TRACKER_POSTGRES_DIR"] { ServiceScript.stopAtExit("postgres.sh", dir: dir) }
        return Server(url: url)
    }()
}

extension Trait where Self == ConditionTrait {
    /// Needs a PostgreSQL server (see TestPostgres).
    public static var postgres: Self {
        .requires(
            "a PostgreSQL server (TRACKER_TEST_DATABASE_URL, or root with postgresql installed)", TestPostgres.available
        )
    }
}

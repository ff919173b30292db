// Where the store is and how its password is read: the --store / TRACKER_DATABASE_URL URL (parsed
// strictly, never echoed with its password), and the password file (owner-only, or refused).
import Foundation
import Store
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

struct StoreSettingsTests {
    @Test func urlsParseAndRedact() throws {
        let u = try PostgresURL("postgres://alice:s3cret@db.example:6543/tracker?schema=team_a")
        #expect(u.user == "alice" && u.password == "s3cret" && u.host == "db.example" && u.port == 6543)
        #expect(u.database == "tracker" && u.schema == "team_a" && u.socketPath == nil)
        #expect(u.redacted == "postgres://alice@db.example:6543/tracker?schema=team_a")
        let socket = try PostgresURL("postgresql://bob@/tracker?host=/run/pg")
        #expect(socket.socketPath == "/run/pg/.s.PGSQL.5432" && socket.password == nil)
        for bad in [
            "postgres://db/tracker", "postgres://alice@db/", "mysql://alice@db/x", "postgres://alice@db/x?sslmode=1",
            "postgres://alice@db/x?schema=Bad-Name",
        ] {
            #expect(throws: StoreError.self, "\(bad)") { try PostgresURL(bad) }
        }
    }

    /// Mutated URLs parse or fail with a StoreError, and the password never shapes the message:
    /// a URL says the same with its password replaced by ***; one that does not parse is not shown.
    @Test func mutatedURLsNeverLeakThePassword() throws {
        func message(_ text: String) -> String? {
            do {
                _ = try PostgresURL(text)
                return nil
            } catch let e as StoreError {
                return e.description
            } catch {
                return "not a StoreError: \(error)"
            }
        }
        var m = Mutator(seed: 13)
        let valid = "postgres://alice:Zq9Pw7@db.example:6543/tracker?schema=team_a"
        for _ in 0..<3000 {
            let text = m.mutate(valid, maxEdits: 5)
            let said = message(text)
            #expect(said?.hasPrefix("not a StoreError") != true, "\(said ?? "")")
            if var c = URLComponents(string: text) {
                guard c.password != nil else { continue }
                c.password = "***"
                if let masked = c.string { #expect(message(masked) == said, "\(text)") }
            } else if let said {
                #expect(!said.contains(text), "\(said)")
            }
        }
    }

    @Test func thePasswordFileMustBeTheOwnersAlone() throws {
        let dir = tempHome("pgpass")
        let file = dir + "/pass"
        try "hunter2\nignored\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o644)
        let open = #expect(throws: StoreError.self) { try StoreSettings.readPasswordFile(file) }
        #expect(open?.description.contains("chmod 600") == true)
        chmod(file, 0o600)
        #expect(try StoreSettings.readPasswordFile(file) == "hunter2")
        #expect(throws: StoreError.self) { try StoreSettings.readPasswordFile(dir + "/missing") }
        try "\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        #expect(throws: StoreError.self) { try StoreSettings.readPasswordFile(file) }
    }

    @Test func theEnvironmentNamesTheStoreButNeverHoldsThePassword() throws {
        #expect(try StoreSettings.postgres(environment: [:]) == nil)
        let dir = tempHome("pgenv")
        try "pw".write(toFile: dir + "/pass", atomically: true, encoding: .utf8)
        chmod(dir + "/pass", 0o600)
        let found = try #require(
            try StoreSettings.postgres(environment: [
                StoreSettings.urlVariable: "postgres://alice@db/tracker",
                StoreSettings.passwordFileVariable: dir + "/pass",
            ]))
        #expect(found.url.user == "alice" && found.password == "pw")
        let e = #expect(throws: StoreError.self) {
            try StoreSettings.postgres(environment: [StoreSettings.urlVariable: "postgres://alice:pw@db/tracker"])
        }
        #expect(e?.description.contains("TRACKER_DATABASE_PASSWORD_FILE") == true)
        #expect(e?.description.contains("pw@") == false)
    }
}

// The services the integration tests start for themselves when none is named in the
// environment: `.ci/services/NAME start` prints an env file (`export KEY='value'` lines), and
// `.ci/services/NAME stop DIR` stops the daemons by pid when the test process exits.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

enum ServiceScript {
    /// The repository's root (for .ci/services).
    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// Runs `.ci/services/SCRIPT start` with `environment` added and returns the variables of the
    /// env file it prints; a failed start throws with the script's output.
    static func start(_ script: String, environment: [String: String] = [:]) throws -> [String: String] {
        let assignments = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let out = try run("/usr/bin/env", assignments + ["bash", repositoryRoot + "/.ci/services/" + script, "start"])
        guard out.status == 0 else {
            throw MissingRequirement(
                description: "`.ci/services/\(script) start` failed (exit \(out.status)): \(out.text.suffix(2000))")
        }
        return parseEnvFile(out.text)
    }

    /// The `KEY=value` and `export KEY='value'` lines of `text` (other lines are ignored).
    static func parseEnvFile(_ text: String) -> [String: String] {
        var vars: [String: String] = [:]
        for line in text.split(separator: "\n") {
            var l = line.trimmingCharacters(in: .whitespaces)
            if l.hasPrefix("export ") { l = String(l.dropFirst(7)) }
            guard let eq = l.firstIndex(of: "="), !l[..<eq].contains(" ") else { continue }
            var value = String(l[l.index(after: eq)...])
            if value.hasPrefix("'") && value.hasSuffix("'") && value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            vars[String(l[..<eq])] = value
        }
        return vars
    }

    nonisolated(unsafe) private static var toStop: [(script: String, dir: String)] = []
    private static let lock = NSLock()

    /// Stops the service started from `dir` when the process exits (`.ci/services/SCRIPT stop DIR`).
    static func stopAtExit(_ script: String, dir: String) {
        lock.lock()
        defer { lock.unlock() }
        if toStop.isEmpty {
            atexit {
                ServiceScript.lock.lock()
                let all = ServiceScript.toStop
                ServiceScript.lock.unlock()
                for s in all {
                    _ = try? ServiceScript.run(
                        "/usr/bin/env",
                        ["bash", ServiceScript.repositoryRoot + "/.ci/services/" + s.script, "stop", s.dir])
                }
            }
        }
        toStop.append((script, dir))
    }

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

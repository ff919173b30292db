// How a worker runs one run: spawn it, poll it, signal it. The local executor starts a child
// process; the protocol exists so a Slurm executor (spawn = sbatch, poll = sacct, signal =
// scancel) can be added later without touching the worker's lease, heartbeat and bookkeeping
// logic, which only speaks to this protocol.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A started run, as its executor identifies it.
public struct RunHandle: Sendable, Equatable {
    public var runId: Int64
    /// Executor-specific id: a pid for local processes (a job id for a batch system).
    public var id: String
    public var logPath: String
}

/// How a run's process ended.
public enum RunOutcome: Sendable, Equatable {
    case exited(Int32)
    case signaled(Int32)
}

public protocol Executor: Sendable {
    /// Starts `command` for run `runId`, with `environment` added, output appended to `logPath`.
    func spawn(runId: Int64, command: [String], environment: [String: String], logPath: String) throws -> RunHandle
    /// The outcome once the run has ended, nil while it runs.
    func poll(_ handle: RunHandle) throws -> RunOutcome?
    /// Sends `signal` (SIGTERM to stop cleanly, SIGKILL to stop now).
    func signal(_ handle: RunHandle, _ signal: Int32)
}

/// Runs each run as a child process of the worker, in its own process group (so a Ctrl-C meant for
/// a terminal's worker reaches the run only through the worker, exactly once), with SIGINT and
/// SIGTERM reset to their defaults and an empty signal mask.
public struct LocalProcessExecutor: Executor {
    public init() {}

    public func spawn(runId: Int64, command: [String], environment: [String: String], logPath: String) throws
        -> RunHandle
    {
        precondition(!command.isEmpty, "empty command")
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let pid = try Self.spawnProcess(command, environment: env, output: logPath)
        return RunHandle(runId: runId, id: String(pid), logPath: logPath)
    }

    public func poll(_ handle: RunHandle) throws -> RunOutcome? {
        guard let pid = pid_t(handle.id) else { return .exited(127) }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == 0 { return nil }
        if r < 0 {
            if errno == EINTR { return nil }
            throw SchedulerError.io(path: "pid \(pid)", reason: "waitpid failed: \(String(cString: strerror(errno)))")
        }
        return Self.decode(status)
    }

    public func signal(_ handle: RunHandle, _ signal: Int32) {
        if let pid = pid_t(handle.id) { kill(pid, signal) }
    }

    /// Decodes a wait status (WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import).
    static func decode(_ status: Int32) -> RunOutcome {
        let low = status & 0x7f
        return low == 0 ? .exited((status >> 8) & 0xff) : .signaled(low)
    }

    /// posix_spawn of `command` (argv[0] is a path, or a name looked up in PATH), stdin from
    /// /dev/null, stdout and stderr appended to `output`, in a new process group.
    public static func spawnProcess(_ command: [String], environment: [String: String], output: String) throws -> pid_t
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] =
            environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc =
            command[0].contains("/")
            ? posix_spawn(&pid, command[0], &actions, &attr, argv, envp)
            : posix_spawnp(&pid, command[0], &actions, &attr, argv, envp)
        if rc != 0 { throw SchedulerError.spawnFailed(command: command.joined(separator: " "), errno: rc) }
        return pid
    }

    /// The last non-empty line of a log file (the run's error message when it fails).
    public static func lastLine(of path: String, maxBytes: Int = 4096) -> String? {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        let size = (try? h.seekToEnd()) ?? 0
        try? h.seek(toOffset: size > UInt64(maxBytes) ? size - UInt64(maxBytes) : 0)
        let text = String(decoding: h.readDataToEndOfFile(), as: UTF8.self)
        let line = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { $0.trimmingCharacters(in: .whitespaces) }.last { !$0.isEmpty }
        return line.map { String($0.prefix(500)) }
    }
}

/// The path of the running executable (/proc/self/exe), so workers and runs use the same build.
/// When that file was replaced while this process runs (a rebuild during a long `tracker worker`),
/// the link reads "PATH (deleted)": the link itself still executes the build this process runs.
public func currentExecutablePath() -> String {
    guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
        return CommandLine.arguments[0]
    }
    return path.hasSuffix(" (deleted)") ? "/proc/self/exe" : path
}

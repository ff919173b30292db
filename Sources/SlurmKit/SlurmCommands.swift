// The Slurm commands the executor uses, behind a protocol so that tests replay recorded outputs
// and the real implementation runs the binaries.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The Slurm commands tracker runs. Array tasks are always addressed as `A_T`: the array's own
/// id is also the raw id of one of its tasks, so `42` would reach every task of array 42.
public protocol SlurmCommands: Sendable {
    /// `sbatch --parsable SCRIPT`: submits the batch script file; its environment never holds
    /// credentials (the job keeps sbatch's environment).
    func sbatch(scriptPath: String) throws -> SlurmSubmission
    /// `squeue -h -r --states=all -j JOBS -o '%i|%T|%r'`: every task of `jobs` slurmctld still
    /// knows (finished ones for MinJobAge); [] when it knows none of them.
    func squeue(jobs: [Int]) throws -> [SlurmJobStatus]
    /// `sacct -X -n -P -o JobID,State,ExitCode -j JOBS`; throws `.accountingDisabled` on a
    /// cluster without an accounting database. sacct lags slurmctld: a missing job is not gone.
    func sacct(jobs: [Int]) throws -> [SlurmJobStatus]
    /// `sacct -c`: every finished job in the jobcomp/filetxt file, by raw job id (see `latest`).
    func sacctCompletions() throws -> [SlurmJobStatus]
    /// `scontrol show config`.
    func showConfig() throws -> SlurmConfig
    /// `scontrol -o show job ID`; [] when slurmctld no longer knows the job.
    func showJob(_ id: SlurmJobID) throws -> [SlurmJobRecord]
    /// `scontrol requeue ID` (what a worker runs after its checkpoint).
    func requeue(_ id: SlurmJobID) throws
    /// `scancel IDS`, or with `pendingOnly` `scancel --state=PENDING IDS` (drain a sweep).
    func scancel(_ ids: [SlurmJobID], pendingOnly: Bool) throws
    /// `squeue -h --states=all --name=NAME -o '%F|%o'`: the batch script of each job (array)
    /// named `name` that slurmctld knows, so a head that died right after sbatch finds what it
    /// submitted before it submits again.
    func submittedScripts(jobName: String) throws -> [SlurmSubmittedScript]
}

/// Runs the real binaries (found on PATH) with a time budget each, capturing stderr for errors.
public struct ProcessSlurmCommands: SlurmCommands {
    /// The environment of every command (credentials removed); `SLURM_CONF` in it picks the cluster.
    public var environment: [String: String]
    /// Each command is stopped (SIGTERM, then SIGKILL) after this long.
    public var timeout: Duration

    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment, timeout: Duration = .seconds(30)
    ) {
        self.environment = SlurmCredentials.scrubbed(environment)
        self.timeout = timeout
    }

    public func sbatch(scriptPath: String) throws -> SlurmSubmission {
        try SlurmParse.sbatch(run("sbatch", ["--parsable", scriptPath]))
    }

    public func squeue(jobs: [Int]) throws -> [SlurmJobStatus] {
        guard !jobs.isEmpty else { return [] }
        let ids = jobs.map(String.init).joined(separator: ",")
        do {
            return try SlurmParse.squeue(run("squeue", ["-h", "-r", "--states=all", "-j", ids, "-o", "%i|%T|%r"]))
        } catch SlurmError.failed(_, _, let message) where message.contains("Invalid job id specified") {
            return []  // asked for one id slurmctld no longer knows
        }
    }

    public func sacct(jobs: [Int]) throws -> [SlurmJobStatus] {
        guard !jobs.isEmpty else { return [] }
        let ids = jobs.map(String.init).joined(separator: ",")
        do {
            return try SlurmParse.sacct(run("sacct", ["-X", "-n", "-P", "-o", "JobID,State,ExitCode", "-j", ids]))
        } catch SlurmError.failed(_, _, let message) where message.contains("accounting storage is disabled") {
            throw SlurmError.accountingDisabled
        }
    }

    public func sacctCompletions() throws -> [SlurmJobStatus] {
        try SlurmParse.sacct(run("sacct", ["-c", "-X", "-n", "-P", "-o", "JobID,State,ExitCode"]))
    }

    public func showConfig() throws -> SlurmConfig {
        try SlurmParse.config(run("scontrol", ["show", "config"]))
    }

    public func showJob(_ id: SlurmJobID) throws -> [SlurmJobRecord] {
        do {
            return try SlurmParse.jobs(run("scontrol", ["-o", "show", "job", id.description]))
        } catch SlurmError.failed(_, _, let message) where message.contains("Invalid job id specified") {
            return []
        }
    }

    public func requeue(_ id: SlurmJobID) throws {
        _ = try run("scontrol", ["requeue", id.description])
    }

    public func scancel(_ ids: [SlurmJobID], pendingOnly: Bool) throws {
        guard !ids.isEmpty else { return }
        _ = try run("scancel", (pendingOnly ? ["--state=PENDING"] : []) + ids.map(\.description))
    }

    public func submittedScripts(jobName: String) throws -> [SlurmSubmittedScript] {
        try SlurmParse.scripts(run("squeue", ["-h", "--states=all", "--name=\(jobName)", "-o", "%F|%o"]))
    }

    /// Runs `name args`, returns its stdout; throws with its stderr when it fails.
    func run(_ name: String, _ args: [String]) throws -> String {
        guard let path = Self.locate(name, path: environment["PATH"]) else { throw SlurmError.missingCommand(name) }
        let command = ([name] + args).joined(separator: " ")
        let result = try runProcess(path, args, environment: environment, timeout: timeout, command: command)
        guard result.status == 0 else {
            let message = result.stderr.split(whereSeparator: \.isNewline).map(\.trimmingSpaces)
                .filter { !$0.isEmpty }.joined(separator: "; ")
            if Self.unreachableMarkers.contains(where: { message.contains($0) }) {
                throw SlurmError.controllerUnreachable(command: command, message: message)
            }
            throw SlurmError.failed(command: command, status: result.status, message: message)
        }
        return result.stdout
    }

    /// What the Slurm commands print when slurmctld does not answer.
    static let unreachableMarkers = [
        "Unable to contact slurm controller", "Socket timed out", "Connection refused", "Zero Bytes were transmitted",
        "Unable to establish controller",
    ]

    /// The executable file `name` in the directories of `path` (a PATH value), if any.
    static func locate(_ name: String, path: String?) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let dirs = (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        return dirs.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// Output of a finished child process.
struct ProcessResult: Sendable {
    /// The exit code, or 128 + the signal that killed it.
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Collects what a file descriptor delivers until EOF, on a thread of its own (not a dispatch
/// or Swift concurrency thread: those may all be busy with other work, e.g. a training step).
private final class FDReader: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ fd: Int32) {
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                lock.withLock { data.append(contentsOf: buffer[0..<n]) }
            }
            close(fd)
            done.signal()
        }
    }

    /// What was read, after EOF or after `grace` (a grandchild may keep the pipe open).
    func text(grace: Double = 2) -> String {
        _ = done.wait(timeout: .now() + grace)
        return lock.withLock { String(decoding: data, as: UTF8.self) }
    }
}

/// Runs `path args` (posix_spawn; stdin from /dev/null, default signal handlers, no blocked
/// signals) and waits for it with waitpid on the calling thread; stops it with SIGTERM (then
/// SIGKILL 2 s later) when it outlives `timeout`.
func runProcess(
    _ path: String, _ args: [String], environment: [String: String], timeout: Duration, command: String
) throws -> ProcessResult {
    var out: [Int32] = [-1, -1]
    var err: [Int32] = [-1, -1]
    guard pipe(&out) == 0 else { throw spawnError(command, "cannot create a pipe", errno) }
    guard pipe(&err) == 0 else {
        let code = errno
        close(out[0])
        close(out[1])
        throw spawnError(command, "cannot create a pipe", code)
    }
    // other children spawned meanwhile must not inherit the pipes (pipe2 is not imported)
    for fd in out + err { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, out[1], 1)
    posix_spawn_file_actions_adddup2(&actions, err[1], 2)
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE] { sigaddset(&defaults, sig) }
    posix_spawnattr_setsigdefault(&attr, &defaults)
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attr, &empty)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] =
        environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    var rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
    // ETXTBSY: a file just written is still open for writing in a child another thread is
    // spawning at this moment; that child closes it at its exec, so try again briefly
    for _ in 0..<100 where rc == ETXTBSY {
        usleep(10_000)
        rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
    }
    close(out[1])
    close(err[1])
    guard rc == 0 else {
        close(out[0])
        close(err[0])
        throw spawnError(command, "cannot start \(path)", rc)
    }
    let stdout = FDReader(out[0])
    let stderr = FDReader(err[0])

    let deadline = ContinuousClock.now + timeout
    var terminatedAt: ContinuousClock.Instant?
    var status: Int32 = 0
    while true {
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { break }
        if r < 0 && errno != EINTR { throw spawnError(command, "cannot wait for \(path)", errno) }
        let now = ContinuousClock.now
        if let t = terminatedAt {
            if now - t >= .seconds(2) { kill(pid, SIGKILL) }
        } else if now >= deadline {
            kill(pid, SIGTERM)
            terminatedAt = now
        }
        usleep(5_000)
    }
    let output = (stdout.text(), stderr.text())
    if terminatedAt != nil { throw SlurmError.timedOut(command: command, seconds: Int(timeout.seconds.rounded(.up))) }
    let low = status & 0x7f  // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import
    return ProcessResult(status: low == 0 ? (status >> 8) & 0xff : 128 + low, stdout: output.0, stderr: output.1)
}

private func spawnError(_ command: String, _ what: String, _ code: Int32) -> SlurmError {
    .failed(command: command, status: 127, message: "\(what): \(String(cString: strerror(code)))")
}

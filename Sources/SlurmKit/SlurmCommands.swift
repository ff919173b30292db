// The Slurm commands the executor uses, behind a protocol so that tests replay recorded outputs
// and the real implementation runs the binaries.
import Foundation

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
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Collects what a pipe delivers until EOF, on a thread of its own.
private final class PipeReader: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func text() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Runs `path args` with stdin from /dev/null; stopped with SIGTERM (then SIGKILL 2 s later)
/// when it outlives `timeout`.
func runProcess(
    _ path: String, _ args: [String], environment: [String: String], timeout: Duration, command: String
) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = args
    process.environment = environment
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    let exited = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in exited.signal() }
    do {
        try process.run()
    } catch {
        throw SlurmError.failed(
            command: command, status: 127, message: "cannot start \(path): check that it is an executable file")
    }
    let stdout = PipeReader(out.fileHandleForReading)
    let stderr = PipeReader(err.fileHandleForReading)
    let seconds = timeout.seconds
    if exited.wait(timeout: .now() + seconds) == .timedOut {
        process.terminate()
        if exited.wait(timeout: .now() + 2) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
        }
        _ = (stdout.text(), stderr.text())
        throw SlurmError.timedOut(command: command, seconds: Int(seconds.rounded(.up)))
    }
    return ProcessResult(status: process.terminationStatus, stdout: stdout.text(), stderr: stderr.text())
}

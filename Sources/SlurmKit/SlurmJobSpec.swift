import Foundation

// The batch script of one sweep: one job array whose task i execs the worker for run i. Every
// option is an #SBATCH line (the script is the whole record of how the job was asked for);
// credentials never go into it: the worker reads them from its 0600 file.

/// What to ask Slurm for, for every task of one job array.
public struct SlurmJobSpec: Hashable, Sendable {
    /// `--job-name` (e.g. `tracker-<sweep>`), also how a restarted head finds its jobs.
    public var name: String
    /// Partition, account, qos, time limit, CPUs, memory, gres (each one #SBATCH line when set).
    public var resources: SlurmResources
    /// How many tasks (runs) in all; split into arrays of at most MaxArraySize (see `chunks`).
    public var taskCount: Int
    /// At most this many tasks of one array run at once (`--array=...%P`); nil: no limit.
    public var maxParallel: Int?
    /// `--requeue` (Slurm may requeue the task, e.g. on preemption), else `--no-requeue`.
    public var requeue: Bool
    /// `--signal=B:USR1@N`: the worker gets SIGUSR1 N seconds before the time limit (and on
    /// preemption) so it checkpoints and requeues; nil: no signal.
    public var signalSecondsBeforeEnd: Int?
    /// `--output`; Slurm's patterns apply (`%A` array id, `%a` task index).
    public var output: String
    /// `--error`; nil: stderr goes to `output`.
    public var error: String?
    /// Further sbatch options, one per line, with or without the leading `#SBATCH`
    /// (e.g. `--constraint=skylake`).
    public var extraOptions: [String]
    /// The worker's command line; the script execs it with `--index <run index>` appended.
    public var command: [String]

    public init(
        name: String, resources: SlurmResources = SlurmResources(), taskCount: Int, maxParallel: Int? = nil,
        requeue: Bool = true, signalSecondsBeforeEnd: Int? = nil, output: String, error: String? = nil,
        extraOptions: [String] = [], command: [String]
    ) {
        self.name = name
        self.resources = resources
        self.taskCount = taskCount
        self.maxParallel = maxParallel
        self.requeue = requeue
        self.signalSecondsBeforeEnd = signalSecondsBeforeEnd
        self.output = output
        self.error = error
        self.extraOptions = extraOptions
        self.command = command
    }
}

/// One job array of a sweep: runs `offset ..< offset + count`, as array tasks `0 ..< count`
/// (Slurm's array indices must stay below MaxArraySize).
public struct SlurmArrayChunk: Hashable, Sendable {
    public var offset: Int
    public var count: Int

    public init(offset: Int, count: Int) {
        self.offset = offset
        self.count = count
    }
}

extension SlurmJobSpec {
    /// The arrays that hold all `taskCount` tasks, each at most `maxArraySize` tasks long (from
    /// `scontrol show config`). `maxParallel` applies to each array on its own.
    public func chunks(maxArraySize: Int) -> [SlurmArrayChunk] {
        let size = max(1, maxArraySize)
        return stride(from: 0, to: taskCount, by: size).map {
            SlurmArrayChunk(offset: $0, count: min(size, taskCount - $0))
        }
    }

    /// The `#!/bin/bash` batch script of one array.
    public func script(for chunk: SlurmArrayChunk) throws -> String {
        try validate()
        guard chunk.count >= 1, chunk.offset >= 0, chunk.offset + chunk.count <= taskCount else {
            throw SlurmError.invalidSpec("array chunk \(chunk.offset)+\(chunk.count) is outside the \(taskCount) tasks")
        }
        var options: [(String, String?)] = [("--job-name", name)]
        options += resources.sbatchOptions.map { ($0.flag, $0.value) }
        let throttle = maxParallel.map { "%\(min($0, chunk.count))" } ?? ""
        options.append(("--array", "0-\(chunk.count - 1)\(throttle)"))
        options.append((requeue ? "--requeue" : "--no-requeue", nil))
        options.append(("--open-mode", "append"))
        if let seconds = signalSecondsBeforeEnd { options.append(("--signal", "B:USR1@\(seconds)")) }
        options.append(("--output", output))
        if let error { options.append(("--error", error)) }

        var lines = ["#!/bin/bash"]
        for (flag, value) in options {
            lines.append("#SBATCH " + (value.map { "\(flag)=\(Self.sbatchValue($0))" } ?? flag))
        }
        for extra in extraOptions {
            let option = extra.hasPrefix("#SBATCH") ? extra.dropFirst("#SBATCH".count).trimmingSpaces : extra[...]
            lines.append("#SBATCH \(option)")
        }
        let index = chunk.offset == 0 ? "\"$SLURM_ARRAY_TASK_ID\"" : "\"$((\(chunk.offset) + SLURM_ARRAY_TASK_ID))\""
        // exec: the worker becomes the batch shell, so --signal=B:USR1 reaches it directly
        lines.append("exec " + command.map(Self.shellQuoted).joined(separator: " ") + " --index " + index)
        let script = lines.joined(separator: "\n") + "\n"
        if let line = script.split(separator: "\n").first(where: { SlurmCredentials.looksLikeSecret(String($0)) }) {
            throw SlurmError.invalidSpec(
                "the batch script would contain a credential (\(line.prefix(60))...): slurmctld keeps job scripts; "
                    + "let the worker read credentials from its 0600 file instead")
        }
        return script
    }

    /// Throws the first problem that would make sbatch reject the script or misread it.
    public func validate() throws {
        func fail(_ reason: String) -> SlurmError { .invalidSpec(reason) }
        guard !name.isEmpty else { throw fail("the job name is empty") }
        guard taskCount >= 1 else { throw fail("taskCount is \(taskCount): a sweep has at least one run") }
        if let p = maxParallel, p < 1 { throw fail("max_parallel is \(p): use a positive number or leave it out") }
        if let s = signalSecondsBeforeEnd, s < 0 || s > 65_535 {
            throw fail("the USR1 warning is \(s) s before the end: use 0-65535 s")
        }
        try resources.validate()
        guard !command.isEmpty else { throw fail("the worker command is empty") }
        for (field, value) in [("name", name), ("output", output), ("error", error)] {
            if let value { try Self.checkLineValue(field, value) }
        }
        for extra in extraOptions where extra.contains(where: { $0.isNewline || $0 == "\0" }) || extra.isEmpty {
            throw fail("extra sbatch line '\(extra)' is empty or spans several lines: give one option per line")
        }
        for arg in command where arg.contains("\0") { throw fail("a worker argument contains NUL") }
    }

    /// Throws when `value` cannot be the value of one #SBATCH line.
    static func checkLineValue(_ field: String, _ value: String) throws {
        if value.isEmpty { throw SlurmError.invalidSpec("\(field) is empty: leave it out instead") }
        if value.contains(where: { $0 == "\"" || $0.isNewline || $0 == "\0" }) {
            throw SlurmError.invalidSpec(
                "\(field) '\(value)' contains a quote, newline or NUL, which an #SBATCH line cannot hold")
        }
    }

    /// A value for `#SBATCH --opt=VALUE`: sbatch reads double quotes, which keep spaces and `#`.
    private static func sbatchValue(_ value: String) -> String {
        value.contains(where: { $0.isWhitespace || $0 == "#" }) ? "\"\(value)\"" : value
    }

    /// A word for bash: bare when it is plainly safe, else single-quoted.
    static func shellQuoted(_ word: String) -> String {
        let safe =
            !word.isEmpty && word.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0)) }
        return safe ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Slurm's time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S; or UNLIMITED / INFINITE.
    static func isSlurmTime(_ text: String) -> Bool {
        if text == "UNLIMITED" || text == "INFINITE" { return true }
        let dayParts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard dayParts.count <= 2 else { return false }
        let clock = dayParts.last!.split(separator: ":", omittingEmptySubsequences: false)
        let numbers = (dayParts.count == 2 ? [dayParts[0]] : []) + clock
        return clock.count <= 3 && numbers.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
    }
}

// Parsers of the text the Slurm commands print, in the formats `ProcessSlurmCommands` asks for.
// Tested on outputs recorded from Slurm 22.05 (Tests/SlurmKitTests/Fixtures).

/// What `sbatch --parsable` printed: `JOBID` or `JOBID;CLUSTER`.
public struct SlurmSubmission: Hashable, Sendable {
    public var jobID: Int
    public var cluster: String?

    public init(jobID: Int, cluster: String? = nil) {
        self.jobID = jobID
        self.cluster = cluster
    }
}

/// A job (array) and the batch script it was submitted with (squeue `%F|%o`).
public struct SlurmSubmittedScript: Hashable, Sendable {
    /// The array's job id (`%F`; a plain job's own id).
    public var jobID: Int
    /// The script's path as sbatch was given it.
    public var script: String

    public init(jobID: Int, script: String) {
        self.jobID = jobID
        self.script = script
    }
}

/// `scontrol show config`: every `Key = Value` line, with the values the executor needs typed.
public struct SlurmConfig: Hashable, Sendable {
    public var values: [String: String]

    public init(values: [String: String]) { self.values = values }

    /// Largest array index plus one (`--array=0-(MaxArraySize-1)`); Slurm's default is 1001.
    public var maxArraySize: Int { leadingInt(values["MaxArraySize"]) ?? 1001 }
    /// `accounting_storage/none` when there is no accounting database (plain sacct fails).
    public var accountingStorageType: String { values["AccountingStorageType"] ?? "accounting_storage/none" }
    /// Plain `sacct` works.
    public var hasAccounting: Bool { accountingStorageType != "accounting_storage/none" }
    /// Seconds a finished job stays visible to squeue and scontrol (`MinJobAge`, default 300).
    public var minJobAge: Int { leadingInt(values["MinJobAge"]) ?? 300 }
    /// Slurm's version, e.g. `22.05.8`.
    public var version: String? { values["SLURM_VERSION"] }

    private func leadingInt(_ text: String?) -> Int? {
        text.flatMap { Int($0.prefix { $0.isNumber }) }
    }
}

/// One record of `scontrol show job`: all its fields, and the task(s) it stands for (a pending
/// array record stands for a range of tasks).
public struct SlurmJobRecord: Hashable, Sendable {
    public var fields: [String: String]

    public init(fields: [String: String]) { self.fields = fields }

    /// The raw job id (`JobId=`), which for an array task differs from its array's id.
    public var rawJobID: Int? { fields["JobId"].flatMap { Int($0) } }
    /// How many times Slurm restarted the job (requeues).
    public var restarts: Int { fields["Restarts"].flatMap { Int($0) } ?? 0 }

    /// Slurm's NO_VAL: the array's own record once none of its tasks is pending any more
    /// (`ArrayTaskId=4294967294`); it stands for the array as a whole (plain `JOBID`).
    static let noTask = "4294967294"

    /// One status per job or array task the record stands for.
    public func statuses() throws -> [SlurmJobStatus] {
        guard let raw = rawJobID, let state = fields["JobState"] else {
            throw SlurmError.unparsable(
                what: "scontrol show job record", text: fields.keys.sorted().joined(separator: ","),
                expected: "JobId= and JobState= fields")
        }
        let ids: [SlurmJobID]
        if let array = fields["ArrayJobId"].flatMap({ Int($0) }), let tasks = fields["ArrayTaskId"],
            tasks != Self.noTask
        {
            ids = try expandTaskRanges(tasks).map { SlurmJobID(job: array, task: $0) }
        } else {
            ids = [SlurmJobID(job: raw)]
        }
        let reason = fields["Reason"].flatMap { $0 == "None" ? nil : $0 }
        let exit = fields["ExitCode"].flatMap { SlurmExitCode($0) }
        return ids.map { SlurmJobStatus(id: $0, stateText: state, reason: reason, exitCode: exit) }
    }
}

public enum SlurmParse {
    /// `sbatch --parsable`: `42` or `42;cluster` (the last non-empty line; sbatch prints its
    /// warnings on stderr).
    public static func sbatch(_ output: String) throws -> SlurmSubmission {
        let line = output.split(whereSeparator: \.isNewline).last { !$0.allSatisfy(\.isWhitespace) } ?? ""
        let parts = line.trimmingSpaces.split(separator: ";", maxSplits: 1)
        guard let first = parts.first, let id = Int(first), id > 0 else {
            throw SlurmError.unparsable(
                what: "sbatch --parsable output", text: output, expected: "JOBID or JOBID;CLUSTER")
        }
        return SlurmSubmission(jobID: id, cluster: parts.count == 2 ? String(parts[1]) : nil)
    }

    /// `squeue -h -r --states=all -o '%i|%T|%r'`: one status per task; folded pending ranges
    /// (`42_[2-3]`, `42_[0-5%2]`, printed without `-r`) are expanded. Empty output: [].
    public static func squeue(_ output: String) throws -> [SlurmJobStatus] {
        try lines(output).flatMap { line -> [SlurmJobStatus] in
            let f = line.split(separator: "|", omittingEmptySubsequences: false)
            guard f.count == 3, !f[1].isEmpty else {
                throw SlurmError.unparsable(what: "squeue line", text: String(line), expected: "ID|STATE|REASON")
            }
            let reason = f[2] == "None" || f[2].isEmpty ? nil : String(f[2])
            return try SlurmJobID.expand(f[0]).map { SlurmJobStatus(id: $0, stateText: String(f[1]), reason: reason) }
        }
    }

    /// `sacct -X -n -P -o JobID,State,ExitCode`, and the same with `-c` (the jobcomp/filetxt
    /// file, which names array tasks by their raw job ids). Steps (`42.batch`) are skipped;
    /// `CANCELLED by 0` gives `cancelledBy: 0`. A job listed twice (sacct -c lists a requeued
    /// job once per end) appears twice, in order: see `latest`.
    public static func sacct(_ output: String) throws -> [SlurmJobStatus] {
        try lines(output).flatMap { line -> [SlurmJobStatus] in
            let f = line.split(separator: "|", omittingEmptySubsequences: false)
            guard f.count == 3, !f[1].isEmpty, let exit = SlurmExitCode(f[2]) else {
                throw SlurmError.unparsable(what: "sacct line", text: String(line), expected: "JOBID|STATE|CODE:SIGNAL")
            }
            if f[0].contains(".") { return [] }
            let words = f[1].split(separator: " ")
            var by: Int?
            if words.count == 3, words[1] == "by" { by = Int(words[2]) }
            return try SlurmJobID.expand(f[0]).map {
                SlurmJobStatus(id: $0, stateText: String(words[0]), exitCode: exit, cancelledBy: by)
            }
        }
    }

    /// `squeue -h --states=all -o '%F|%o'`: one entry per job (array), in order of first
    /// appearance (an array's tasks print one line each). Empty output: [].
    public static func scripts(_ output: String) throws -> [SlurmSubmittedScript] {
        var seen: Set<SlurmSubmittedScript> = []
        return try lines(output).compactMap { line in
            let f = line.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false)
            guard f.count == 2, let id = Int(f[0]), id > 0, !f[1].isEmpty else {
                throw SlurmError.unparsable(what: "squeue line", text: String(line), expected: "ARRAYJOBID|COMMAND")
            }
            let entry = SlurmSubmittedScript(jobID: id, script: String(f[1]))
            return seen.insert(entry).inserted ? entry : nil
        }
    }

    /// What one squeue answer (`latest(squeue(...))`) says about task `task` of array `array`:
    /// its own line; or, once the array's pending tasks were cancelled together
    /// (`scancel --state=PENDING A`), the array's own final line `A|CANCELLED|...`; nil when
    /// squeue does not list it (a pending task cancelled on its own vanishes, and a task that
    /// ended more than MinJobAge ago is forgotten). Nil or a final outcome: Slurm no longer runs
    /// it, and the store says how it ended.
    public static func taskStatus(_ statuses: [SlurmJobID: SlurmJobStatus], array: Int, task: Int) -> SlurmJobStatus? {
        let id = SlurmJobID(job: array, task: task)
        if let own = statuses[id] { return own }
        guard var whole = statuses[SlurmJobID(job: array)], whole.outcome.isFinal else { return nil }
        whole.id = id
        return whole
    }

    /// The last status of each id (a later line is a later end of the same job).
    public static func latest(_ statuses: [SlurmJobStatus]) -> [SlurmJobID: SlurmJobStatus] {
        var out: [SlurmJobID: SlurmJobStatus] = [:]
        for s in statuses { out[s.id] = s }
        return out
    }

    /// `scontrol show config`.
    public static func config(_ output: String) throws -> SlurmConfig {
        var values: [String: String] = [:]
        for line in lines(output) {
            guard let eq = line.range(of: " = ") ?? line.range(of: "=") else { continue }
            let key = line[..<eq.lowerBound].trimmingSpaces
            guard !key.isEmpty, !key.contains(" ") else { continue }
            values[String(key)] = String(line[eq.upperBound...].trimmingSpaces)
        }
        guard values["ClusterName"] != nil || values["SLURM_VERSION"] != nil else {
            throw SlurmError.unparsable(
                what: "scontrol show config output", text: output, expected: "Key = Value lines with ClusterName")
        }
        return SlurmConfig(values: values)
    }

    /// `scontrol show job` (records separated by blank lines) or `scontrol -o show job` (one
    /// record per line). A value with spaces (`Command=/path/job.sh 60`) keeps its words.
    public static func jobs(_ output: String) throws -> [SlurmJobRecord] {
        let oneLine = !output.contains("\n   ")
        var records: [SlurmJobRecord] = []
        var fields: [String: String] = [:]
        var lastKey: String?
        func flush() {
            if !fields.isEmpty { records.append(SlurmJobRecord(fields: fields)) }
            fields = [:]
            lastKey = nil
        }
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.allSatisfy(\.isWhitespace) {
                flush()
                continue
            }
            for token in line.split(separator: " ") {
                if let eq = token.firstIndex(of: "="),
                    token[..<eq].allSatisfy({ $0.isLetter || $0.isNumber || "/:_".contains($0) }),
                    eq != token.startIndex
                {
                    let key = String(token[..<eq])
                    fields[key] = String(token[token.index(after: eq)...])
                    lastKey = key
                } else if let key = lastKey {
                    fields[key, default: ""] += " " + token
                } else {
                    throw SlurmError.unparsable(
                        what: "scontrol show job output", text: String(line), expected: "Key=Value fields")
                }
            }
            if oneLine { flush() }
        }
        flush()
        return records
    }

    private static func lines(_ output: String) -> [Substring] {
        output.split(whereSeparator: \.isNewline).map(\.trimmingSpaces).filter { !$0.isEmpty }
    }
}

extension StringProtocol {
    var trimmingSpaces: SubSequence {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map { index(after: $0) } ?? start
        return self[start..<Swift.max(start, end)]
    }
}

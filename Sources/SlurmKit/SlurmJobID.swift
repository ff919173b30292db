// Job ids as Slurm prints them: `42` (a job, or the raw id of one array task), `42_3` (task 3 of
// array 42), and pending array tasks folded into one line: `42_[2-3]`, `42_[0-5%2]` (at most 2
// at once), `42_[1,4-7:3]` (a list of ranges with a step).

/// A Slurm job as users address it: a job id (`42`) or one task of a job array (`42_3`).
public struct SlurmJobID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The job id; for an array task, the array's job id.
    public var job: Int
    /// The array task index, nil for a job that is not an array task (or that Slurm printed by
    /// its raw id, as `sacct -c` does).
    public var task: Int?

    public init(job: Int, task: Int? = nil) {
        self.job = job
        self.task = task
    }

    /// Parses `42` or `42_3`; nil for anything else (ranges included: see `SlurmJobID.expand`).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count <= 2, let job = Int(parts[0]), job >= 0 else { return nil }
        if parts.count == 2 {
            guard let task = Int(parts[1]), task >= 0 else { return nil }
            self.init(job: job, task: task)
        } else {
            self.init(job: job)
        }
    }

    public var description: String { task.map { "\(job)_\($0)" } ?? "\(job)" }

    public static func < (a: SlurmJobID, b: SlurmJobID) -> Bool {
        (a.job, a.task ?? -1) < (b.job, b.task ?? -1)
    }

    /// Every id a printed id stands for: `42` and `42_3` stand for themselves, `42_[0-5%2]` for
    /// `42_0` ... `42_5`. Throws on text that is not an id.
    public static func expand(_ text: some StringProtocol) throws -> [SlurmJobID] {
        if let id = SlurmJobID(text) { return [id] }
        let bad = SlurmError.unparsable(what: "job id", text: String(text), expected: "JOB, JOB_TASK or JOB_[RANGES]")
        guard let underscore = text.firstIndex(of: "_"), let job = Int(text[..<underscore]),
            text.hasSuffix("]"), text[text.index(after: underscore)...].hasPrefix("[")
        else { throw bad }
        let inner = text[text.index(underscore, offsetBy: 2)..<text.index(before: text.endIndex)]
        guard let tasks = try? expandTaskRanges(inner) else { throw bad }
        return tasks.map { SlurmJobID(job: job, task: $0) }
    }
}

/// The task indices of a Slurm array range list: `2-3`, `0-5%2` (the `%` throttle is dropped),
/// `1,4-7:3` (comma-separated ranges, `:N` a step).
public func expandTaskRanges(_ text: some StringProtocol) throws -> [Int] {
    let bad = SlurmError.unparsable(
        what: "array task range", text: String(text), expected: "like 0-5, 0-5%2 or 1,3-7:2")
    let body = text.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)[0]
    guard !body.isEmpty else { throw bad }
    var tasks: [Int] = []
    for part in body.split(separator: ",", omittingEmptySubsequences: false) {
        let stepParts = part.split(separator: ":", omittingEmptySubsequences: false)
        guard stepParts.count <= 2 else { throw bad }
        let step = stepParts.count == 2 ? Int(stepParts[1]) : 1
        let bounds = stepParts[0].split(separator: "-", omittingEmptySubsequences: false)
        guard let step, step > 0, bounds.count <= 2, let low = Int(bounds[0]), low >= 0 else { throw bad }
        let high = bounds.count == 2 ? Int(bounds[1]) : low
        guard let high, high >= low else { throw bad }
        tasks.append(contentsOf: stride(from: low, through: high, by: step))
    }
    return tasks
}

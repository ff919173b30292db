// The life cycle of a run (pueue's TaskStatus, reduced to what the run row stores): the state
// column's values and the transitions the queue may make. Every state change in the Store goes
// through `RunState.allowed(from:to:)` and an UPDATE guarded by the expected current state, so a
// lost race shows up as "0 rows changed" instead of a silent overwrite.
public enum RunState: String, Codable, Sendable, CaseIterable {
    case queued, running, succeeded, failed, cancelled, crashed, pruned

    /// Every allowed (from -> to) pair.
    ///
    /// - queued -> running: a worker claimed it; queued -> cancelled: `tracker cancel`.
    /// - running -> succeeded | failed | cancelled: the child exited (0, non-zero, or after a cancel).
    /// - running -> queued: the worker released it (SIGINT/SIGTERM, deadline) to be resumed later.
    /// - running -> crashed: the lease expired (the worker died); crashed -> queued: retried under
    ///   the same id while attempts < maxAttempts, else it stays crashed.
    /// - crashed -> cancelled: a cancel of a crashed run that still had retries.
    /// - running -> pruned: an ASHA sweep stopped it at a rung (its own process records it, then
    ///   exits 0); pruned is final, like succeeded.
    public static let transitions: [RunState: Set<RunState>] = [
        .queued: [.running, .cancelled],
        .running: [.succeeded, .failed, .cancelled, .queued, .crashed, .pruned],
        .crashed: [.queued, .cancelled],
        .succeeded: [],
        .failed: [],
        .cancelled: [],
        .pruned: [],
    ]

    public static func allowed(from: RunState, to: RunState) -> Bool {
        transitions[from]?.contains(to) ?? false
    }

    /// No transition leaves this state.
    public var isTerminal: Bool { Self.transitions[self]?.isEmpty ?? true }
}

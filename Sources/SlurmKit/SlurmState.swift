// Every job state Slurm prints (squeue %T, scontrol JobState=, sacct State) and what it means
// for a run: the one map from Slurm's states to `SlurmOutcome`, which the scheduler maps to its
// run states.

/// A Slurm job state, spelled as Slurm prints it.
public enum SlurmState: String, Sendable, CaseIterable {
    // base states
    case pending = "PENDING"
    case running = "RUNNING"
    case suspended = "SUSPENDED"
    case completed = "COMPLETED"
    case cancelled = "CANCELLED"
    case failed = "FAILED"
    case timeout = "TIMEOUT"
    case nodeFail = "NODE_FAIL"
    case preempted = "PREEMPTED"
    case bootFail = "BOOT_FAIL"
    case deadline = "DEADLINE"
    case outOfMemory = "OUT_OF_MEMORY"
    // states Slurm prints instead of the base state while a flag is set
    case completing = "COMPLETING"
    case configuring = "CONFIGURING"
    case resizing = "RESIZING"
    case requeued = "REQUEUED"
    case requeueFed = "REQUEUE_FED"
    case requeueHold = "REQUEUE_HOLD"
    case specialExit = "SPECIAL_EXIT"
    case stopped = "STOPPED"
    case revoked = "REVOKED"
    case reservationDeleteHold = "RESV_DEL_HOLD"
    case signaling = "SIGNALING"
    case stageOut = "STAGE_OUT"
    case powerUpNode = "POWER_UP_NODE"
    case updateDB = "UPDATE_DB"

    /// Reads a state as squeue, scontrol or sacct print it: `CANCELLED by 0` (sacct names who
    /// cancelled) and `CANCELLED+` (sacct's truncation mark) are CANCELLED. Nil for a state this
    /// code does not know (a newer Slurm's).
    public init?(parsing text: some StringProtocol) {
        var word = String(text.prefix { $0 != " " })
        if word.hasSuffix("+") { word.removeLast() }
        self.init(rawValue: word)
    }

    /// What the state means for a run.
    public var outcome: SlurmOutcome {
        switch self {
        case .pending, .configuring, .powerUpNode, .requeueFed: return .queued
        case .requeueHold, .specialExit, .reservationDeleteHold: return .held
        case .running, .completing, .signaling, .stageOut, .resizing, .updateDB: return .running
        case .suspended, .stopped: return .suspended
        case .requeued: return .requeued
        case .completed: return .completed
        case .failed, .deadline: return .failed
        case .outOfMemory: return .outOfMemory
        case .nodeFail, .bootFail: return .nodeFailure
        case .timeout: return .timeout
        case .preempted: return .preempted
        case .cancelled, .revoked: return .cancelled
        }
    }
}

/// What a Slurm state means for a run. The store stays the truth for how a run ended; this fills
/// the gaps (a task killed by the OOM killer or lost with its node never writes its own end).
public enum SlurmOutcome: String, Sendable, CaseIterable {
    /// Waiting for resources or its turn (PENDING, CONFIGURING, ...).
    case queued
    /// Held: Slurm will not start it until someone releases it (REQUEUE_HOLD, SPECIAL_EXIT).
    case held
    /// Its processes run, or are being cleaned up (RUNNING, COMPLETING, ...).
    case running
    /// Stopped by an administrator (SUSPENDED, STOPPED); it resumes where it was.
    case suspended
    /// Put back in the queue (REQUEUED): by the run itself after a checkpoint, or by preemption.
    case requeued
    /// Ended with exit code 0.
    case completed
    /// Ended with a non-zero exit code or a signal (FAILED), or passed its --deadline.
    case failed
    /// Killed by the out-of-memory killer.
    case outOfMemory
    /// Lost with its node (NODE_FAIL) or its node never booted (BOOT_FAIL).
    case nodeFailure
    /// Killed at its time limit.
    case timeout
    /// Preempted and not requeued by Slurm (PreemptMode=CANCEL, or a job without --requeue).
    case preempted
    /// Cancelled by a user or an administrator.
    case cancelled
    /// A state this code does not know (printed by a newer Slurm).
    case unknown

    /// Slurm will not run the job again on its own: it is over unless someone resubmits it.
    public var isFinal: Bool {
        switch self {
        case .queued, .held, .running, .suspended, .requeued, .unknown: return false
        case .completed, .failed, .outOfMemory, .nodeFailure, .timeout, .preempted, .cancelled: return true
        }
    }

    /// Which retry budget a final outcome spends when the run is tried again: a time limit or a
    /// preemption spends a requeue (the run resumes from its checkpoint), a failure spends an
    /// attempt; nil for success, cancellation and outcomes that are not final.
    public var retryBudget: SlurmRetryBudget? {
        switch self {
        case .timeout, .preempted: return .requeues
        case .failed, .outOfMemory, .nodeFailure: return .attempts
        case .queued, .held, .running, .suspended, .requeued, .completed, .cancelled, .unknown: return nil
        }
    }
}

/// The two budgets of a run that is tried again (`max_requeues` and `max_attempts`).
public enum SlurmRetryBudget: String, Sendable {
    case requeues
    case attempts
}

/// A Slurm exit code, `CODE:SIGNAL`: `3:0` is exit code 3, `0:9` killed by signal 9.
public struct SlurmExitCode: Hashable, Sendable, CustomStringConvertible {
    public var code: Int32
    public var signal: Int32

    public init(code: Int32, signal: Int32 = 0) {
        self.code = code
        self.signal = signal
    }

    /// Parses `3:0`; nil for anything else.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let code = Int32(parts[0]), let signal = Int32(parts[1]) else { return nil }
        self.init(code: code, signal: signal)
    }

    public var description: String { "\(code):\(signal)" }
}

/// One job or array task as squeue, sacct or scontrol reported it.
public struct SlurmJobStatus: Hashable, Sendable {
    public var id: SlurmJobID
    /// The state as Slurm printed it, without sacct's ` by UID` (kept in `cancelledBy`).
    public var stateText: String
    /// Why it waits or how it ended (squeue %r, scontrol Reason=); nil when Slurm says `None`.
    public var reason: String?
    /// How it ended (sacct, scontrol); nil from squeue or while it runs.
    public var exitCode: SlurmExitCode?
    /// The uid that cancelled it (sacct's `CANCELLED by 0`).
    public var cancelledBy: Int?

    public init(
        id: SlurmJobID, stateText: String, reason: String? = nil, exitCode: SlurmExitCode? = nil,
        cancelledBy: Int? = nil
    ) {
        self.id = id
        self.stateText = stateText
        self.reason = reason
        self.exitCode = exitCode
        self.cancelledBy = cancelledBy
    }

    /// The state, nil when this code does not know it.
    public var state: SlurmState? { SlurmState(parsing: stateText) }
    /// What the state means for a run (`.unknown` for a state this code does not know).
    public var outcome: SlurmOutcome { state?.outcome ?? .unknown }
}

/// What went wrong talking to Slurm, as one line that says what to do.
public enum SlurmError: Error, Equatable, CustomStringConvertible {
    /// A Slurm command is not on PATH.
    case missingCommand(String)
    /// The controller does not answer (slurmctld down, wrong SLURM_CONF, network).
    case controllerUnreachable(command: String, message: String)
    /// A command ran longer than its time budget and was killed.
    case timedOut(command: String, seconds: Int)
    /// A command exited non-zero for another reason.
    case failed(command: String, status: Int32, message: String)
    /// `sacct` on a cluster without an accounting database.
    case accountingDisabled
    /// Output that does not have the expected shape.
    case unparsable(what: String, text: String, expected: String)
    /// A job spec that cannot be rendered into a batch script.
    case invalidSpec(String)

    public var description: String {
        switch self {
        case .missingCommand(let name):
            return "\(name) is not on PATH: install Slurm's client commands (Debian: apt-get install slurm-client) "
                + "or add their directory to PATH"
        case .controllerUnreachable(let command, let message):
            return "\(command): the Slurm controller does not answer (\(message)): check `scontrol ping` "
                + "and that SLURM_CONF names this cluster's slurm.conf"
        case .timedOut(let command, let seconds):
            return "\(command) did not answer within \(seconds) s and was stopped: check `scontrol ping`; "
                + "the controller may be overloaded"
        case .failed(let command, let status, let message):
            return "\(command) failed (exit \(status)): \(message.isEmpty ? "no message" : message)"
        case .accountingDisabled:
            return "sacct: this cluster has no accounting database (AccountingStorageType=accounting_storage/none): "
                + "use squeue, or `sacct -c` where JobCompType=jobcomp/filetxt"
        case .unparsable(let what, let text, let expected):
            return "cannot read \(what) '\(text.prefix(200))': expected \(expected) (is this Slurm's usual output?)"
        case .invalidSpec(let reason):
            return "invalid Slurm job: \(reason)"
        }
    }
}

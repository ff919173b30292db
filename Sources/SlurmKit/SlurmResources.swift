// What every task of a job array asks Slurm for: one sbatch option each (partition, account,
// qos, time, cpus per task, memory, generic resources). `options` is the one place such an
// option is declared, with its [executor] key, its sbatch flag and where its value is kept: the
// experiment file's reader (SlurmExecutorConfig) and the batch script (SlurmJobSpec) both go
// through it, so a new resource is one line there.

public struct SlurmResources: Hashable, Sendable {
    /// `--partition`.
    public var partition: String?
    /// `--account`.
    public var account: String?
    /// `--qos`.
    public var qos: String?
    /// `--time`: `MINUTES`, `HH:MM:SS`, `D-HH:MM` and the other forms Slurm accepts.
    public var time: String?
    /// `--cpus-per-task`.
    public var cpusPerTask: Int?
    /// `--mem` per node, e.g. `4G`.
    public var mem: String?
    /// `--gres`, e.g. `gpu:1`.
    public var gres: String?

    public init(
        partition: String? = nil, account: String? = nil, qos: String? = nil, time: String? = nil,
        cpusPerTask: Int? = nil, mem: String? = nil, gres: String? = nil
    ) {
        self.partition = partition
        self.account = account
        self.qos = qos
        self.time = time
        self.cpusPerTask = cpusPerTask
        self.mem = mem
        self.gres = gres
    }

    /// Where an option's value is kept: a text (e.g. `8G`) or a positive count.
    public enum Field {
        case text(WritableKeyPath<SlurmResources, String?>)
        case count(WritableKeyPath<SlurmResources, Int?>)
    }

    /// One resource option: the [executor] key that sets it and the sbatch flag it becomes.
    public struct Option {
        public let key: String
        public let flag: String
        public let field: Field
    }

    /// Every resource option, in the order the batch script lists them.
    public static var options: [Option] {
        [
            Option(key: "partition", flag: "--partition", field: .text(\.partition)),
            Option(key: "account", flag: "--account", field: .text(\.account)),
            Option(key: "qos", flag: "--qos", field: .text(\.qos)),
            Option(key: "time", flag: "--time", field: .text(\.time)),
            Option(key: "cpus_per_task", flag: "--cpus-per-task", field: .count(\.cpusPerTask)),
            Option(key: "mem", flag: "--mem", field: .text(\.mem)),
            Option(key: "gres", flag: "--gres", field: .text(\.gres)),
        ]
    }

    /// The option's value as sbatch gets it (nil: not set).
    public func value(of option: Option) -> String? {
        switch option.field {
        case .text(let path): return self[keyPath: path]
        case .count(let path): return self[keyPath: path].map(String.init)
        }
    }

    /// The options that are set, as (flag, value), in `options`' order.
    public var sbatchOptions: [(flag: String, value: String)] {
        Self.options.compactMap { option in value(of: option).map { (option.flag, $0) } }
    }

    /// Throws the first value sbatch would reject or misread.
    func validate() throws {
        if let c = cpusPerTask, c < 1 { throw SlurmError.invalidSpec("cpus_per_task is \(c): use a positive number") }
        if let time, !SlurmJobSpec.isSlurmTime(time) {
            throw SlurmError.invalidSpec(
                "time '\(time)' is not a Slurm time limit: use MINUTES, HH:MM:SS or D-HH:MM:SS")
        }
        for option in Self.options {
            guard case .text(let path) = option.field, let value = self[keyPath: path] else { continue }
            try SlurmJobSpec.checkLineValue(option.key, value)
        }
    }
}

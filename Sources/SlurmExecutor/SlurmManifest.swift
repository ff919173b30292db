// What a Slurm task needs to run its run without reading the database (a SQLite one only the
// head opens): <submission folder>/manifest.json, written by the head before sbatch. Task i of the submission
// runs `runs[i]`: its id, its resolved config, and the corpus it trains on as the head recorded
// it (paths and checksums), so the task can check its shards before training. With a PostgreSQL
// store it also names the store (URL without password) and the password file the task reads.
import Basics
import Foundation
import Scheduler
import Store

public struct SlurmManifest: Codable, Sendable, Equatable {
    /// A corpus as recorded at ingest: the files a task opens and their checksums.
    public struct Corpus: Codable, Sendable, Equatable {
        public var corpus: CorpusRecord
        public var tokenizer: TokenizerRecord
        public var shards: [ShardRecord]

        public init(_ ingested: IngestedCorpus) {
            corpus = ingested.corpus
            tokenizer = ingested.tokenizer
            shards = ingested.shards
        }

        public var ingested: IngestedCorpus {
            IngestedCorpus(corpus: corpus, sources: [], tokenizer: tokenizer, shards: shards)
        }
    }

    public struct Entry: Codable, Sendable, Equatable {
        public var runId: Int64
        public var name: String
        /// The resolved run config, canonical JSON (as on the run row).
        public var config: String
        /// The corpus [data] names; nil for a synthetic task.
        public var corpus: String?

        public init(runId: Int64, name: String, config: String, corpus: String?) {
            self.runId = runId
            self.name = name
            self.config = config
            self.corpus = corpus
        }
    }

    /// A PostgreSQL store the tasks write themselves: its URL without the password, and the 0600
    /// file on the shared filesystem the task reads the password from (nil: the server asks none).
    public struct Store: Codable, Sendable, Equatable {
        public var url: String
        public var passwordFile: String?

        public init(url: String, passwordFile: String?) {
            self.url = url
            self.passwordFile = passwordFile
        }

        /// What the head puts in the manifest for the store at `url` (nil: a SQLite head, whose
        /// tasks report through spool files). `password` is the one the head uses; the file is
        /// TRACKER_DATABASE_PASSWORD_FILE of `environment`, made absolute and checked (0600). A
        /// password typed in --store with no file is refused: a task can get it from nowhere else.
        public static func forTasks(
            url: PostgresURL?, password: String?, environment: [String: String],
            currentDirectory: String = FileManager.default.currentDirectoryPath
        ) throws -> Store? {
            guard var url else { return nil }
            url.password = nil
            guard let file = environment[StoreSettings.passwordFileVariable], !file.isEmpty else {
                if password != nil { throw SlurmExecutorError.passwordNotInFile(url: url.redacted) }
                return Store(url: url.redacted, passwordFile: nil)
            }
            let path = URL(fileURLWithPath: file, relativeTo: URL(fileURLWithPath: currentDirectory + "/"))
                .absoluteURL.standardized.path
            _ = try StoreSettings.readPasswordFile(path)
            return Store(url: url.redacted, passwordFile: path)
        }
    }

    /// The workspace (on the shared filesystem): run folders and corpora are found from it.
    public var home: String
    public var maxRequeues: Int
    public var runs: [Entry]
    public var corpora: [String: Corpus]
    /// The sweep's ASHA scheduler: a task sends each rung it reaches to the head and waits for
    /// the decision (nil: no early stopping).
    public var asha: AshaConfig?
    /// How long a task waits at a rung for the head's decision before it gives up (seconds;
    /// [executor] rung_timeout; nil in a manifest written before the key: its default).
    public var rungTimeoutSeconds: Double?
    /// The PostgreSQL store the tasks open themselves; nil: they report through spool files.
    public var store: Store?

    public init(
        home: String, maxRequeues: Int, runs: [Entry], corpora: [String: Corpus], asha: AshaConfig? = nil,
        rungTimeoutSeconds: Double? = nil, store: Store? = nil
    ) {
        self.home = home
        self.maxRequeues = maxRequeues
        self.runs = runs
        self.corpora = corpora
        self.asha = asha
        self.rungTimeoutSeconds = rungTimeoutSeconds
        self.store = store
    }

    public static func path(sweepDir: String) -> String { sweepDir + "/manifest.json" }

    /// Writes the manifest into `sweepDir` (atomically: a task never reads half of it).
    public func write(sweepDir: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let url = URL(fileURLWithPath: Self.path(sweepDir: sweepDir))
        do {
            try encoder.encode(self).write(to: url, options: .atomic)
        } catch {
            throw SlurmExecutorError.io(path: url.path, reason: error.localizedDescription)
        }
    }

    /// Reads the manifest of `sweepDir`.
    public static func load(sweepDir: String) throws -> SlurmManifest {
        let path = Self.path(sweepDir: sweepDir)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SlurmExecutorError.noManifest(path: path, host: ProcessInfo.processInfo.hostName)
        }
        do {
            return try JSONDecoder().decode(SlurmManifest.self, from: data)
        } catch {
            throw SlurmExecutorError.io(path: path, reason: "not a tracker Slurm manifest (\(error))")
        }
    }
}

/// What went wrong in the Slurm executor, as one line that says what to do.
public enum SlurmExecutorError: Error, Equatable, CustomStringConvertible {
    case io(path: String, reason: String)
    case noManifest(path: String, host: String)
    case noSuchTask(index: Int, count: Int, path: String)
    /// A run's [data] names a corpus the head's workspace does not hold.
    case noCorpus(name: String, home: String)
    /// A task waiting at an ASHA rung stopped waiting (why).
    case rungWait(String)
    /// The PostgreSQL store's password was typed in --store and no file holds it for the tasks.
    case passwordNotInFile(url: String)
    /// A task cannot open the PostgreSQL store from its node.
    case storeUnreachable(address: String, node: String, reason: String)

    public var description: String {
        switch self {
        case .io(let path, let reason):
            return "\(path): \(reason)"
        case .noManifest(let path, let host):
            return "\(path) does not exist on \(host): put the submission folders ([executor] dir, default "
                + "<home>/slurm) on the shared filesystem, mounted at the same path on every node"
        case .noSuchTask(let index, let count, let path):
            return "task index \(index) is not in \(path) (it lists \(count) runs): was the folder reused?"
        case .noCorpus(let name, let home):
            return "no corpus named '\(name)' in \(home): ingest it first, into a workspace on the shared filesystem"
        case .rungWait(let why):
            return why
        case .passwordNotInFile(let url):
            return "the password of \(url) was typed in --store, but Slurm tasks open the store themselves and "
                + "must read it from a file: put it in a 0600 file on the shared filesystem and name it in "
                + "\(StoreSettings.passwordFileVariable) (then --store needs no password)"
        case .storeUnreachable(let address, let node, let reason):
            return "cannot reach the store at \(address) from \(node): \(reason) (the server must accept "
                + "connections from the compute nodes; Slurm retries the run while attempts are left)"
        }
    }
}

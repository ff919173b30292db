/// Why the tracker database could not be used, with what to do about it.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    /// A reader was pointed at a folder that holds no workspace.
    case noWorkspace(home: String)
    /// A reader was pointed at a database file that does not exist.
    case noDatabase(path: String)
    /// A read-only handle found a database that an older tracker wrote and no writer migrated.
    case schemaBehind(path: String, missing: [String])
    case migrationEdited(name: String)
    case unknownMigrations(names: [String])
    case notFound(what: String, name: String)
    case sqlite(String)
    case runNotFound(String)
    case ambiguousRun(name: String, ids: [Int64])
    case experimentNotFound(String)
    /// A run that is still queued, running or crashed cannot be deleted; `others`: how many more
    /// of the runs asked for are unfinished too.
    case runNotFinished(id: Int64, name: String, state: String, others: Int)
    /// A line of an import file that cannot be used; `line` is 1-based.
    case badImportLine(file: String, line: Int, message: String)
    case cannotRead(path: String, reason: String)
    /// A run's spool file (Slurm tasks' event file) cannot be written.
    case cannotWriteSpool(path: String, reason: String)
    /// `--store` / TRACKER_DATABASE_URL cannot be used (shown without any password).
    case badStoreURL(url: String, reason: String)
    /// The PostgreSQL password file cannot be used.
    case passwordFile(path: String, reason: String)
    /// A run's packed summary (runSummaryPack) cannot be read; `offset` is the byte.
    case badSummaryPack(runId: Int64, part: String, offset: Int, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason) where PostgresURL.isPostgres(path):
            return "cannot open the tracker store \(path): \(reason) (check --store / $TRACKER_DATABASE_URL, "
                + "that the server runs, and the password in $TRACKER_DATABASE_PASSWORD_FILE)"
        case .cannotOpen(let path, let reason):
            return
                "cannot open the tracker database \(path): \(reason) (check --home / $TRACKER_HOME and free disk space)"
        case .noWorkspace(let home):
            return "no tracker workspace at \(home) (no tracker.sqlite there): check --home / $TRACKER_HOME, "
                + "or create one with `tracker ingest` or `tracker run`"
        case .noDatabase(let path):
            return "no tracker database at \(path): check the path"
        case .schemaBehind(let path, let missing):
            return "\(path) was written by an older tracker (missing migrations \(missing.joined(separator: ", "))): "
                + "run a command that writes (e.g. `tracker status`) with write access once to upgrade it"
        case .migrationEdited(let name):
            return
                "migration \(name) differs from the one already applied to this database: migrations are append-only; restore the file and add a new one"
        case .unknownMigrations(let names):
            return
                "the database has migrations this build does not know (\(names.joined(separator: ", "))): it was written by a newer tracker; upgrade tracker"
        case .notFound(let what, let name):
            return "no \(what) named '\(name)' (list them with `tracker corpus list`)"
        case .sqlite(let message):
            return "database error: \(message)"
        case .runNotFound(let run):
            return "no run named or numbered '\(run)' (list runs with `tracker report`)"
        case .ambiguousRun(let name, let ids):
            let list = ids.map(String.init).joined(separator: ", ")
            return "several runs are named '\(name)' (ids \(list)); name the run by its id"
        case .experimentNotFound(let name):
            return "no experiment named '\(name)' (list runs with `tracker report` to see the experiments)"
        case .runNotFinished(let id, let name, let state, let others):
            let more = others == 0 ? "" : " (and \(others) more of the runs asked for are not finished)"
            return "run \(id) (\(name)) is \(state)\(more): only finished runs can be deleted, and nothing was; "
                + "stop it with `tracker cancel \(id)` (or cancel its experiment), wait until `tracker status` "
                + "no longer lists it as running, then delete again"
        case .badImportLine(let file, let line, let message):
            return
                "\(file):\(line): \(message); each line must be {\"run\": NAME, \"params\": {...}, \"tags\": {...}} or {\"run\": NAME, \"step\": N, \"metrics\": {KEY: NUMBER}}"
        case .cannotRead(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .cannotWriteSpool(let path, let reason):
            return
                "cannot write the spool file \(path): \(reason) (check that the folder is writable and the disk not full)"
        case .badStoreURL(let url, let reason):
            return "cannot use the store \(url): \(reason)"
        case .passwordFile(let path, let reason):
            return "cannot use the PostgreSQL password file \(path) (TRACKER_DATABASE_PASSWORD_FILE): \(reason)"
        case .badSummaryPack(let runId, let part, let offset, let reason):
            return "the packed \(part) of run \(runId) (table runSummaryPack) is damaged at byte \(offset): \(reason); "
                + "the database was changed outside tracker: restore it from a backup"
        }
    }
}

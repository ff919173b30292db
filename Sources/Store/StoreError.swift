/// Why the tracker database could not be used, with what to do about it.
public enum StoreError: Error, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case migrationEdited(name: String)
    case unknownMigrations(names: [String])
    case notFound(what: String, name: String)
    case sqlite(String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return
                "cannot open the tracker database \(path): \(reason) (check --home / $TRACKER_HOME and free disk space)"
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
        }
    }
}

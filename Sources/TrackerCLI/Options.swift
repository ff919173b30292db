// Options shared by every subcommand, pulled in with @OptionGroup.
import ArgumentParser
import Foundation
import Store

/// How results are printed: a human summary, or one JSON document on stdout.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

struct WorkspaceOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Workspace folder holding the database, tokenizers, shards and runs.",
            discussion: "Defaults to $TRACKER_HOME, else ./.tracker.", valueName: "dir"))
    var home: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Keep the store (runs, metrics, queue, corpora) in PostgreSQL instead of the workspace's SQLite file.",
            discussion: """
                postgres://USER@HOST:PORT/DATABASE (or ?host=/socket/dir); defaults to $TRACKER_DATABASE_URL. \
                The password comes from the file named by $TRACKER_DATABASE_PASSWORD_FILE (mode 0600), or \
                from this URL when typed here; it never reaches child processes, job scripts or logs. \
                Logs, checkpoints and shards stay in the workspace folder.
                """, valueName: "url"))
    var store: String?

    /// Applies --store for this process (and its local workers) while the arguments are parsed,
    /// so every command opens the same store through `TrackerDB(home:)`.
    func validate() throws {
        guard let store else { return }
        do {
            try StoreSettings.useCommandLineStore(store)
        } catch let e as StoreError {
            throw ValidationError(e.description)
        }
    }

    /// The workspace folder: --home, else $TRACKER_HOME, else ./.tracker.
    var resolvedHome: String {
        if let home { return home }
        if let env = ProcessInfo.processInfo.environment["TRACKER_HOME"], !env.isEmpty { return env }
        return FileManager.default.currentDirectoryPath + "/.tracker"
    }
}

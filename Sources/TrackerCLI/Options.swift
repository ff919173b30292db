// Options shared by every subcommand, pulled in with @OptionGroup.
import ArgumentParser
import Foundation

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

    /// The workspace folder: --home, else $TRACKER_HOME, else ./.tracker.
    var resolvedHome: String {
        if let home { return home }
        if let env = ProcessInfo.processInfo.environment["TRACKER_HOME"], !env.isEmpty { return env }
        return FileManager.default.currentDirectoryPath + "/.tracker"
    }
}

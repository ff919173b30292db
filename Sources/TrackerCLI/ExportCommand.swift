// `tracker export RUN...`: each run's metrics as CSV, its config as JSON, and its data as JSON lines
// that `tracker import` reads back, for other tools.
import ArgumentParser
import Report
import Store

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write runs' metrics (CSV), config (JSON) and import lines (JSONL) for other tools.",
        discussion: """
            For each run, writes NAME.metrics.csv (run,key,step,value; NaN and infinities as nan, inf,
            -inf), NAME.config.json (run facts, resolved config, typed params, tags) and NAME.jsonl (the
            `tracker import` format, so a run moves between workspaces).
            """)

    @OptionGroup var workspace: WorkspaceOptions

    @Argument(help: "Runs by name or id.")
    var runs: [String]

    @Option(name: [.short, .long], help: ArgumentHelp("Folder to write into (created if needed).", valueName: "dir"))
    var output: String = "."

    func validate() throws {
        if runs.isEmpty { throw ValidationError("name at least one run to export") }
    }

    func run() throws {
        let exported = try withCLIErrors {
            try Exporter.export(
                RunReader(db: try TrackerDB(home: workspace.resolvedHome, access: .readOnly)), runs: runs, to: output)
        }
        for e in exported {
            print("\(e.run): \(e.points) metric points")
            for f in e.files { print("  \(f)") }
        }
    }
}

// `tracker import FILE.jsonl`: record runs trained elsewhere (origin 'import') through the same
// batched write path as training; importing the same file again updates instead of duplicating.
import ArgumentParser
import Store

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Record runs trained elsewhere from JSON lines.",
        discussion: """
            Each line is a JSON object, either
              {"run": "torch-softmax", "params": {"model.attention.variant": "softmax"}, "tags": {"source": "pytorch"}}
            (optionally with "experiment": NAME) or
              {"run": "torch-softmax", "step": 100, "metrics": {"train/loss": 3.1, "val/loss": "nan"}}
            Runs are matched by name among imported runs, and a step logged again replaces the old value.
            """)

    @OptionGroup var workspace: WorkspaceOptions

    @Argument(help: "JSON lines files to import.")
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("name a .jsonl file to import") }
    }

    func run() throws {
        let db = try withCLIErrors { try TrackerDB(home: workspace.resolvedHome) }
        for file in files {
            let s = try withCLIErrors { try Importer.importFile(file, into: db) }
            let runs = s.created.count + s.updated.count
            print(
                "\(file): \(runs) run\(runs == 1 ? "" : "s") (\(s.created.count) new, \(s.updated.count) updated), \(s.points) metric points"
            )
        }
    }
}

// `tracker report`: the run table (filter, sort, limit), one run whole (`tracker report RUN`), or a
// comparison (`--compare RUN...` / `--compare --experiment NAME`), in any of five formats.
import ArgumentParser
import Basics
import Foundation
import Glibc
import Report
import Session
import Store

extension ReportFormat: ExpressibleByArgument {}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Show runs at a glance, one run whole, or compare runs.",
        discussion: """
            tracker report [--experiment NAME] [--state S] [--where EXPR] [--sort KEY [--desc]] [--limit N]
            tracker report RUN
            tracker report --compare RUN... | --compare --experiment NAME [--group-by KEY]
            tracker report --results experiments/claims.toml [--experiment NAME] [--format markdown]

            --where compares parameters (train.lr), tags (tag.note), run columns (run.name, run.state,
            run.id, run.experiment, run.origin) and metrics (val/loss, val/loss.min, val/loss.max; names
            with other characters in backticks: `lengen/loss/4x/[2L,4L)`.last) with = != < <= > >= and
            ~ (substring), joined by and / or / not and parentheses:
              --where 'model.attention.variant = "stick_breaking" and train.lr < 0.003 and val/loss.min < 4.2'
            """)

    @OptionGroup var workspace: WorkspaceOptions

    @Argument(help: "Runs by name or id: one shows that run whole; with --compare, the runs to compare.")
    var runs: [String] = []

    @Flag(help: "Compare the runs named, or the runs selected by --experiment/--state/--where.")
    var compare = false

    @Option(
        help: ArgumentHelp(
            "Write the results section a claims file describes: verdicts per claim, then each experiment's tables.",
            valueName: "claims.toml"))
    var results: String?

    @Option(
        help: ArgumentHelp(
            "With --results: how many workers ran the suite side by side, for its wall-clock estimate (2).",
            valueName: "n"))
    var workers: Int?

    @Option(help: ArgumentHelp("Only runs of this experiment.", valueName: "name"))
    var experiment: String?

    @Option(
        help: ArgumentHelp(
            "Only runs in this state (queued, running, succeeded, failed, cancelled, crashed, pruned).",
            valueName: "state"))
    var state: String?

    @Option(
        name: .customLong("where"),
        help: ArgumentHelp("Filter expression over params, tags and metrics (see above).", valueName: "expr"))
    var filter: String?

    @Option(
        help: ArgumentHelp(
            "Sort by a column, parameter, tag or metric (id, name, duration, train.lr, val/loss.min).", valueName: "key"
        ))
    var sort: String?

    @Flag(help: "Sort in descending order.")
    var desc = false

    @Option(help: "Show at most this many runs.")
    var limit: Int?

    @Option(
        name: .customLong("group-by"),
        help: ArgumentHelp(
            "With --compare: group by these parameters (repeat or comma-separate); default: every differing parameter but the seed keys ("
                + ConfigKey.seedKeys.joined(separator: ", ") + ").",
            valueName: "key"))
    var groupBy: [String] = []

    @Option(help: ArgumentHelp("Output format: table, csv, json, markdown or html.", valueName: "format"))
    var format: ReportFormat = .table

    @Flag(name: .customLong("log-y"), help: "Draw loss curves on a log scale.")
    var logY = false

    @Option(
        name: .customLong("metric"),
        help: ArgumentHelp("Metric to chart (repeatable); default train/loss and val/loss.", valueName: "key"))
    var chartMetrics: [String] = []

    @Option(name: [.short, .long], help: ArgumentHelp("Write to this file instead of stdout.", valueName: "file"))
    var output: String?

    static let states = RunState.allCases.map(\.rawValue)

    func validate() throws {
        if let state, !Self.states.contains(state) {
            throw ValidationError("--state must be one of \(Self.states.joined(separator: ", ")), not '\(state)'")
        }
        if !groupBy.isEmpty && !compare { throw ValidationError("--group-by only applies with --compare") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        if workers != nil && results == nil { throw ValidationError("--workers only applies with --results") }
        if results != nil && (compare || !runs.isEmpty || filter != nil) {
            throw ValidationError(
                "--results takes its experiments from the claims file (--experiment picks one of them); "
                    + "drop --compare, runs and --where")
        }
    }

    /// glibc's malloc set for one short report: freed memory stays in the heap for the next
    /// allocation (trim threshold 512 MiB, top pad 64 MiB) and blocks up to 32 MiB come from the
    /// heap rather than from fresh mmaps, so the arrays a 10,000-run comparison builds and drops
    /// are not page-faulted in again each time (9% less CPU, measured side by side with
    /// GLIBC_TUNABLES), and all threads allocate from that heap. Through dlsym: Swift's Glibc module does not export mallopt; without
    /// it nothing changes.
    static func keepFreedMemory() {
        guard let symbol = dlsym(nil, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        _ = mallopt(-1, 512 << 20)  // M_TRIM_THRESHOLD
        _ = mallopt(-2, 64 << 20)  // M_TOP_PAD
        _ = mallopt(-3, 32 << 20)  // M_MMAP_THRESHOLD
        // One arena for every thread: the reader threads' allocations otherwise fault in arenas of
        // their own instead of reusing the main heap's freed room (about 800 page faults and 5%
        // of a 10,000-run comparison's CPU, perf stat with MALLOC_ARENA_MAX=1 side by side).
        _ = mallopt(-8, 1)  // M_ARENA_MAX
    }

    func run() throws {
        Self.keepFreedMemory()
        try withCLIErrors {
            let db = try TrackerDB(home: workspace.resolvedHome, access: .readOnly)
            let doc = try document(RunReader(db: db))
            let color =
                output == nil && format == .table && isatty(1) == 1
                && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
            var bytes = doc.renderUTF8(format, color: color)
            if bytes.last != UInt8(ascii: "\n") || output == nil { bytes.append(UInt8(ascii: "\n")) }
            if let output {
                do {
                    try AtomicFile.save(bytes, to: output)
                } catch {
                    throw CLIError(description: "\(error)")
                }
                print("wrote \(output)")
            } else {
                try bytes.withUnsafeBytes { try AtomicFile.writeAll(1, $0, path: "standard output") }
            }
            // The process ends here, with the document, the runs and the database pool in hand:
            // tearing them down would only give memory back to a process about to exit (about 3%
            // of a 10,000-run comparison's CPU, perf). exit flushes stdio ("wrote ...").
            Glibc.exit(EXIT_SUCCESS)
        }
    }

    /// The report the options ask for.
    private func document(_ reader: RunReader) throws -> ReportDocument {
        let filterExpr = try filter.map(Filter.parse)
        let metrics = chartMetrics.isEmpty ? [MetricKey.trainLoss, MetricKey.valLoss] : chartMetrics
        if let results {
            let tree = try TOMLReader.read(path: results, what: "claims file")
            let claims = try ClaimSet(tree: tree)
            return try Reports.results(
                reader, try experiment.map(claims.only(experiment:)) ?? claims, workers: workers ?? 2)
        }
        if compare {
            let selection = RunSelection(experiment: experiment, state: state, filter: filterExpr, runs: runs)
            let keys = groupBy.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            return try Reports.compare(
                reader,
                CompareQuery(
                    selection: selection, groupBy: keys.isEmpty ? nil : keys, chartMetrics: metrics, logScale: logY))
        }
        if runs.count == 1 && experiment == nil && state == nil && filter == nil {
            return try Reports.run(reader, runs[0], chartMetrics: metrics, logScale: logY)
        }
        let selection = RunSelection(experiment: experiment, state: state, filter: filterExpr, runs: runs)
        return try Reports.runList(
            reader, RunListQuery(selection: selection, sort: sort, descending: desc, limit: limit))
    }
}

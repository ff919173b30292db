// `tracker nightly`: the unattended batch for cron. Under an exclusive lock on <home>/nightly.lock
// it ingests new archives from the corpora folder, enqueues the nightly experiments, runs them
// (theirs only, one experiment after the other; other queued runs are left to `tracker worker`)
// with local workers within a time budget (at the deadline running runs are released and the
// rest stay queued for tomorrow), writes the night's report (Markdown and HTML), prunes old
// checkpoints, and logs everything to <home>/logs/nightly-YYYYMMDD.log. A second copy started
// while one runs exits at once with status 75 (EX_TEMPFAIL); any failure exits non-zero.
import ArgumentParser
import Basics
import Foundation
import Ingest
import Report
import Scheduler
import Store
import TOMLKit

struct NightlyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nightly",
        abstract: "Ingest new corpora, run the nightly experiments within a time budget, report, prune.",
        discussion: """
            Meant for cron (see the README section "Experiments, queue and nightly runs"). Exit \
            status: 0 when everything succeeded, 75 when another nightly run holds the lock, 1 on \
            any failure.
            """)

    /// sysexits.h EX_TEMPFAIL: try again later.
    static let lockedExitCode: Int32 = 75

    @OptionGroup var workspace: WorkspaceOptions

    @Option(help: "The nightly config.", completion: .file(extensions: ["toml"]))
    var config = "experiments/nightly.toml"

    @Option(help: ArgumentHelp("Override the config's time budget, in minutes.", valueName: "minutes"))
    var budget: Double?

    @Flag(help: "Only check the nightly config and its experiment files, then exit.")
    var check = false

    @Option(
        help: ArgumentHelp("Workers run this shell command instead of `tracker train --run ID`.", visibility: .hidden))
    var command: String?

    func run() throws {
        if check {
            try withCLIErrors {
                let settings = try NightlyConfig(tree: try Self.readTOML(config))
                for entry in settings.experiments { _ = try ExperimentFile.load(path: Self.experimentPath(entry)) }
                print("\(config): ok (\(settings.experiments.count) experiment(s))")
            }
            return
        }
        let signals = SignalWatcher()
        let home = workspace.resolvedHome
        try? FileManager.default.createDirectory(atPath: home + "/logs", withIntermediateDirectories: true)
        let lock: FileLock
        do {
            lock = try FileLock(path: home + "/nightly.lock")
        } catch let e as SchedulerError {
            writeStderr("tracker nightly: \(e)\n")
            throw ExitCode(Self.lockedExitCode)
        }
        defer { lock.release() }
        let day = Self.dayStamp()
        let log = NightlyLog(path: "\(home)/logs/nightly-\(day).log")
        log.line("nightly start: config \(config), workspace \(home), pid \(getpid())")
        do {
            try withCLIErrors { try night(home: home, day: day, log: log, signals: signals) }
            log.line("nightly done")
        } catch {
            log.line("nightly FAILED: \(error)")
            throw error
        }
    }

    private func night(home: String, day: String, log: NightlyLog, signals: SignalWatcher) throws {
        let start = Date()
        let startISO = isoNow()
        var settings = try NightlyConfig(tree: try Self.readTOML(config))
        if let budget { settings.timeBudgetMinutes = budget }
        let deadline = start.timeIntervalSince1970 + settings.timeBudgetMinutes * 60
        let db = try TrackerDB(home: home)
        var problems: [String] = []

        // 1. New archives.
        for archive in try Self.archives(in: settings.corporaDir) {
            var options = IngestOptions()
            options.vocabSize = settings.vocabSize
            let pipeline = IngestPipeline(home: home, db: db)
            pipeline.showProgress = false
            do {
                let summary = try pipeline.run(paths: [archive], options: options)
                log.line("ingest \(archive): \(summary.status) (corpus \(summary.corpus))")
            } catch {
                log.line("ingest \(archive): FAILED: \(error)")
                problems.append("ingest \(archive)")
            }
        }

        // 2. Enqueue.
        var experiments: [ExperimentRecord] = []
        for entry in settings.experiments {
            let path = Self.experimentPath(entry)
            let (spec, _) = try ExperimentFile.load(path: path)
            let e = try db.upsertExperiment(name: spec.name, source: path, spec: spec.specJSON)
            let (enqueued, skipped) = try db.enqueue(try spec.plannedRuns(), experimentId: e.id!, force: settings.force)
            log.line("experiment \(spec.name): enqueued \(enqueued.count), \(skipped.count) already present")
            experiments.append(e)
        }

        // 3. Run the nightly experiments' runs within the budget, one experiment after another.
        log.line("running with \(settings.workers) worker(s) until \(Date(timeIntervalSince1970: deadline))")
        for e in experiments {
            var workers = LocalWorkers(home: home, count: settings.workers, experimentId: e.id!, deadline: deadline)
            if let command { workers.workerArguments += ["--command", command] }
            var lastLine = ""
            let result = try workers.run(db: db, signals: signals) { snapshot in
                let line = "\(e.name): " + RunCommand.describe(snapshot)
                if line != lastLine { log.line(line) }
                lastLine = line
            }
            if let s = result.interruptedBy {
                problems.append("interrupted by signal \(s)")
                break
            }
            if result.hitDeadline {
                log.line("time budget reached: unfinished runs stay queued")
                break
            }
        }
        let ids = Set(experiments.map { $0.id! })
        let failed = try db.runs().filter {
            ids.contains($0.experimentId ?? -1) && ($0.state == .failed || $0.state == .crashed)
                && ($0.finishedAt ?? "") >= startISO
        }
        for r in failed { log.line("run #\(r.id!) \(r.name) \(r.state.rawValue): \(r.error ?? "")") }
        if !failed.isEmpty { problems.append("\(failed.count) run(s) failed") }

        // 4. Report.
        let dir = settings.reportDir.hasPrefix("/") ? settings.reportDir : home + "/" + settings.reportDir
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let (markdown, html) = try Self.renderReport(db: db, experiments: experiments.map(\.name), day: day)
            try markdown.write(toFile: "\(dir)/nightly-\(day).md", atomically: true, encoding: .utf8)
            try html.write(toFile: "\(dir)/nightly-\(day).html", atomically: true, encoding: .utf8)
            log.line("report: \(dir)/nightly-\(day).md and .html")
        } catch {
            log.line("report FAILED: \(error)")
            problems.append("report")
        }

        // 5. Retention.
        let deleted = try CheckpointRetention.prune(db: db, home: home, rule: settings.retention)
        log.line(
            "retention: deleted \(deleted.count) old checkpoint(s) (keep last \(settings.retention.keepLast)\(settings.retention.keepBest ? " + best \(settings.retention.bestMetric)" : ""))"
        )

        if !problems.isEmpty {
            throw CLIError(description: "nightly finished with problems: " + problems.joined(separator: "; "))
        }
    }

    /// The night's report: one document with, for each nightly experiment, the same comparison
    /// `tracker report --compare --experiment NAME` prints (differing parameters, groups over
    /// seeds, length-generalisation and task tables, loss curves), rendered once as Markdown and
    /// once as a single self-contained HTML page.
    static func renderReport(db: TrackerDB, experiments: [String], day: String) throws -> (
        markdown: String, html: String
    ) {
        let reader = RunReader(db: db)
        var sections: [ReportSection] = []
        for name in experiments {
            let selection = RunSelection(experiment: name)
            let doc: ReportDocument
            do {
                doc = try Reports.compare(reader, CompareQuery(selection: selection))
            } catch {
                doc = try Reports.runList(reader, RunListQuery(selection: selection))
            }
            sections.append(.note("Experiment \(name): \(doc.title)"))
            sections += doc.sections
        }
        let night = ReportDocument(title: "tracker nightly \(day)", sections: sections)
        return (night.render(.markdown), night.render(.html))
    }

    /// An experiments entry: a path ending in .toml, or a name under experiments/.
    static func experimentPath(_ entry: String) -> String {
        entry.hasSuffix(".toml") ? entry : "experiments/\(entry).toml"
    }

    static func readTOML(_ path: String) throws -> Scheduler.ConfigValue {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CLIError(
                description: "cannot read the nightly config \(path): \(error.localizedDescription) (pass --config)")
        }
        do {
            return try ExperimentFile.convert(try TOMLText.parse(text), path: "")
        } catch let e as CLIError {
            throw e
        } catch {
            throw CLIError(description: "\(path) is not valid TOML: \(error)")
        }
    }

    /// Archives directly inside `dir`, sorted (a missing folder has none).
    static func archives(in dir: String) throws -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        let kinds = [".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2", ".tar.zst", ".zip", ".7z"]
        return names.filter { n in kinds.contains { n.hasSuffix($0) } }.sorted().map { dir + "/" + $0 }
    }

    static func dayStamp() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd"
        f.locale = Locale(identifier: "en_US_POSIX")
        return f.string(from: Date())
    }
}

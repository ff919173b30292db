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
import Session
import Store

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
            lock = try takeNightlyLock(path: home + "/nightly.lock")
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

    /// The night's five steps; each problem is logged and the night goes on, failing at the end.
    private func night(home: String, day: String, log: NightlyLog, signals: SignalWatcher) throws {
        let start = Date()
        let startISO = isoNow()
        var settings = try NightlyConfig(tree: try Self.readTOML(config))
        if let budget { settings.timeBudgetMinutes = budget }
        let deadline = start.timeIntervalSince1970 + settings.timeBudgetMinutes * 60
        let db = try TrackerDB(home: home)
        var problems = Self.ingestNewArchives(settings, home: home, db: db, log: log)
        let experiments = try Self.enqueue(settings, db: db, log: log)
        problems += try runExperiments(
            experiments, settings, deadline: deadline, home: home, db: db, log: log, signals: signals)
        problems += try Self.failedRuns(experiments, since: startISO, db: db, log: log)
        problems += Self.writeReport(settings, experiments: experiments, home: home, day: day, db: db, log: log)
        let deleted = try CheckpointRetention.prune(db: db, home: home, rule: settings.retention)
        let best = settings.retention.keepBest ? " + best \(settings.retention.bestMetric)" : ""
        log.line(
            "retention: deleted \(deleted.count) old checkpoint(s) (keep last \(settings.retention.keepLast)\(best))")
        if !problems.isEmpty {
            throw CLIError(description: "nightly finished with problems: " + problems.joined(separator: "; "))
        }
    }

    /// 1. Ingests every archive in the corpora folder (an archive already ingested is a no-op).
    private static func ingestNewArchives(_ settings: NightlyConfig, home: String, db: TrackerDB, log: NightlyLog)
        -> [String]
    {
        var problems: [String] = []
        for archive in (try? archives(in: settings.corporaDir)) ?? [] {
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
        return problems
    }

    /// 2. Enqueues the nightly experiments' runs.
    private static func enqueue(_ settings: NightlyConfig, db: TrackerDB, log: NightlyLog) throws -> [ExperimentRecord]
    {
        var experiments: [ExperimentRecord] = []
        for entry in settings.experiments {
            let path = experimentPath(entry)
            let (spec, plans) = try ExperimentFile.load(path: path)
            let (e, enqueued, skipped) = try ExperimentFile.enqueue(
                spec, plans, source: path, db: db, force: settings.force)
            log.line("experiment \(spec.name): enqueued \(enqueued.count), \(skipped.count) already present")
            experiments.append(e)
        }
        return experiments
    }

    /// 3. Runs the nightly experiments' runs within the budget, one experiment after another.
    private func runExperiments(
        _ experiments: [ExperimentRecord], _ settings: NightlyConfig, deadline: Double, home: String, db: TrackerDB,
        log: NightlyLog, signals: SignalWatcher
    ) throws -> [String] {
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
            if let s = result.interruptedBy { return ["interrupted by signal \(s)"] }
            if result.hitDeadline {
                log.line("time budget reached: unfinished runs stay queued")
                break
            }
        }
        return []
    }

    /// The nightly experiments' runs that failed tonight, logged.
    private static func failedRuns(
        _ experiments: [ExperimentRecord], since startISO: String, db: TrackerDB, log: NightlyLog
    )
        throws -> [String]
    {
        let ids = Set(experiments.map { $0.id! })
        let failed = try db.runs().filter {
            ids.contains($0.experimentId ?? -1) && ($0.state == .failed || $0.state == .crashed)
                && ($0.finishedAt ?? "") >= startISO
        }
        for r in failed { log.line("run #\(r.id!) \(r.name) \(r.state.rawValue): \(r.error ?? "")") }
        return failed.isEmpty ? [] : ["\(failed.count) run(s) failed"]
    }

    /// 4. Writes the night's report as Markdown and HTML.
    private static func writeReport(
        _ settings: NightlyConfig, experiments: [ExperimentRecord], home: String, day: String, db: TrackerDB,
        log: NightlyLog
    ) -> [String] {
        let dir = settings.reportDir.hasPrefix("/") ? settings.reportDir : home + "/" + settings.reportDir
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let (markdown, html) = try renderReport(db: db, experiments: experiments.map(\.name), day: day)
            try markdown.write(toFile: "\(dir)/nightly-\(day).md", atomically: true, encoding: .utf8)
            try html.write(toFile: "\(dir)/nightly-\(day).html", atomically: true, encoding: .utf8)
            log.line("report: \(dir)/nightly-\(day).md and .html")
            return []
        } catch {
            log.line("report FAILED: \(error)")
            return ["report"]
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

    static func readTOML(_ path: String) throws -> ConfigValue {
        try TOMLReader.read(path: path, what: "nightly config", hint: "pass --config")
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

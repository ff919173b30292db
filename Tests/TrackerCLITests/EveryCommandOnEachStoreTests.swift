// Every command of a working day, as a user types it, once per store (see TestStores.swift):
// SQLite (`--home`) and PostgreSQL (`--store postgres://`, the password in a 0600 file). Ingest
// and the corpus listing, a local sweep on two worker processes, a queued run taken by
// `tracker worker`, a cancel, a delete, status, the reports, export and import into the other kind of
// store, the nightly job, and `tracker serve` answering over HTTP. The Slurm suite
// (SlurmExecutorCLITests) does the same for runs on a cluster.
import Foundation
import Store
import TestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

@Suite(.tags(.slow)) struct EveryCommandOnEachStoreTests {
    /// A tiny model on the ingested corpus, `seeds` seeds, 8 steps, checkpoints at 4 and 8.
    static func experiment(_ name: String, home: String, seeds: [Int]) throws -> String {
        try tinyExperiment(
            name, home: home, data: "[data]\ncorpus = \"bundled\"", steps: 8, seeds: seeds, checkpointEvery: 4)
    }

    @Test(.timeLimit(.minutes(10)), arguments: TestStore.tested)
    func aWorkingDayRunsOnEitherStore(_ store: TestStore) throws {
        let w = try TestWorkspace(store, "every-command")
        func ok(_ args: [String], _ what: String) throws -> ProcessResult {
            let r = try w.tracker(args)
            #expect(r.status == 0, "\(what): tracker \(args.joined(separator: " ")) exited \(r.status)\n\(r.stderr)")
            return r
        }

        // ingest, and the corpus in the store
        _ = try ok(
            ["ingest", repoRoot + "/corpora/bundled.tar.xz", "--name", "bundled", "--vocab-size", "300"], "ingest")
        #expect(try ok(["corpus", "list"], "corpus list").stdout.contains("bundled"))
        let shown = try ok(["corpus", "show", "bundled"], "corpus show").stdout
        #expect(shown.contains("train") && shown.contains("val"), "\(shown)")

        // a local sweep on two worker processes, then a queued run taken by `tracker worker`
        let sweep = try Self.experiment("day", home: w.home, seeds: [1, 2])
        _ = try ok(["run", sweep, "--workers", "2"], "run")
        #expect(try w.db.runs().map(\.state) == [.succeeded, .succeeded])
        let laterFile = try Self.experiment("later", home: w.home, seeds: [3])
        #expect(try ok(["run", laterFile, "--no-wait"], "run --no-wait").stdout.contains("enqueued 1 run(s)"))
        _ = try ok(["worker", "--until-empty"], "worker")
        #expect(try w.db.runs().map(\.state) == [.succeeded, .succeeded, .succeeded])
        for run in try w.db.runs() {
            #expect(try w.db.metrics(runId: run.id!, key: "train/loss").map(\.step) == Array(1...8))
            #expect(try w.db.latestCheckpoint(runId: run.id!)?.step == 8)
        }

        // a cancel of a queued run, and the queue as status shows it
        let dropped = try Self.experiment("dropped", home: w.home, seeds: [4])
        _ = try ok(["run", dropped, "--no-wait"], "run --no-wait")
        _ = try ok(["cancel", "dropped"], "cancel")
        #expect(try w.db.stateCounts() == [.succeeded: 3, .cancelled: 1])
        let ended = try ok(["cancel", "1"], "cancel of a finished run")  // says so, changes nothing
        #expect(ended.stderr.contains("run 1 (seed1) has already ended (succeeded)"), "\(ended.stderr)")
        #expect(try w.db.stateCounts() == [.succeeded: 3, .cancelled: 1])
        let status = try ok(["status"], "status").stdout
        #expect(status.contains("succeeded") && status.contains("cancelled"), "\(status)")

        // the reports
        let table = try ok(["report", "--experiment", "day"], "report").stdout
        #expect(table.contains("seed1") && table.contains("seed2"), "\(table)")
        let json = try ok(["report", "--compare", "--experiment", "day", "--format", "json"], "report --compare")
        let compared = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8))
        #expect(JSONSerialization.isValidJSONObject(compared))
        #expect(json.stdout.contains("train/loss"))
        let html = try ok(["report", "--experiment", "day", "--format", "html"], "report html").stdout
        #expect(html.hasPrefix("<!DOCTYPE html>") || html.hasPrefix("<!doctype html>"), "\(html.prefix(80))")

        // export, and import into the other kind of store: the runs arrive with their metrics
        let out = w.home + "/export"
        _ = try ok(["export", "seed1", "seed2", "--output", out], "export")
        let lines = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".jsonl") }
        #expect(!lines.isEmpty, "export wrote no import lines")
        let other: TestStore = store == .sqlite ? .postgres : .sqlite
        if other == .sqlite || TestPostgres.available {
            let target = try TestWorkspace(other, "every-command-import")
            let files = lines.map { out + "/" + $0 }
            let imported = try target.tracker(["import"] + files)
            #expect(imported.status == 0, "\(imported.stderr)")
            let again = try target.tracker(["import"] + files)
            #expect(again.status == 0, "\(again.stderr)")
            let moved = try target.db.runs()
            #expect(moved.count == 2, "import twice is import once: \(moved.map(\.name))")
            for run in moved {
                let source = try #require(try w.db.runs().first { $0.name == run.name })
                #expect(
                    try target.db.metrics(runId: run.id!, key: "train/loss").map(\.value)
                        == w.db.metrics(runId: source.id!, key: "train/loss").map(\.value))
            }
        }

        // delete: a finished experiment's runs with their rows and files (listed first without
        // --yes); an enqueued run is refused until cancelled; `run` enqueues deleted configs again
        let later = try #require(try w.db.runs().first { $0.name.hasSuffix("seed3") })
        let laterFiles = TrackerDB.runFiles(home: w.home, runId: later.id!)
        #expect(laterFiles.contains { $0.hasSuffix("/runs/\(later.id!)") }, "\(laterFiles)")
        let listed = try ok(["delete", "later", "dropped"], "delete (list)").stdout
        #expect(listed.contains("nothing deleted") && listed.contains("seed3"), "\(listed)")
        #expect(try w.db.stateCounts() == [.succeeded: 3, .cancelled: 1])
        #expect(try ok(["delete", "later", "dropped", "--yes"], "delete").stdout.contains("deleted 2 run(s)"))
        #expect(try w.db.stateCounts() == [.succeeded: 2])
        #expect(TrackerDB.runFiles(home: w.home, runId: later.id!).isEmpty)
        #expect(try w.db.metrics(runId: later.id!, key: "train/loss").isEmpty)
        #expect(try ok(["run", laterFile, "--no-wait"], "run again").stdout.contains("enqueued 1 run(s)"))
        let refused = try w.tracker(["delete", "later", "--yes"])
        #expect(refused.status != 0 && refused.stderr.contains("tracker cancel"), "\(refused.stderr)")
        _ = try ok(["cancel", "later"], "cancel")
        _ = try ok(["delete", "later", "--yes"], "delete after cancel")
        #expect(try w.db.stateCounts() == [.succeeded: 2])

        // the nightly job: a new archive in its folder, its experiment, its report
        let drop = w.home + "/incoming"
        try FileManager.default.createDirectory(atPath: drop, withIntermediateDirectories: true)
        let words = ["alpha", "beta", "gamma", "delta", "river", "stone", "light", "night"]
        var rows: [String] = []
        for i in 0..<400 {
            let line: [String] = (0..<12).map { (j: Int) -> String in words[(i * 7 + j * 3 + i * j) % words.count] }
            rows.append(line.joined(separator: " "))
        }
        let text = rows.joined(separator: "\n")
        try text.write(toFile: drop + "/notes.txt", atomically: true, encoding: .utf8)
        let tar = try runProcess("/usr/bin/env", ["tar", "-C", drop, "-czf", drop + "/notes.tar.gz", "notes.txt"])
        #expect(tar.status == 0, "\(tar.stderr)")
        try FileManager.default.removeItem(atPath: drop + "/notes.txt")
        let night = try Self.experiment("night", home: w.home, seeds: [5])
        try """
        experiments = ["\(night)"]
        time_budget_minutes = 5
        corpora_dir = "\(drop)"
        vocab_size = 300
        report_dir = "reports"
        """.write(toFile: w.home + "/nightly.toml", atomically: true, encoding: .utf8)
        _ = try ok(["nightly", "--config", w.home + "/nightly.toml"], "nightly")
        #expect(try w.db.corpus(named: "notes") != nil && w.db.corpora().count == 2, "the nightly's ingest")
        #expect(try w.db.stateCounts() == [.succeeded: 3])
        let reports = (try? FileManager.default.contentsOfDirectory(atPath: w.home + "/reports")) ?? []
        #expect(reports.contains { $0.hasPrefix("nightly-") && $0.hasSuffix(".html") }, "\(reports)")

        // tracker serve: the runs' page over HTTP from this store
        let page = try served(w, path: "/runs")
        #expect(page.contains("seed1") && page.contains("seed5"), "\(page.prefix(400))")
    }

    /// Starts `tracker serve --port 0` on the workspace, fetches `path`, stops the server.
    func served(_ w: TestWorkspace, path: String) throws -> String {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: trackerBinary)
        server.arguments = ["serve", "--port", "0"] + w.arguments()
        server.environment = ProcessInfo.processInfo.environment.merging(w.environment) { $1 }
        let out = Pipe()
        server.standardOutput = out
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            if server.isRunning {
                kill(server.processIdentifier, SIGTERM)
                server.waitUntilExit()
            }
        }
        // "tracker serve: http://127.0.0.1:PORT/ (Ctrl-C stops it)"
        var announced = ""
        while !announced.contains("\n") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            announced += String(decoding: chunk, as: UTF8.self)
        }
        let base = try #require(
            announced.split(separator: " ").first { $0.hasPrefix("http://") }.map(String.init),
            "tracker serve did not say where it listens: \(announced)")
        let url = try #require(URL(string: base.hasSuffix("/") ? base + path.dropFirst() : base + path))
        return String(decoding: try Data(contentsOf: url), as: UTF8.self)
    }
}

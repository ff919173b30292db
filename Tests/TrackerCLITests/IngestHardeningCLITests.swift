// The hostile round of issue 11 for ingest, scan, tokenizer and the data a run loads, through the
// real binary: two ingests of one corpus at once, sizes out of range, `scan --home`, and a
// damaged corpus (a changed shard byte, a token outside the vocabulary, a missing tokenizer).
import Basics
import Foundation
import Testing

private func smallCorpus() throws -> String {
    let src = tempDir("src")
    for i in 0..<40 {
        try "Text \(i): the cat sat on the mat, the dog barked \(i * 7) times, and it rained.\n"
            .write(toFile: "\(src)/t\(i).txt", atomically: true, encoding: .utf8)
    }
    return src
}

private func corpusShow(_ home: String, _ name: String) throws -> [String: Any] {
    let show = try runTracker(["corpus", "show", name, "--home", home, "--format", "json"])
    #expect(show.status == 0, "\(show.stderr)")
    return try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
}

/// Exit status of a process killed by a signal (a trap is SIGILL or SIGTRAP/SIGABRT).
private func isTrap(_ r: ProcessResult) -> Bool { [4, 5, 6, 132, 133, 134].contains(r.status) }

struct IngestHardeningCLITests {
    @Test func twoIngestsOfOneCorpusAtOnceLeaveOneCompleteCorpus() throws {
        let src = try smallCorpus()
        for _ in 0..<3 {
            let home = tempDir("race")
            let results = ResultBox()
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                results.set(
                    i,
                    Result { try runTracker(["ingest", src, "--home", home, "--vocab-size", "300", "--name", "tiny"]) })
            }
            let runs = try [results.get(0).get(), results.get(1).get()]
            for r in runs { #expect(r.status == 0, "\(r.stderr)") }
            #expect(runs.filter { $0.stdout.contains("ingested corpus 'tiny'") }.count == 1)
            #expect(runs.filter { $0.stdout.contains("nothing to do") }.count == 1)
            let show = try corpusShow(home, "tiny")
            let tokenizer = try #require(show["tokenizer"] as? [String: Any])
            let shards = try #require(show["shards"] as? [[String: Any]])
            for file in [tokenizer] + shards {
                let path = home + "/" + (file["path"] as! String)
                let sum = try? sha256(path)
                #expect(sum == file["sha256"] as? String, "\(path) is missing or changed")
            }
        }
    }

    @Test(arguments: [
        ["ingest", "SRC", "--vocab-size", "4294967295"],
        ["ingest", "SRC", "--shard-tokens", "99999999999999"],
        ["ingest", "SRC", "--threads", "100000"],
        ["ingest", "SRC", "--max-document-mib", "9223372036854775807"],
        ["scan", "SRC", "--max-document-mb", "9223372036854775807"],
        ["tokenizer", "train", "SRC", "--vocab-size", "4294967295", "--output", "OUT"],
        ["tokenizer", "encode", "SRC", "--tokenizer", "OUT", "--threads", "0"],
    ])
    func sizesOutOfRangeAreOneLineErrors(args: [String]) throws {
        let src = try smallCorpus()
        let home = tempDir("range")
        let r = try runTracker(
            args.map { $0 == "SRC" ? src : $0 == "OUT" ? home + "/tok.json" : $0 } + ["--home", home])
        #expect(r.status != 0 && !isTrap(r), "\(r.status): \(r.stderr)")
        let option = args.first { $0.hasPrefix("--") && $0 != "--output" && $0 != "--tokenizer" }!
        #expect(r.stderr.contains(option) && r.stderr.contains("out of range: it must be between"), "\(r.stderr)")
    }

    /// The budget is named as typed (`1K` was "--memory-budget (MiB) 0"), and a dry run creates
    /// no workspace (it made tracker.sqlite while printing "nothing written").
    @Test func aBudgetOutOfRangeIsNamedAsTypedAndADryRunCreatesNothing() throws {
        let src = try smallCorpus()
        let home = tempDir("budget") + "/workspace"
        let r = try runTracker(["ingest", src, "--home", home, "--memory-budget", "1K"])
        #expect(r.status != 0 && !isTrap(r), "\(r.status): \(r.stderr)")
        #expect(r.stderr.contains("--memory-budget 1K is out of range: it must be between 4M and 1024G"), "\(r.stderr)")
        let dry = try runTracker(["ingest", src, "--home", home, "--dry-run"])
        #expect(dry.status == 0 && dry.stdout.contains("nothing written"), "\(dry.stderr)")
        #expect(!FileManager.default.fileExists(atPath: home), "the dry run created \(home)")
    }

    @Test func scanTakesHome() throws {
        let src = try smallCorpus()
        let r = try runTracker(["scan", src, "--home", tempDir("scan"), "--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("\"documents\" : 40"))
    }

    @Test func damagedCorpusIsAClearErrorBeforeTraining() throws {
        let src = try smallCorpus()
        let home = tempDir("damaged")
        let ingest = try runTracker(["ingest", src, "--home", home, "--vocab-size", "300", "--name", "tiny"])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let show = try corpusShow(home, "tiny")
        let shard = try #require((show["shards"] as? [[String: Any]])?.first { $0["split"] as? String == "train" })
        let shardPath = home + "/" + (shard["path"] as! String)
        let config = home + "/run.toml"
        try """
        [data]
        corpus = "tiny"
        [model]
        channels = 16
        layers = 1
        heads = 2
        context = 8
        [train]
        steps = 1
        batch = 1
        eval_every = 0
        """.write(toFile: config, atomically: true, encoding: .utf8)
        func train() throws -> ProcessResult { try runTracker(["train", "--config", config, "--home", home]) }

        // A token outside the vocabulary (300), with the checksum recorded to match: the range check.
        var data = try Data(contentsOf: URL(fileURLWithPath: shardPath))
        let original = data
        data[1024 + 10] = 0xFF
        data[1024 + 11] = 0xFF  // token 65535 at index 5
        try data.write(to: URL(fileURLWithPath: shardPath))
        let damagedSum = try sha256(shardPath)
        try recordChecksum(home, shard: shard["id"]!, damagedSum)
        var r = try train()
        #expect(r.status != 0 && !isTrap(r), "\(r.status): \(r.stderr)")
        #expect(
            r.stderr.contains(shardPath) && r.stderr.contains("token 65535 at index 5 is outside the vocabulary"),
            "\(r.stderr)")

        // The same change with the checksum recorded at ingest: the checksum check names the file.
        try recordChecksum(home, shard: shard["id"]!, shard["sha256"] as! String)
        r = try train()
        #expect(r.status != 0 && !isTrap(r), "\(r.status): \(r.stderr)")
        #expect(r.stderr.contains(shardPath) && r.stderr.contains("SHA-256") && r.stderr.contains("--force"))

        // A tokenizer changed since ingest (still valid JSON): its checksum names it.
        try original.write(to: URL(fileURLWithPath: shardPath))
        let tokenizer = home + "/" + ((show["tokenizer"] as! [String: Any])["path"] as! String)
        let tokenizerJSON = try Data(contentsOf: URL(fileURLWithPath: tokenizer))
        try (tokenizerJSON + Data("\n".utf8)).write(to: URL(fileURLWithPath: tokenizer))
        r = try train()
        #expect(r.status != 0 && !isTrap(r), "\(r.status): \(r.stderr)")
        #expect(r.stderr.contains(tokenizer + " has changed since") && r.stderr.contains("--force"), "\(r.stderr)")

        // A missing tokenizer: which file, on which host, and what to do.
        try FileManager.default.removeItem(atPath: tokenizer)
        r = try train()
        #expect(r.status != 0 && !isTrap(r), "\(r.status): \(r.stderr)")
        #expect(
            r.stderr.contains(tokenizer + " does not exist on \(ProcessInfo.processInfo.hostName)")
                && r.stderr.contains("shared filesystem") && r.stderr.contains("--force"), "\(r.stderr)")
        #expect(!r.stderr.contains("NSCocoaErrorDomain"), "\(r.stderr)")
    }
}

private func sha256(_ path: String) throws -> String { try FileHashing.sha256(path: path).hex }

/// Sets a shard's recorded checksum in the workspace database (as a hand-edited database would).
private func recordChecksum(_ home: String, shard id: Any, _ sum: String) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [
        "python3", "-c",
        "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('UPDATE shard SET sha256=? WHERE id=?', (sys.argv[2], int(sys.argv[3]))); c.commit()",
        home + "/tracker.sqlite", sum, "\(id)",
    ]
    try p.run()
    p.waitUntilExit()
    #expect(p.terminationStatus == 0)
}

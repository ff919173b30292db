// The real `tracker` executable in real processes: exit codes, one-line errors, JSON output, and
// sixteen processes opening a new database at once.
import Foundation
import Testing

/// The `tracker` binary built next to this test bundle.
let trackerBinary: String = {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tracker")
            .path,
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/tracker").path,
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1]
}()

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs tracker with `args`; stdin is empty, progress bars are off.
func runTracker(_ args: [String], environment: [String: String] = [:]) throws -> ProcessResult {
    try runProcess(trackerBinary, args, environment: environment)
}

/// Runs `executable` with `args` (tracker's environment: progress bars off), stdin empty.
func runProcess(_ executable: String, _ args: [String], environment: [String: String] = [:]) throws
    -> ProcessResult
{
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    var env = ProcessInfo.processInfo.environment
    env["TRACKER_NO_PROGRESS"] = "1"
    for (k, v) in environment { env[k] = v }
    p.environment = env
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return ProcessResult(
        status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
        stderr: String(decoding: e, as: UTF8.self))
}

func tempDir(_ tag: String) -> String {
    let d = NSTemporaryDirectory() + "cli-\(tag)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

func sqlite(_ db: String, _ sql: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [
        "python3", "-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchall())", db,
        sql,
    ]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    p.waitUntilExit()
    return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(
        in: .whitespacesAndNewlines)
}

@Suite(.serialized) struct CLIProcessTests {
    @Test func sixteenProcessesOpenANewDatabaseAtOnce() throws {
        let home = tempDir("many")
        let group = DispatchGroup()
        let results = ResultBox()
        for i in 0..<16 {
            group.enter()
            DispatchQueue.global().async {
                results.set(i, Result { try runTracker(["worker", "--until-empty", "--home", home]) })
                group.leave()
            }
        }
        group.wait()
        for i in 0..<16 {
            let r = try results.get(i).get()
            #expect(r.status == 0, "process \(i): \(r.stderr)")
            #expect(r.stderr.contains("0 run(s)"))
        }
        let applied = try sqlite(home + "/tracker.sqlite", "SELECT count(*) FROM schemaMigration")
        let files = try FileManager.default.contentsOfDirectory(atPath: repoRoot + "/migrations").filter {
            $0.hasSuffix(".sql")
        }
        #expect(applied == "[(\(files.count),)]")
        #expect(try sqlite(home + "/tracker.sqlite", "PRAGMA journal_mode") == "[('wal',)]")
    }

    @Test func ingestPrintsJSONAndSecondRunDoesNoWork() throws {
        let home = tempDir("home")
        let src = tempDir("src")
        for i in 0..<12 {
            try "Text number \(i): the cat sat on the mat, and the dog barked \(i * 7) times.\n"
                .write(toFile: "\(src)/t\(i).txt", atomically: true, encoding: .utf8)
        }
        let first = try runTracker([
            "ingest", src, "--home", home, "--vocab-size", "300", "--name", "tiny", "--format", "json",
        ])
        #expect(first.status == 0, "\(first.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as! [String: Any]
        #expect(json["status"] as? String == "ingested")
        #expect(json["documents"] as? Int == 12)
        let second = try runTracker(["ingest", src, "--home", home, "--vocab-size", "300", "--name", "tiny"])
        #expect(second.status == 0)
        #expect(second.stdout.contains("nothing to do"))
        let show = try runTracker(["corpus", "show", "tiny", "--home", home, "--format", "json"])
        #expect(show.status == 0)
        #expect(show.stdout.contains("\"split\" : \"val\""))
    }

    /// `tokenizer encode` counts the same tokens whether it keeps the ids (`--ids`) or only
    /// times them through its reused buffers, on both thread counts, and the ids it writes are one
    /// line per document, in the order of the files.
    @Test func tokenizerEncodeCountsTheIdsItWrites() throws {
        let dir = tempDir("encode")
        let src = dir + "/src"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        for i in 0..<9 {
            let text = String(
                repeating: "Document \(i) says: the quick brown fox, \(i * 13) times. ", count: 1 + i * 40)
            try text.write(toFile: "\(src)/d\(i).txt", atomically: true, encoding: .utf8)
        }
        let trained = try runTracker([
            "tokenizer", "train", src, "--vocab-size", "300", "--output", dir + "/tok.json",
        ])
        #expect(trained.status == 0, "\(trained.stderr)")
        func tokens(_ extra: [String]) throws -> Int {
            let r = try runTracker(
                ["tokenizer", "encode", src, "--tokenizer", dir + "/tok.json", "--format", "json"] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            #expect(json["documents"] as? Int == 9)
            return json["tokens"] as? Int ?? -1
        }
        let counted = try tokens(["--threads", "2"])
        #expect(counted > 0)
        #expect(try tokens(["--threads", "1"]) == counted)
        #expect(try tokens(["--threads", "2", "--ids", dir + "/ids.jsonl"]) == counted)
        let lines = try String(contentsOfFile: dir + "/ids.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 9)
        let perLine = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [Int] }
        #expect(perLine.reduce(0) { $0 + $1.count } == counted)
        #expect(zip(perLine, perLine.dropFirst()).allSatisfy { $0.count < $1.count })  // file order
    }

    @Test(arguments: [
        (["ingest", "/nonexistent/corpus.tar.gz"], "/nonexistent/corpus.tar.gz"),
        (["ingest", "SRC", "--vocab-size", "100"], "--vocab-size"),
        (["corpus", "show", "nosuchcorpus"], "nosuchcorpus"),
    ])
    func badInputIsOneLineAndNonZero(args: [String], mentions: String) throws {
        let home = tempDir("bad")
        #expect(try runTracker(["worker", "--until-empty", "--home", home]).status == 0)  // an empty workspace
        let src = tempDir("src")
        try "hello world\n".write(toFile: src + "/a.txt", atomically: true, encoding: .utf8)
        let r = try runTracker(args.map { $0 == "SRC" ? src : $0 } + ["--home", home])
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n").filter {
            !$0.hasPrefix("Usage") && !$0.hasPrefix("  See") && !$0.isEmpty
        }
        #expect(lines.count == 1, "\(r.stderr)")
        #expect(r.stderr.contains(mentions))
    }

    /// `--temperature nan` (and inf) passed the `< 0` check and sampled garbage: refused like
    /// `--tokens 0`, as a usage error (exit 64), before any checkpoint is read.
    @Test(arguments: ["nan", "inf", "-inf", "-0.5"])
    func sampleRefusesANonFiniteOrNegativeTemperature(value: String) throws {
        let r = try runTracker(["sample", "/nonexistent/run", "--temperature=\(value)"])
        #expect(r.status == 64, "\(r.status): \(r.stderr)")
        #expect(r.stderr.contains("--temperature must be 0 (greedy) or a positive number"), "\(r.stderr)")
        let tokens = try runTracker(["sample", "/nonexistent/run", "--tokens", "0"])
        #expect(tokens.status == 64, "\(tokens.stderr)")
    }

    @Test func truncatedArchiveFailsCleanly() throws {
        let home = tempDir("trunc")
        let src = tempDir("src")
        for i in 0..<40 {
            try String(repeating: "line \(i) of text\n", count: 200).write(
                toFile: "\(src)/f\(i).txt", atomically: true, encoding: .utf8)
        }
        let archive = tempDir("arc") + "/c.tar.xz"
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/bin/tar")
        tar.arguments = ["cJf", archive, "-C", src, "."]
        try tar.run()
        tar.waitUntilExit()
        let data = try Data(contentsOf: URL(fileURLWithPath: archive))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: archive))
        let r = try runTracker(["ingest", archive, "--home", home, "--vocab-size", "300"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("c.tar.xz"))
        #expect(try sqlite(home + "/tracker.sqlite", "SELECT count(*) FROM corpus") == "[(0,)]")
        let left = try FileManager.default.contentsOfDirectory(atPath: home).filter { !$0.hasPrefix("tracker.sqlite") }
        #expect(left.isEmpty, "left behind: \(left)")
    }
}

final class ResultBox: @unchecked Sendable {
    private var items: [Int: Result<ProcessResult, Error>] = [:]
    private let lock = NSLock()
    func set(_ i: Int, _ r: Result<ProcessResult, Error>) {
        lock.lock()
        items[i] = r
        lock.unlock()
    }
    func get(_ i: Int) -> Result<ProcessResult, Error> {
        lock.lock()
        defer { lock.unlock() }
        return items[i]!
    }
}

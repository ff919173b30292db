// Two ingests of the same corpus at once, on two threads with their own database connections,
// as two `tracker ingest` processes would run: one complete corpus at the end, every file its
// row names in place and matching its checksum, and no error for the one that came second.
import Basics
import Foundation
import Store
import Testing

@testable import Ingest

/// Results collected from the racing threads.
private final class Results: @unchecked Sendable {
    let lock = NSLock()
    var results: [Int: Result<String, any Error>] = [:]
}

/// Runs `body(0)` and `body(1)` on two threads released at the same moment; returns both results.
private func race(_ body: @escaping @Sendable (Int) throws -> String) -> [Result<String, any Error>] {
    let box = Results()
    let gate = DispatchSemaphore(value: 0)
    let done = DispatchGroup()
    for i in 0..<2 {
        done.enter()
        Thread {
            gate.wait()
            let r = Result { try body(i) }
            box.lock.withLock { box.results[i] = r }
            done.leave()
        }.start()
    }
    gate.signal()
    gate.signal()
    done.wait()
    return [box.results[0]!, box.results[1]!]
}

struct ConcurrentIngestTests {
    @Test(arguments: [false, true])
    func twoIngestsOfOneCorpusLeaveOneCompleteCorpus(force: Bool) throws {
        let source = NSTemporaryDirectory() + "race-src-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        var rng = SplitMix64(seed: 11)
        let words = ["alpha", "beta", "gamma", "delta", "river", "stone", "light", "paper", "quiet", "north"]
        for i in 0..<80 {
            let text = (0..<(40 + Int(rng.next() % 40))).map { _ in words[Int(rng.next() % 10)] }
            try "Doc \(i): \(text.joined(separator: " "))\n".write(
                toFile: "\(source)/d\(i).txt", atomically: true, encoding: .utf8)
        }
        for attempt in 0..<3 {
            let home = NSTemporaryDirectory() + "race-home-\(UUID().uuidString)"
            _ = try TrackerDB(home: home)
            if force {  // both replace an existing corpus of the same sources and settings
                var o = IngestOptions()
                o.vocabSize = 300
                o.threads = 1
                _ = try IngestPipeline(home: home, db: try TrackerDB(home: home)).run(paths: [source], options: o)
            }
            let results = race { _ in
                var o = IngestOptions()
                o.vocabSize = 300
                o.threads = 1
                o.force = force
                let db = try TrackerDB(home: home)
                return try IngestPipeline(home: home, db: db).run(paths: [source], options: o).status
            }
            for r in results {
                if case .failure(let e) = r { Issue.record("attempt \(attempt): an ingest failed: \(e)") }
            }
            let statuses = results.compactMap { try? $0.get() }.sorted()
            if !force { #expect(statuses == ["ingested", "unchanged"], "attempt \(attempt)") }
            if force { #expect(statuses == ["ingested", "ingested"], "attempt \(attempt)") }

            let db = try TrackerDB(home: home)
            #expect(try db.corpora().count == 1)
            let id = try #require(try db.corpora().first?.id)
            let c = try #require(try db.corpus(named: "\(id)"))
            for (rel, sha) in [(c.tokenizer.path, c.tokenizer.sha256)] + c.shards.map({ ($0.path, $0.sha256) }) {
                let sum = try? FileHashing.sha256(path: "\(home)/\(rel)")
                #expect(sum?.hex == sha, "attempt \(attempt): \(rel) is missing or changed")
            }
            // The files of a replaced corpus are gone, and nothing else is left behind.
            for folder in ["shards", "tokenizers"] {
                #expect(try FileManager.default.contentsOfDirectory(atPath: "\(home)/\(folder)").count == 1)
            }
            let left = try FileManager.default.contentsOfDirectory(atPath: home).filter { $0.hasPrefix(".") }
            #expect(left.isEmpty, "attempt \(attempt): left behind \(left)")
        }
    }

    /// While another ingest holds the corpus' lock, a second one says so and waits; when the lock
    /// is released it finds the corpus recorded. Rebuilds alternate between two places.
    @Test func aSecondIngestWaitsForTheLockThenFindsTheCorpus() throws {
        let source = NSTemporaryDirectory() + "wait-src-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        for i in 0..<30 {
            try "Document \(i): some words, then more words \(i * 3).\n".write(
                toFile: "\(source)/d\(i).txt", atomically: true, encoding: .utf8)
        }
        let home = NSTemporaryDirectory() + "wait-home-\(UUID().uuidString)"
        var o = IngestOptions()
        o.vocabSize = 280
        o.threads = 1
        o.name = "waiting"
        let first = try IngestPipeline(home: home, db: try TrackerDB(home: home)).run(paths: [source], options: o)
        #expect(first.shards.allSatisfy { $0.path.contains("/shards/waiting-") && !$0.path.contains("-2/") })
        let fingerprint = try #require(try TrackerDB(home: home).corpora().first?.fingerprint)

        let held = try IngestLock.take(home: home, fingerprint: fingerprint, onWait: nil)
        let waiting = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let result = Results()
        let options = o
        Thread {
            let r = Result {
                let pipeline = IngestPipeline(home: home, db: try TrackerDB(home: home))
                pipeline.onWait = { note in
                    #expect(note.contains("waiting for it to finish") && note.contains("pid \(getpid())"))
                    waiting.signal()
                }
                return try pipeline.run(paths: [source], options: options).status
            }
            result.lock.withLock { result.results[0] = r }
            finished.signal()
        }.start()
        // It says it waits (the bound only keeps a broken lock from hanging the suite).
        #expect(waiting.wait(timeout: .now() + 120) == .success)
        held.release()
        finished.wait()
        #expect(try result.lock.withLock { result.results[0] }?.get() == "unchanged")

        // --force writes beside the recorded files, then drops them: NAME-FP-2, then NAME-FP again.
        o.force = true
        let pipeline = IngestPipeline(home: home, db: try TrackerDB(home: home))
        let second = try pipeline.run(paths: [source], options: o)
        #expect(second.shards.allSatisfy { $0.path.contains("-2/") } && second.tokenizerPath!.hasSuffix("-2.json"))
        #expect(second.shards.map(\.sha256) == first.shards.map(\.sha256))
        for path in first.shards.map(\.path) + [first.tokenizerPath!] {
            #expect(!FileManager.default.fileExists(atPath: path), "\(path) was left behind")
        }
        let third = try pipeline.run(paths: [source], options: o)
        #expect(third.shards.map(\.path) == first.shards.map(\.path) && third.tokenizerPath == first.tokenizerPath)
        #expect(try FileManager.default.contentsOfDirectory(atPath: home + "/shards").count == 1)
    }
}

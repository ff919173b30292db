// The spool files: ingesting twice is ingesting once, a torn last line waits until it is
// complete, a reopened writer cuts a torn line and continues the sequence, and mutated files
// (fuzzed) never stop an ingest or bring in an event that is not whole.
import Foundation
import SlurmExecutor
import Store
import TestSupport
import Testing

struct SpoolTests {
    @Test func ingestingTwiceIsIngestingOnceAndATornLineWaits() throws {
        let f = try Fixture(count: 1)
        try f.head().submit(f.runs, experiment: "sweep")
        let run = f.runs[0]
        let path = try f.task(run).spoolPath
        try attempt(try f.spool(run), job: "101_0", steps: 1...2, end: nil)
        let whole = try Spool.line(SpoolEvent(seq: 4, kind: .metrics, step: 3, metrics: ["train/loss": 0.5]))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(whole.prefix(10))
        #expect(try f.db.ingestSpool(runId: run.id!).events == 3)
        #expect(try f.db.ingestSpool(runId: run.id!).events == 0)
        #expect(try f.db.metrics(runId: run.id!, key: "train/loss").map(\.step) == [1, 2])
        handle.write(whole.dropFirst(10))
        try handle.close()
        #expect(try f.db.ingestSpool(runId: run.id!).events == 1)
        #expect(try f.db.metrics(runId: run.id!, key: "train/loss").map(\.step) == [1, 2, 3])
        #expect(try f.db.ingestSpool(runId: run.id!).events == 0)
        #expect(try f.state(run).state == .running)
    }

    @Test func aReopenedWriterCutsTheTornLineAndContinuesTheSequence() throws {
        let path = NSTemporaryDirectory() + "spool-\(UUID().uuidString)/1.jsonl"
        let first = try SpoolWriter(path: path)
        try first.append(SpoolEvent(kind: .start, job: "1_0"))
        try first.append(SpoolEvent(kind: .metrics, step: 1, metrics: ["train/loss": .nan]))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"seq":3,"kind":"met"#.utf8))
        try handle.close()
        let second = try SpoolWriter(path: path)
        #expect(second.history.map(\.seq) == [1, 2])
        #expect(second.history[1].metrics?["train/loss"]?.isNaN == true)
        try second.append(SpoolEvent(kind: .end, outcome: .succeeded))
        let chunk = try Spool.read(path: path)
        #expect(chunk.events.map(\.seq) == [1, 2, 3] && chunk.skipped == 0)
        #expect(chunk.events.last?.outcome == .succeeded)
    }

    @Test func eventsWithoutTheirFieldsAreSkippedNotApplied() {
        let lines = [
            #"{"seq":1,"kind":"metrics","time":1}"#,  // no step, no metrics
            #"{"seq":2,"kind":"checkpoint","time":1,"step":3}"#,  // no path
            #"{"seq":0,"kind":"start","time":1}"#,  // no sequence number
            #"{"seq":3,"kind":"launch","time":1}"#,  // unknown kind
            #"{"seq":4,"kind":"end","time":1,"outcome":"succeeded"}"#,
        ]
        let chunk = Spool.parse(Data((lines.joined(separator: "\n") + "\n").utf8))
        #expect(chunk.events.map(\.seq) == [4])
        #expect(chunk.skipped == 4)
    }

    @Test func fuzzedSpoolFilesNeverStopTheIngest() throws {
        let f = try Fixture(count: 1)
        try f.head().submit(f.runs, experiment: "sweep")
        let run = f.runs[0]
        let path = try f.task(run).spoolPath
        try attempt(try f.spool(run), job: "101_0", steps: 1...4, checkpoint: f.home + "/c4", end: .requeued)
        let valid = try #require(FileManager.default.contents(atPath: path))
        for seed in UInt64(0)..<300 {
            var m = Mutator(seed: seed)
            let bytes = m.mutate(Array(valid))
            let chunk = Spool.parse(Data(bytes))
            // whatever parses is whole; the offset never passes the data
            #expect(chunk.end <= Int64(bytes.count), "seed \(seed)")
            for e in chunk.events where e.kind == .metrics {
                #expect(e.step != nil && e.metrics != nil, "seed \(seed)")
            }
            // and the ingest of such a file (from the start) applies it without an error
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            try f.db.write { db in
                try db.execute(
                    sql: "UPDATE slurmTask SET spoolOffset = 0, spoolSeq = 0 WHERE runId = ?", arguments: [run.id])
            }
            #expect(throws: Never.self, "seed \(seed)") { try f.db.ingestSpool(runId: run.id!) }
        }
    }
}

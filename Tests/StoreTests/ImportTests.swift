// `tracker import`: JSON lines in through the batched write path, errors with line numbers and
// nothing written, idempotent re-import.
import Foundation
import Store
import Testing

private func tempDir() -> String {
    NSTemporaryDirectory() + "import-\(UUID().uuidString)"
}

struct ImportTests {
    let baseline = """
        {"run": "torch-softmax", "params": {"model": {"attention": {"variant": "softmax"}, "nLayer": 4}, "train.lr": 0.003, "compiled": true}, "tags": {"source": "pytorch"}}
        {"run": "torch-softmax", "step": 0, "metrics": {"train/loss": 5.5, "val/loss": 5.4}}

        {"run": "torch-softmax", "step": 100, "metrics": {"train/loss": 3.1, "val/loss": 3.3, "val/bpb": "nan"}}
        {"run": "torch-other", "experiment": "sweep", "params": {"model.attention.variant": "alibi"}}
        {"run": "torch-other", "step": 100, "metrics": {"val/loss": "inf"}}
        """

    @Test(arguments: Backend.allCases) func importsRunsThroughTheWritePath(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let summary = try Importer.importLines(baseline, file: "b.jsonl", into: db, now: 1000)
        #expect(summary == ImportSummary(created: ["torch-softmax", "torch-other"], updated: [], points: 6))
        let reader = RunReader(db: db)
        let runs = try reader.summaries(
            RunSelection(
                filter: .and(
                    .compare(.run(.origin), .equal, .string("import")),
                    .compare(.tag("source"), .equal, .string("pytorch")))))
        #expect(runs.map(\.name) == ["torch-softmax"])
        let r = runs[0]
        #expect(
            r.params == [
                "model.attention.variant": .text("softmax"), "model.nLayer": .int(4), "train.lr": .real(0.003),
                "compiled": .bool(true),
            ])
        #expect(r.state == "succeeded")
        #expect(r.metrics["val/loss"] == MetricStat(lastStep: 100, last: 3.3, min: 3.3, max: 5.4, count: 2))
        #expect(r.metrics["val/bpb"]!.last.isNaN)
        let other = try reader.summaries(
            RunSelection(experiment: "sweep", filter: .compare(.run(.origin), .equal, .string("import"))))
        #expect(other.map(\.name) == ["torch-other"])
        #expect(other[0].metrics["val/loss"]!.last == .infinity)
        #expect(try db.events(runId: r.id).map(\.detail) == ["imported"])
    }

    @Test func readsCRLFLinesAndNamesALineThatIsNotUTF8() throws {
        guard let db = try makeDB(.sqlite) else { return }
        let dir = tempDir()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // Windows line ends: "\r\n" is one Character in Swift, and the file was one bad line.
        let crlf = dir + "/crlf.jsonl"
        try Data(baseline.replacingOccurrences(of: "\n", with: "\r\n").utf8).write(to: URL(fileURLWithPath: crlf))
        let s = try Importer.importFile(crlf, into: db)
        #expect(s.created == ["torch-softmax", "torch-other"] && s.points == 6)
        // A byte that is not UTF-8 on line 2: the error names the line, as a JSON mistake does.
        let bad = dir + "/bad.jsonl"
        var bytes = Array(baseline.utf8)
        let second = bytes.firstIndex(of: UInt8(ascii: "\n"))! + 5
        bytes.insert(0xFF, at: second)
        try Data(bytes).write(to: URL(fileURLWithPath: bad))
        for (path, expected) in [(bad, "bad.jsonl:2: not valid UTF-8"), (dir, "is a folder")] {
            do {
                _ = try Importer.importFile(path, into: db)
                Issue.record("\(path) imported")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
    }

    @Test(arguments: Backend.allCases) func reimportUpdatesInsteadOfDuplicating(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        _ = try Importer.importLines(baseline, file: "b.jsonl", into: db)
        let changed = baseline.replacingOccurrences(of: #""val/loss": 3.3"#, with: #""val/loss": 3.25"#)
        let again = try Importer.importLines(changed, file: "b.jsonl", into: db)
        #expect(again.created == [] && again.updated == ["torch-softmax", "torch-other"])
        let runs = try RunReader(db: db).summaries(
            RunSelection(
                filter: .or(
                    .compare(.run(.name), .contains, .string("torch-s")),
                    .compare(.run(.name), .equal, .string("torch-other")))))
        #expect(runs.count == 2)
        #expect(runs[0].metrics["val/loss"] == MetricStat(lastStep: 100, last: 3.25, min: 3.25, max: 5.4, count: 2))
    }

    @Test func badLinesNameTheirLineAndWriteNothing() throws {
        let db = try TrackerDB(home: tempDir())
        let cases: [(String, Int, String)] = [
            ("{\"run\": \"a\", \"step\": 1, \"metrics\": {\"train/loss\": 1}}\nnot json", 2, "not valid JSON"),
            ("[1, 2]", 1, "expected a JSON object"),
            ("{\"step\": 1}", 1, "missing \"run\""),
            ("\n\n{\"run\": \"a\", \"step\": -1, \"metrics\": {\"train/loss\": 1}}", 3, "non-negative integer"),
            ("{\"run\": \"a\", \"step\": 1, \"metrics\": {\"train/loss\": \"low\"}}", 1, "must be a number"),
            ("{\"run\": \"a\", \"step\": 1, \"metrics\": {\"loss\": 1}}", 1, "split/name"),
            ("{\"run\": \"a\", \"param\": {}}", 1, "unknown field \"param\""),
            ("{\"run\": \"a\", \"tags\": {\"x\": [1]}}", 1, "tag \"x\" must be a string"),
        ]
        for (text, line, message) in cases {
            do {
                _ = try Importer.importLines(text, file: "x.jsonl", into: db)
                Issue.record("accepted: \(text)")
            } catch let e as StoreError {
                guard case .badImportLine(let file, let l, let m) = e else {
                    Issue.record("\(e)")
                    continue
                }
                #expect(file == "x.jsonl" && l == line && m.contains(message), "\(e)")
                #expect(e.description.hasPrefix("x.jsonl:\(line): "))
            }
        }
        #expect(try RunReader(db: db).summaries(RunSelection()).isEmpty)
    }

    @Test func unreadableFileIsAStoreError() throws {
        let db = try TrackerDB(home: tempDir())
        let path = tempDir() + "/missing.jsonl"
        #expect {
            try Importer.importFile(path, into: db)
        } throws: { e in
            guard case .cannotRead(let p, _)? = e as? StoreError else { return false }
            return p == path
        }
    }
}

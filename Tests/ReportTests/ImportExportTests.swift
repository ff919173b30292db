// `tracker import` and `tracker export`: JSON lines in through the batched write path, errors
// with line numbers, idempotent re-import, and export -> import -> export giving the same files.
import Foundation
import Store
import Testing

@testable import Report

struct ImportExportTests {
    let baseline = """
        {"run": "torch-softmax", "params": {"model": {"attention": {"variant": "softmax"}, "nLayer": 4}, "train.lr": 0.003, "compiled": true}, "tags": {"source": "pytorch"}}
        {"run": "torch-softmax", "step": 0, "metrics": {"train/loss": 5.5, "val/loss": 5.4}}

        {"run": "torch-softmax", "step": 100, "metrics": {"train/loss": 3.1, "val/loss": 3.3, "val/bpb": "nan"}}
        {"run": "torch-other", "experiment": "sweep", "params": {"model.attention.variant": "alibi"}}
        {"run": "torch-other", "step": 100, "metrics": {"val/loss": "inf"}}
        """

    @Test func importsRunsThroughTheWritePath() throws {
        let db = try Fixture.database()
        let summary = try Importer.importLines(baseline, file: "b.jsonl", into: db, now: 1000)
        #expect(summary == ImportSummary(created: ["torch-softmax", "torch-other"], updated: [], points: 6))
        let reader = RunReader(db: db)
        let runs = try reader.summaries(
            RunSelection(filter: try Filter.parse(#"run.origin = "import" and tag.source = "pytorch""#)))
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
            RunSelection(experiment: "sweep", filter: try Filter.parse("run.origin = \"import\"")))
        #expect(other.map(\.name) == ["torch-other"])
        #expect(other[0].metrics["val/loss"]!.last == .infinity)
        #expect(try db.events(runId: r.id).map(\.detail) == ["imported"])
    }

    @Test func reimportUpdatesInsteadOfDuplicating() throws {
        let db = try Fixture.database()
        _ = try Importer.importLines(baseline, file: "b.jsonl", into: db)
        let changed = baseline.replacingOccurrences(of: #""val/loss": 3.3"#, with: #""val/loss": 3.25"#)
        let again = try Importer.importLines(changed, file: "b.jsonl", into: db)
        #expect(again.created == [] && again.updated == ["torch-softmax", "torch-other"])
        let runs = try RunReader(db: db).summaries(
            RunSelection(filter: try Filter.parse(#"run.name ~ "torch-s" or run.name = "torch-other""#)))
        #expect(runs.count == 2)
        #expect(runs[0].metrics["val/loss"] == MetricStat(lastStep: 100, last: 3.25, min: 3.25, max: 5.4, count: 2))
    }

    @Test func badLinesNameTheirLineAndWriteNothing() throws {
        let db = try Fixture.database()
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
            } catch let e as ReportError {
                guard case .badImportLine(let file, let l, let m) = e else {
                    Issue.record("\(e)")
                    continue
                }
                #expect(file == "x.jsonl" && l == line && m.contains(message), "\(e)")
                #expect(e.description.hasPrefix("x.jsonl:\(line): "))
            }
        }
        #expect(try RunReader(db: db).summaries(RunSelection()).count == 6)
    }

    @Test func exportWritesCSVConfigAndImportLinesThatRoundTrip() throws {
        let db = try Fixture.database()
        let dir = Fixture.tempDir()
        let out = try Exporter.export(RunReader(db: db), runs: ["forgetting-seed1"], to: dir + "/a")
        #expect(out.count == 1 && out[0].points == 20)
        let csv = try String(contentsOfFile: out[0].files[0], encoding: .utf8)
        #expect(csv.hasPrefix("run,key,step,value\nforgetting-seed1,\"lengen/loss/1x/[0,L)\",100,nan\n"))
        #expect(csv.contains("forgetting-seed1,train/loss,90,4.025\nforgetting-seed1,train/loss,100,inf\n"))
        #expect(csv.contains("forgetting-seed1,val/loss,100,nan\n"))
        let config =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out[0].files[1])))
            as! [String: Any]
        #expect((config["config"] as? [String: Any])?["train"] as? [String: Double] == ["lr": 0.01, "seed": 1])
        #expect((config["params"] as? [String: Any])?["train.compile"] as? Bool == true)
        #expect(config["state"] as? String == "failed")

        let fresh = try TrackerDB(home: Fixture.tempDir())
        let imported = try Importer.importFile(out[0].files[2], into: fresh)
        #expect(imported.created == ["forgetting-seed1"] && imported.points == 20)
        let back = try Exporter.export(RunReader(db: fresh), runs: ["forgetting-seed1"], to: dir + "/b")
        #expect(try String(contentsOfFile: back[0].files[0], encoding: .utf8) == csv)
        #expect(
            try String(contentsOfFile: back[0].files[2], encoding: .utf8)
                == String(contentsOfFile: out[0].files[2], encoding: .utf8))
        #expect(
            try RunReader(db: fresh).summaries(RunSelection()).first?.params
                == RunReader(db: db).summaries(RunSelection(runs: ["5"])).first?.params)
    }
}

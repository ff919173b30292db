// `tracker export`: export -> import -> export gives the same files (the importer's own tests
// are in StoreTests/ImportTests.swift).
import Foundation
import Store
import Testing

@testable import Report

struct ExportTests {
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

// `tracker export`: export -> import -> export gives the same files (the importer's own tests
// are in StoreTests/ImportTests.swift).
import Foundation
import Store
import TestSupport
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

/// Runs move between a SQLite and a PostgreSQL store, both ways, through export and import, with
/// their params, metrics, state, attempts and checkpoint records; importing twice is importing once.
@Suite(.postgres)
struct StoreMoveTests {
    func postgresStore() throws -> TrackerDB {
        let url = try PostgresURL(try TestPostgres.newDatabase())
        return try TrackerDB(postgres: url, password: url.password, home: Fixture.tempDir())
    }

    func contents(_ db: TrackerDB) throws -> [Int] {
        try db.read { d in
            try ["run", "runParam", "runTag", "metric", "metricSummary", "artifact", "experiment"].map {
                try d.scalar(Int.self, sql: "SELECT count(*) FROM \($0)") ?? 0
            }
        }
    }

    @Test func aRunMovesFromSQLiteToPostgresAndBackIdempotently() throws {
        let sqlite = try Fixture.database()
        let dir = Fixture.tempDir()
        let out = try Exporter.export(RunReader(db: sqlite), runs: ["forgetting-seed1"], to: dir + "/a")
        let pg = try postgresStore()
        _ = try Importer.importFile(out[0].files[2], into: pg)
        let once = try contents(pg)
        let again = try Importer.importFile(out[0].files[2], into: pg)
        #expect(again.created == [] && again.updated == ["forgetting-seed1"])
        #expect(try contents(pg) == once)
        let moved = try #require(try pg.runs().first)
        let original = try #require(try sqlite.runs().first { $0.name == "forgetting-seed1" })
        #expect(moved.state == original.state && moved.attempts == original.attempts)
        #expect(try pg.artifacts(runId: moved.id!, kind: "checkpoint").map(\.sha256) == ["c0ffee"])
        #expect(try pg.experiment(id: moved.experimentId!)?.name == "sweep")
        // ...and back into a new SQLite store: the same files come out again.
        let back = try Exporter.export(RunReader(db: pg), runs: ["forgetting-seed1"], to: dir + "/b")
        for i in [0, 2] {
            #expect(
                try String(contentsOfFile: back[0].files[i], encoding: .utf8)
                    == String(contentsOfFile: out[0].files[i], encoding: .utf8))
        }
        let fresh = try TrackerDB(home: Fixture.tempDir())
        _ = try Importer.importFile(back[0].files[2], into: fresh)
        _ = try Importer.importFile(back[0].files[2], into: fresh)
        #expect(try contents(fresh) == once)
    }

    @Test func namesThatMeetInAFileNameOrRunLongGetFilesOfTheirOwn() throws {
        let db = try TrackerDB(home: Fixture.tempDir())
        let long = String(repeating: "L", count: 300)
        let lines =
            ["a/b", "a_b", long].map { #"{"run": "\#($0)", "params": {}}"# } + [
                #"{"run": "a/b", "step": 9007199254740993, "metrics": {"train/loss": 1}}"#
            ]
        _ = try Importer.importLines(lines.joined(separator: "\n"), file: "x.jsonl", into: db)
        let out = try Exporter.export(RunReader(db: db), runs: ["a/b", "a_b", long, "a_b"], to: Fixture.tempDir())
        #expect(out.map(\.run) == ["a/b", "a_b", long])
        let stems = out.map { ($0.files[2] as NSString).lastPathComponent }
        #expect(Set(stems).count == 3 && stems.allSatisfy { $0.utf8.count <= Exporter.maxStemBytes + 6 })
        for run in out {
            let back = try String(contentsOfFile: run.files[2], encoding: .utf8)
            #expect(back.hasPrefix(#"{"run":"\#(run.run)""#), "\(run.files[2])")
        }
        // Steps past 2^53 come out exact (they went through a Double).
        #expect(try String(contentsOfFile: out[0].files[2], encoding: .utf8).contains(#""step":9007199254740993,"#))
    }
}

import Testing

@testable import Report
// `tracker report` over the fixture: the exact table, CSV and Markdown, sorting, limits, and
// selection by experiment, state and --where.
@testable import Store

struct RunListTests {
    let reader: RunReader

    init() throws { reader = RunReader(db: try Fixture.database()) }

    func list(_ query: RunListQuery) throws -> ReportDocument { try Reports.runList(reader, query) }

    func names(_ query: RunListQuery) throws -> [String] {
        guard case .table(let t) = try list(query).sections[0] else {
            Issue.record("no table")
            return []
        }
        let i = t.columns.firstIndex(of: "run")!
        return t.rows.map { $0[i].display }
    }

    @Test func anEmptySelectionNamesTheFieldsNoRunHas() throws {
        let typo = try Filter.parse("trian.lr < 1 and tag.nope = 'x' or `val/loss.mean` < 3 and train.lr > 0")
        let text = try list(RunListQuery(selection: RunSelection(filter: typo))).render(.table)
        #expect(text.contains("no run has parameter 'trian.lr', tag 'nope', metric 'val/loss.mean'"), "\(text)")
        // A filter on existing fields that selects nothing has no such note.
        let none = try list(RunListQuery(selection: RunSelection(filter: try Filter.parse("train.lr > 1e9"))))
        #expect(!none.render(.table).contains("no run has"))
        #expect(throws: ReportError.self) {
            try Reports.compare(reader, CompareQuery(selection: RunSelection(filter: typo)))
        }
        do {
            _ = try Reports.compare(reader, CompareQuery(selection: RunSelection(filter: typo)))
        } catch {
            #expect("\(error)".contains("no run has parameter 'trian.lr'"), "\(error)")
        }
    }

    @Test func table() throws {
        let text = try list(RunListQuery(selection: RunSelection(experiment: "sweep"))).render(.table)
        #expect(
            text == """
                tracker report: 5 runs (experiment sweep)

                Runs

                experiment  run                   id  variant         state      train.lr  train.seed  best val/loss  final val/loss  val/bpb  tokens/s  duration
                ----------  --------------------  --  --------------  ---------  --------  ----------  -------------  --------------  -------  --------  --------
                sweep       softmax_rope-seed1     1  softmax_rope    succeeded     0.003           1         3.2000          3.2000   1.6000     12.5k    12m00s
                sweep       softmax_rope-seed2     2  softmax_rope    succeeded     0.003           2         3.3000          3.3000   1.6500     13.0k    13m00s
                sweep       stick_breaking-seed1   3  stick_breaking  succeeded     0.003           1         3.0000          3.0000   1.5000     13.5k    15m00s
                sweep       stick_breaking-seed2   4  stick_breaking  succeeded     0.003           2         3.1000          3.1000   1.5500     14.0k    16m00s
                sweep       forgetting-seed1       5  forgetting      failed         0.01           1         4.0000             nan      nan     14.5k     3m00s
                """)
    }

    @Test func csv() throws {
        let text = try list(RunListQuery(selection: RunSelection(experiment: "sweep"))).render(.csv)
        #expect(
            text == """
                experiment,run,id,variant,state,train.lr,train.seed,best val/loss,final val/loss,val/bpb,tokens/s,duration
                sweep,softmax_rope-seed1,1,softmax_rope,succeeded,0.003,1,3.2,3.2,1.6,12500,720
                sweep,softmax_rope-seed2,2,softmax_rope,succeeded,0.003,2,3.3,3.3,1.65,13000,780
                sweep,stick_breaking-seed1,3,stick_breaking,succeeded,0.003,1,3,3,1.5,13500,900
                sweep,stick_breaking-seed2,4,stick_breaking,succeeded,0.003,2,3.1,3.1,1.55,14000,960
                sweep,forgetting-seed1,5,forgetting,failed,0.01,1,4,nan,nan,14500,180
                """)
    }

    @Test func markdown() throws {
        let text = try list(RunListQuery(selection: RunSelection(experiment: "sweep"))).render(.markdown)
        #expect(
            text == """
                # tracker report: 5 runs (experiment sweep)

                ## Runs

                | experiment | run | id | variant | state | train.lr | train.seed | best val/loss | final val/loss | val/bpb | tokens/s | duration |
                |---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|
                | sweep | softmax_rope-seed1 | 1 | softmax_rope | succeeded | 0.003 | 1 | 3.2000 | 3.2000 | 1.6000 | 12.5k | 12m00s |
                | sweep | softmax_rope-seed2 | 2 | softmax_rope | succeeded | 0.003 | 2 | 3.3000 | 3.3000 | 1.6500 | 13.0k | 13m00s |
                | sweep | stick_breaking-seed1 | 3 | stick_breaking | succeeded | 0.003 | 1 | 3.0000 | 3.0000 | 1.5000 | 13.5k | 15m00s |
                | sweep | stick_breaking-seed2 | 4 | stick_breaking | succeeded | 0.003 | 2 | 3.1000 | 3.1000 | 1.5500 | 14.0k | 16m00s |
                | sweep | forgetting-seed1 | 5 | forgetting | failed | 0.01 | 1 | 4.0000 | nan | nan | 14.5k | 3m00s |
                """)
    }

    /// Hundreds of distinct keys (the key interner grows past its first table) and more runs than
    /// the threshold for reading on two connections come back exactly as written.
    @Test func summariesKeepEveryKeyAcrossManyRuns() throws {
        let db = try TrackerDB(home: Fixture.tempDir())
        let runs = RunReader.concurrentFrom + 3
        let keys = 300
        try db.write { db in
            try db.execute(sql: "INSERT INTO experiment (id, name, spec) VALUES (1, 'many', '{}')")
            for id in 1...runs {
                try db.execute(
                    sql:
                        "INSERT INTO run (id, experimentId, name, config, configHash, state) VALUES (?, 1, ?, '{}', ?, 'queued')",
                    arguments: [id, "r\(id)", "h\(id)"])
                let k = id % keys
                try db.execute(
                    sql:
                        "INSERT INTO runParam (runId, key, type, num, text) VALUES (?, ?, 'int', ?, NULL), (?, 'shared', 'text', NULL, ?)",
                    arguments: [id, "p\(k)", id, id, "v\(k)"])
                try db.execute(
                    sql:
                        "INSERT INTO metricSummary (runId, key, lastStep, last, min, max, count) VALUES (?, ?, 1, ?, 0, 9, 1)",
                    arguments: [id, "m\(k)", Double(id) / 2])
            }
            try TrackerDB.rebuildSummaryPacks(in: db)
        }
        for selection in [RunSelection(experiment: "many"), RunSelection(runs: ["r1", "r2", "r301"])] {
            let summaries = try RunReader(db: db).summaries(selection)
            #expect(summaries.count == (selection.runs.isEmpty ? runs : 3))
            for r in summaries {
                let k = Int(r.id) % keys
                #expect(r.params == ["p\(k)": .int(r.id), "shared": .text("v\(k)")], "run \(r.id)")
                #expect(r.metrics["m\(k)"]?.last == Double(r.id) / 2 && r.metrics.count == 1, "run \(r.id)")
            }
        }
    }

    @Test func everyRunShowsTheParamsThatDifferAmongThem() throws {
        let doc = try list(RunListQuery())
        guard case .table(let t) = doc.sections[0] else {
            Issue.record("no table")
            return
        }
        #expect(
            t.columns == [
                "experiment", "run", "id", "variant", "state", "model.dModel", "train.compile", "train.lr",
                "train.seed",
                "best val/loss", "final val/loss", "val/bpb", "tokens/s", "duration",
            ])
        #expect(
            t.rows.last!.map(\.display) == [
                "-", "pytorch-baseline", "6", "softmax", "succeeded", "-", "-", "-", "-", "3.2500", "3.2500", "-", "-",
                "-",
            ])
    }

    @Test func sortsWithMissingAndNaNLast() throws {
        let sweep = RunSelection(experiment: "sweep")
        #expect(
            try names(RunListQuery(selection: sweep, sort: "val/loss", limit: nil)) == [
                "stick_breaking-seed1", "stick_breaking-seed2", "softmax_rope-seed1", "softmax_rope-seed2",
                "forgetting-seed1",
            ])
        #expect(
            try names(RunListQuery(selection: sweep, sort: "val/loss.min", descending: true)).first
                == "forgetting-seed1")
        #expect(
            try names(RunListQuery(selection: sweep, sort: "train.lr", descending: true, limit: 2)) == [
                "forgetting-seed1", "softmax_rope-seed1",
            ])
        #expect(
            try names(RunListQuery(sort: "name", limit: 3)) == [
                "forgetting-seed1", "pytorch-baseline", "softmax_rope-seed1",
            ])
        #expect(
            try names(RunListQuery(selection: sweep, sort: "duration", descending: true)).first
                == "stick_breaking-seed2")
        #expect(throws: ReportError.badSortKey("train.nope")) { try list(RunListQuery(sort: "train.nope")) }
    }

    @Test func limitSaysWhatWasLeftOut() throws {
        let doc = try list(RunListQuery(selection: RunSelection(experiment: "sweep"), limit: 2))
        #expect(doc.sections.last == .note("showing 2 of 5 runs (--limit)"))
    }

    @Test func selectsByStateAndWhere() throws {
        #expect(try names(RunListQuery(selection: RunSelection(state: "failed"))) == ["forgetting-seed1"])
        let filter = try Filter.parse(
            #"model.attention.variant = "stick_breaking" and train.lr < 0.005 and val/loss.min < 3.05 and tag.note ~ "ne""#
        )
        #expect(try names(RunListQuery(selection: RunSelection(filter: filter))) == ["stick_breaking-seed1"])
        let either = try Filter.parse(
            #"not (tag.note = "baseline" or run.state = "failed") and run.experiment = "sweep""#)
        #expect(
            try names(RunListQuery(selection: RunSelection(filter: either))) == [
                "stick_breaking-seed1", "stick_breaking-seed2",
            ])
        let lengen = try Filter.parse("`lengen/loss/4x/[2L,4L)`.max > 3.9 and train.compile = true")
        #expect(
            try names(RunListQuery(selection: RunSelection(filter: lengen))) == [
                "softmax_rope-seed1", "softmax_rope-seed2",
            ])
        #expect(throws: StoreError.experimentNotFound("nope")) {
            try list(RunListQuery(selection: RunSelection(experiment: "nope")))
        }
    }

    @Test func injectionAttemptsStayLiteral() throws {
        for attack in [#"x' OR 1=1 --"#, #"'; DROP TABLE run; --"#, #"%"#, #"_"#] {
            let quoted = "\"" + attack.replacingOccurrences(of: "\"", with: "\\\"") + "\""
            for expr in ["model.attention.variant = \(quoted)", "tag.note ~ \(quoted)", "run.name = \(quoted)"] {
                #expect(
                    try names(RunListQuery(selection: RunSelection(filter: try Filter.parse(expr)))).isEmpty, "\(expr)")
            }
        }
        #expect(try names(RunListQuery()).count == 6)
    }
}

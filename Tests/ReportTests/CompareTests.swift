// `tracker report --compare` and `tracker report RUN` over the fixture: differing parameters,
// groups with mean ± std, the length-generalisation and task tables, charts, one run whole.
import Basics
import Store
import Testing

@testable import Report

struct CompareTests {
    let reader: RunReader

    init() throws { reader = RunReader(db: try Fixture.database()) }

    func tables(_ doc: ReportDocument) -> [String: ReportTable] {
        var out: [String: ReportTable] = [:]
        for case .table(let t) in doc.sections { out[t.title] = t }
        return out
    }

    @Test func groupsBySeedlessDifferingParams() throws {
        let doc = try Reports.compare(reader, CompareQuery(selection: RunSelection(experiment: "sweep")))
        #expect(doc.title == "tracker report --compare: 5 runs in 3 groups (experiment sweep)")
        let t = tables(doc)
        #expect(
            t["Runs"]!.columns == [
                "run", "id", "model.attention.variant", "train.lr", "train.seed", "state", "final train/loss",
                "final val/loss",
                "best val/loss", "val/bpb", "tokens/s", "steps", "tokens", "wall",
            ])
        let groups = t["Groups: mean ± std over runs (grouped by model.attention.variant, train.lr)"]!
        #expect(
            TextRenderer.alignedTable(groups) == """
                model.attention.variant  train.lr  runs   final train/loss     final val/loss      best val/loss            val/bpb     tokens/s    steps  tokens             wall
                -----------------------  --------  ----  -----------------  -----------------  -----------------  -----------------  -----------  -------  ------  ---------------
                softmax_rope                0.003     2  3.1500 ± 0.0707 ▼  3.2500 ± 0.0707 ▼  3.2500 ± 0.0707 ▼  1.6250 ± 0.0354 ▼  12.8k ± 354  100 ± 0  -       12m30s ± 42.4 s
                stick_breaking              0.003     2  2.9500 ± 0.0707 ▲  3.0500 ± 0.0707 ▲  3.0500 ± 0.0707 ▲  1.5250 ± 0.0354 ▲  13.8k ± 354  100 ± 0  -       15m30s ± 42.4 s
                forgetting                   0.01     1                inf                nan             4.0000                nan        14.5k      100  -                 3m00s
                """)
        #expect(
            TextRenderer.alignedTable(t["lengen/loss (final, mean ± std)"]!) == """
                group                                     1x [0,L)          2x [L,2L)         4x [2L,4L)
                -------------------------------  -----------------  -----------------  -----------------
                variant=softmax_rope lr=0.003    3.2500 ± 0.0707 ▼  3.6500 ± 0.0707 ▼  4.0500 ± 0.0707 ▼
                variant=stick_breaking lr=0.003  3.0500 ± 0.0707 ▲  3.1750 ± 0.0707 ▲  3.3000 ± 0.0707 ▲
                variant=forgetting lr=0.01                     nan                nan                nan
                """)
        // Means 0.2 apart with deviations of 0.0707 each: apart by the rule, and the legend says so.
        #expect(doc.sections.contains(.note(Reports.markLegend)))
        #expect(
            t["task/acc (final, mean ± std)"]!.rows.map { $0[1].display } == [
                "0.650 ± 0.071 ▼", "0.850 ± 0.071 ▲", "1.000",
            ])
        let charts = doc.sections.compactMap { if case .chart(let c) = $0 { c } else { nil } }
        #expect(charts.map(\.metric) == ["train/loss", "val/loss", "lengen/loss", "task/acc"])
        // Groups of two seeds have a spread band; the single run has none.
        #expect(charts[1].series[0].band.map(\.step) == [0, 50, 100])
        #expect(charts[1].series[2].band.isEmpty)
        let lengen = charts[2]
        #expect(lengen.xLabels == ["1x [0,L)", "2x [L,2L)", "4x [2L,4L)"])
        #expect(lengen.series[0].name == "variant=stick_breaking lr=0.003")
        #expect(lengen.series[0].points.map { formatFixed($0.value, 4) } == ["3.0500", "3.1750", "3.3000"])
        #expect(lengen.series[0].band.map { formatFixed($0.high - $0.low, 4) } == ["0.1414", "0.1414", "0.1414"])
        #expect(
            charts[1].series.map(\.name) == [
                "variant=stick_breaking lr=0.003", "variant=softmax_rope lr=0.003", "variant=forgetting lr=0.01",
            ])
        #expect(
            charts[1].series[0].points == [
                HistoryPoint(step: 0, value: 5), HistoryPoint(step: 50, value: 4.025),
                HistoryPoint(step: 100, value: 3.05),
            ])
    }

    @Test func groupByChosenKeysAndNamedRuns() throws {
        let q = CompareQuery(
            selection: RunSelection(runs: ["1", "stick_breaking-seed1", "softmax_rope-seed2"]), groupBy: ["train.seed"])
        let doc = try Reports.compare(reader, q)
        let t = tables(doc)
        #expect(
            t["Runs"]!.rows.map { $0[0].display } == [
                "softmax_rope-seed1", "softmax_rope-seed2", "stick_breaking-seed1",
            ])
        #expect(
            t["Groups: mean ± std over runs (grouped by train.seed)"]!.rows.map { $0.prefix(3).map(\.display) } == [
                ["1", "2", "3.0000 ± 0.1414"], ["2", "1", "3.2000"],
            ])
    }

    @Test func ungroupedRunsAreRowsOfTheLengthTable() throws {
        let doc = try Reports.compare(reader, CompareQuery(selection: RunSelection(runs: ["1", "3"])))
        let t = tables(doc)
        #expect(t["Runs"]!.columns.contains("train.seed") == false)
        #expect(
            t["lengen/loss (final)"]!.rows.map { $0.map(\.display) } == [
                ["softmax_rope-seed1", "3.2000", "3.6000", "4.0000"],
                ["stick_breaking-seed1", "3.0000", "3.1250", "3.2500"],
            ])
    }

    @Test func chartsKeepTheBestSeries() throws {
        let runs = try Reports.compare(
            reader, CompareQuery(selection: RunSelection(runs: ["1", "3", "5"]), maxSeries: 2))
        let charts = runs.sections.compactMap { if case .chart(let c) = $0 { c } else { nil } }
        #expect(charts[0].series.map(\.name) == ["stick_breaking-seed1", "softmax_rope-seed1"])
        #expect(runs.sections.last == .note("curves show the 2 best of 3 runs by final loss"))
    }

    @Test func noRunsIsAnError() {
        #expect(throws: ReportError.self) {
            try Reports.compare(reader, CompareQuery(selection: RunSelection(state: "queued")))
        }
    }

    @Test func oneRunWhole() throws {
        let doc = try Reports.run(reader, "stick_breaking-seed1")
        #expect(doc.title == "tracker report: run stick_breaking-seed1 (id 3)")
        let t = tables(doc)
        #expect(
            Set(t.keys) == [
                "Run", "Lineage", "Config", "Tags", "Metrics", "Checkpoints and artifacts", "State history",
            ])
        #expect(
            t["Lineage"]!.rows.map { $0.map(\.display) } == [
                ["code version", "abc1234"], ["shards[0].path", "shards/train_000.bin"], ["shards[0].sha256", "s0"],
                ["tokenizer.sha256", "t0k"],
            ])
        #expect(
            t["Config"]!.rows.map { $0.map(\.display) } == [
                ["model.attention.variant", "stick_breaking"], ["model.dModel", "64"], ["train.lr", "0.003"],
                ["train.seed", "1"],
            ])
        #expect(
            t["Checkpoints and artifacts"]!.rows[0].map(\.display) == [
                "checkpoint", "100", "runs/3/step100.safetensors", "1.0 MB", "c0ffee",
            ])
        #expect(t["State history"]!.rows.map { $0[2].display } == ["queued", "running", "succeeded"])
        #expect(
            t["Metrics"]!.rows.first { $0[0].display == "val/loss" }!.map(\.display) == [
                "val/loss", "100", "3", "3", "5", "3",
            ])
        #expect(throws: StoreError.runNotFound("nope")) { try Reports.run(reader, "nope") }
    }
}

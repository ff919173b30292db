// Mean and standard deviation over seeds, detection of differing parameters, grouping.
import Store
import Testing

@testable import Report

struct StatisticsTests {
    func run(_ id: Int64, _ params: [String: ParamValue]) -> RunSummary {
        RunSummary(id: id, name: "r\(id)", experiment: nil, state: "succeeded", duration: nil, params: params)
    }

    @Test func meanAndSampleStandardDeviation() {
        let s = Statistics.meanStd([2, 4, 4, 4, 5, 5, 7, 9])!
        #expect(s.mean == 5)
        #expect(abs(s.std! - 2.138089935299395) < 1e-12)
        #expect(Statistics.meanStd([3.5])! == (3.5, nil))
        #expect(Statistics.meanStd([]) == nil)
        let diverged = Statistics.meanStd([3.0, .nan])!
        #expect(diverged.mean.isNaN && diverged.std!.isNaN)
    }

    @Test func differingParamsIncludeKeysSomeRunsLack() {
        let runs = [
            run(1, ["a": .int(1), "b": .text("x"), "c": .real(0.1)]),
            run(2, ["a": .int(1), "b": .text("y"), "c": .real(0.1)]),
            run(3, ["a": .int(1), "b": .text("x"), "c": .real(0.1), "d": .bool(true)]),
        ]
        #expect(Statistics.differingParams(runs) == ["b", "d"])
        #expect(Statistics.differingParams([runs[0]]) == [])
        #expect(Statistics.differingParams([run(1, ["a": .int(1)]), run(2, ["a": .real(1)])]) == ["a"])
    }

    /// Comparing variants lists the variant and the options whose values differ, not every
    /// variant's own defaults: an option only one variant has is not a difference.
    @Test func variantOptionsDifferOnlyByValue() {
        let runs = [
            run(
                1,
                [
                    "model.attention.variant": .text("softmax_rope"), "model.attention.rope_base": .real(1e4),
                    "model.attention.tile": .int(64),
                ]),
            run(
                2,
                [
                    "model.attention.variant": .text("forgetting"), "model.attention.rope_base": .real(5e5),
                    "model.attention.tile": .int(64), "model.attention.gate_bias_init": .real(0),
                ]),
            run(
                3, ["model.attention.variant": .text("stick_breaking"), "model.attention.remainder": .text("current")]),
            run(
                4,
                [
                    "model.attention.variant": .text("softmax_rope"), "model.attention.rope_base": .real(1e4),
                    "model.attention.tile": .int(64), "model.schedule.name": .text("staircase"),
                    "model.schedule.chunk": .int(4),
                ]),
        ]
        #expect(
            Statistics.differingParams(runs) == [
                "model.attention.rope_base", "model.attention.variant", "model.schedule.name",
            ])
    }

    @Test func groupsKeepFirstSeenOrderAndAggregate() {
        let runs = [
            run(1, ["v": .text("sb"), "train.seed": .int(1)]), run(2, ["v": .text("fox"), "train.seed": .int(1)]),
            run(3, ["v": .text("sb"), "train.seed": .int(2)]),
        ]
        runs[0].metrics["val/loss"] = MetricStat(lastStep: 1, last: 3.0, min: 3.0, max: 3.0, count: 1)
        runs[2].metrics["val/loss"] = MetricStat(lastStep: 1, last: 3.2, min: 3.2, max: 3.2, count: 1)
        let groups = Statistics.group(runs, by: ["v"])
        #expect(groups.map(\.label) == ["v=sb", "v=fox"])
        #expect(groups.map { $0.runs.map(\.id) } == [[1, 3], [2]])
        #expect(groups[0].aggregate { $0.metrics["val/loss"]?.last }.display == "3.1000 ± 0.1414")
        #expect(groups[1].aggregate { $0.metrics["val/loss"]?.last } == .missing)
    }

    @Test func meanCurveAveragesEachStep() {
        let a = [HistoryPoint(step: 0, value: 4), HistoryPoint(step: 10, value: 2)]
        let b = [HistoryPoint(step: 0, value: 6), HistoryPoint(step: 20, value: 1)]
        #expect(
            Statistics.meanCurve([a, b]) == [
                HistoryPoint(step: 0, value: 5), HistoryPoint(step: 10, value: 2), HistoryPoint(step: 20, value: 1),
            ])
    }
}

struct MarkTests {
    /// Loss column (lower is better): 1.0 ± 0.1 is best; 1.15 ± 0.1 lies within the sum of the
    /// deviations (0.2) and stays unmarked; 1.5 ± 0.1 is apart; a single run is never marked.
    @Test func marksTheBestAndWhatIsApartFromIt() {
        var rows: [[Cell]] = [
            [.text("a"), .meanStd(1.15, 0.1, .fixed(2))], [.text("b"), .meanStd(1.0, 0.1, .fixed(2))],
            [.text("c"), .meanStd(1.5, 0.1, .fixed(2))], [.text("d"), .meanStd(0.5, nil, .fixed(2))],
        ]
        #expect(Statistics.markDifferences(&rows, column: 1, higherIsBetter: false))
        #expect(rows.map { $0[1].mark } == [nil, .best, .apart, nil])
        #expect(rows.map { $0[1].display } == ["1.15 ± 0.10", "1.00 ± 0.10 ▲", "1.50 ± 0.10 ▼", "0.50"])
        var acc: [[Cell]] = [[.meanStd(0.9, 0.01, .fixed(2))], [.meanStd(0.5, 0.01, .fixed(2))]]
        Statistics.markDifferences(&acc, column: 0, higherIsBetter: true)
        #expect(acc.map { $0[0].mark } == [.best, .apart])
        var one: [[Cell]] = [[.meanStd(0.9, 0.01, .fixed(2))], [.meanStd(0.5, nil, .fixed(2))]]
        #expect(!Statistics.markDifferences(&one, column: 0, higherIsBetter: true))
        #expect(Statistics.apart((1, 0.1), (1.3, 0.1)) == true && Statistics.apart((1, 0.1), (1.2, 0.1)) == false)
        #expect(Statistics.apart((1, nil), (3, 0.1)) == nil)
    }

    @Test func marksReachEveryFormat() {
        let doc = ReportDocument(
            title: "t",
            sections: [
                .table(
                    ReportTable(
                        title: "g", columns: ["group", "loss"],
                        rows: [
                            [.text("a"), .marked(.meanStd(1, 0.1, .fixed(2)), .best)],
                            [.text("b"), .marked(.meanStd(2, 0.1, .fixed(2)), .apart)], [.text("c"), .missing],
                        ]))
            ])
        #expect(doc.render(.csv) == "group,loss,loss std,loss mark\na,1,0.1,best\nb,2,0.1,apart\nc,,,")
        #expect(doc.render(.json).contains(#""mark": "apart""#))
        #expect(doc.render(.html).contains(#"<td class="num best">1.00 ± 0.10 ▲</td>"#))
        #expect(doc.render(.markdown).contains("| b | 2.00 ± 0.10 ▼ |"))
    }
}

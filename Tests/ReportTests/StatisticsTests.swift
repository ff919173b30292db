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

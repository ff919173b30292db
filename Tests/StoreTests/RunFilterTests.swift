// A run filter compiles to SQL whose only spliced text is the compiler's own: every name and
// value from the user is a `?` argument, and the filter selects exactly the runs it says.
import Foundation
import Testing

@testable import Store

struct RunFilterTests {
    @Test func sqlCarriesValuesAsArguments() throws {
        let attack = #"x' OR '1'='1"#
        let e = Filter.or(
            .compare(.tag("note"), .equal, .string(attack)), .compare(.metric("val/loss'--", .min), .less, .number(2)))
        let sql = e.sql()
        #expect(!sql.sql.contains(attack))
        #expect(!sql.sql.contains("--"))
        #expect(
            sql.arguments == [
                .text("note"), .text(attack), .text("val/loss'--"), .real(2.0),
            ])
        #expect(sql.sql.components(separatedBy: "?").count - 1 == sql.arguments.count)
    }

    @Test(arguments: Backend.allCases) func selectsByParamTagAndMetric(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        for (i, lr) in [0.001, 0.003].enumerated() {
            let run = try db.createRun(
                RunRecord(name: "r\(i)", config: "{}", configHash: "h\(i)", state: .succeeded),
                params: ["train.lr": .real(lr)], tags: ["note": i == 0 ? "base" : "new"])
            try db.logMetrics([MetricPoint(runId: run.id!, key: "val/loss", step: 1, value: 3 - Double(i), time: 0)])
        }
        let reader = RunReader(db: db)
        func names(_ f: Filter) throws -> [String] { try reader.summaries(RunSelection(filter: f)).map(\.name) }
        #expect(try names(.compare(.param("train.lr"), .less, .number(0.002))) == ["r0"])
        #expect(try names(.compare(.tag("note"), .contains, .string("ne"))) == ["r1"])
        #expect(try names(.compare(.metric("val/loss", .last), .lessOrEqual, .number(2))) == ["r1"])
        #expect(try names(.not(.compare(.param("nope"), .equal, .number(1)))) == ["r0", "r1"])
        #expect(try names(.compare(.run(.name), .equal, .string("r0"))) == ["r0"])
    }

    @Test(arguments: Backend.allCases) func numbersCompareWithNumericTagsAsNumbers(backend: Backend) throws {
        guard let db = try makeDB(backend) else { return }
        let tags = ["9", "20", "1.0", "-2.5e1", "abc", "9abc", " 9", "0x10", ".5", "5.", "nan", "1e"]
        for (i, tag) in tags.enumerated() {
            _ = try db.createRun(
                RunRecord(name: tag, config: "{}", configHash: "h\(i)", state: .succeeded), params: [:],
                tags: ["epochs": tag])
        }
        let reader = RunReader(db: db)
        func names(_ op: Comparison, _ v: Double) throws -> Set<String> {
            Set(try reader.summaries(RunSelection(filter: .compare(.tag("epochs"), op, .number(v)))).map(\.name))
        }
        #expect(try names(.equal, 9) == ["9"])
        #expect(try names(.greater, 10) == ["20"])
        #expect(try names(.less, 10) == ["9", "1.0", "-2.5e1", ".5", "5."])
        #expect(try names(.equal, 1) == ["1.0"])
        #expect(try names(.equal, -25) == ["-2.5e1"])
        #expect(try names(.notEqual, 9) == ["20", "1.0", "-2.5e1", ".5", "5."])
        // `~` compares text: the number's digits.
        let contains = try reader.summaries(RunSelection(filter: .compare(.tag("epochs"), .contains, .number(9))))
        #expect(Set(contains.map(\.name)) == ["9", "9abc", " 9"])
        #expect(TagNumber.value("9") == 9 && TagNumber.value("+.5e-1") == 0.05 && TagNumber.value("1e") == nil)
    }
}

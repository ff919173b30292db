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
}

// JSON output: one document with the report's title and its sections. Table rows are objects
// keyed by column name with typed values (numbers stay numbers; NaN and infinities, which JSON
// cannot hold, become the strings "nan", "inf", "-inf"; a mean ± std is {"mean": m, "std": s}, and
// {"mean": m, "std": s, "mark": "best"} or "apart" when marked).
// Written by hand so the key order is the report's own and the output is byte-for-byte stable.

import Basics

enum JSONRenderer {
    static func render(_ doc: ReportDocument) -> String {
        JSON.object([("title", .string(doc.title)), ("sections", .array(doc.sections.map(section)))]).render()
    }

    static func section(_ s: ReportSection) -> JSON {
        switch s {
        case .table(let t):
            return .object([
                ("kind", .string("table")), ("title", .string(t.title)),
                ("columns", .array(t.columns.map { .string($0) })),
                ("rows", .array(t.rows.map { row in .object(zip(t.columns, row).map { ($0, cell($1)) }) })),
            ])
        case .chart(let c):
            return .object(
                [
                    ("kind", .string("chart")), ("title", .string(c.title)), ("metric", .string(c.metric)),
                    ("logScale", .bool(c.logScale)),
                    (
                        "series",
                        .array(c.series.map(series))
                    ),
                ] + (c.xLabels.isEmpty ? [] : [("xLabels", .array(c.xLabels.map { .string($0) }))]))
        case .note(let n):
            return .object([("kind", .string("note")), ("text", .string(n))])
        }
    }

    /// A series: its name, points as [step, value] and, when it has one, its band as [step, low, high].
    static func series(_ s: ReportChart.Series) -> JSON {
        var fields: [(String, JSON)] = [
            ("name", .string(s.name)),
            ("points", .array(s.points.map { .array([.number(Double($0.step)), .number(orString: $0.value)]) })),
        ]
        if !s.band.isEmpty {
            fields.append(
                (
                    "band",
                    .array(
                        s.band.map {
                            .array([.number(Double($0.step)), .number(orString: $0.low), .number(orString: $0.high)])
                        })
                ))
        }
        return .object(fields)
    }

    static func cell(_ c: Cell) -> JSON {
        switch c {
        case .text(let s): return .string(s)
        case .int(let v): return .integer(v)
        case .number(let v, _): return .number(orString: v)
        case .meanStd(let m, let s, _):
            return .object([("mean", .number(orString: m)), ("std", s.map { .number(orString: $0) } ?? .null)])
        case .marked(let c, let mark):
            if case .object(let fields) = cell(c) { return .object(fields + [("mark", .string(mark.rawValue))]) }
            return .object([("value", cell(c)), ("mark", .string(mark.rawValue))])
        case .missing: return .null
        }
    }
}

// JSON output: one document with the report's title and its sections. Table rows are objects
// keyed by column name with typed values (numbers stay numbers; NaN and infinities, which JSON
// cannot hold, become the strings "nan", "inf", "-inf"; a mean ± std is {"mean": m, "std": s}).
// Written by hand so the key order is the report's own and the output is byte-for-byte stable.

import Basics

/// A JSON value with insertion-ordered objects.
enum JSON {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    static func number(orString v: Double) -> JSON { v.isFinite ? .number(v) : .string(formatShortest(v)) }

    func render(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent + 1)
        let end = String(repeating: "  ", count: indent)
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let v): return formatShortest(v)
        case .string(let s): return JSONText.quoted(s)
        case .array(let items):
            if items.isEmpty { return "[]" }
            if items.allSatisfy({ if case .number = $0 { true } else { false } }) {
                return "[" + items.map { $0.render() }.joined(separator: ", ") + "]"
            }
            return "[\n" + items.map { pad + $0.render(indent: indent + 1) }.joined(separator: ",\n") + "\n" + end + "]"
        case .object(let fields):
            if fields.isEmpty { return "{}" }
            return "{\n"
                + fields.map { pad + JSONText.quoted($0.0) + ": " + $0.1.render(indent: indent + 1) }
                .joined(separator: ",\n") + "\n" + end + "}"
        }
    }

    /// One line, no spaces: the form of import lines and canonical configs (with sorted keys).
    func compact() -> String {
        switch self {
        case .array(let items): return "[" + items.map { $0.compact() }.joined(separator: ",") + "]"
        case .object(let fields):
            return "{" + fields.map { JSONText.quoted($0.0) + ":" + $0.1.compact() }.joined(separator: ",") + "}"
        default: return render()
        }
    }
}

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
            return .object([
                ("kind", .string("chart")), ("title", .string(c.title)), ("metric", .string(c.metric)),
                ("logScale", .bool(c.logScale)),
                (
                    "series",
                    .array(
                        c.series.map { s in
                            .object([
                                ("name", .string(s.name)),
                                (
                                    "points",
                                    .array(
                                        s.points.map {
                                            .array([.number(Double($0.step)), .number(orString: $0.value)])
                                        })
                                ),
                            ])
                        })
                ),
            ])
        case .note(let n):
            return .object([("kind", .string("note")), ("text", .string(n))])
        }
    }

    static func cell(_ c: Cell) -> JSON {
        switch c {
        case .text(let s): return .string(s)
        case .int(let v): return .number(Double(v))
        case .number(let v, _): return .number(orString: v)
        case .meanStd(let m, let s, _):
            return .object([("mean", .number(orString: m)), ("std", s.map { .number(orString: $0) } ?? .null)])
        case .missing: return .null
        }
    }
}

// A run filter (the AST of `tracker report --where`, parsed by Report) and its compilation to a
// parameterised SQL condition over `run r` (with the experiment joined as `e`). Every name and
// value from the user becomes a `?` argument, never SQL text: the only text spliced in comes
// from this file's fixed vocabulary.
import GRDB

/// A condition on runs: comparisons of parameters, tags, run columns and metric summaries,
/// joined by and / or / not.
public indirect enum Filter: Sendable, Equatable {
    case and(Filter, Filter)
    case or(Filter, Filter)
    case not(Filter)
    case compare(Field, Comparison, Literal)
}

/// What a comparison reads.
public enum Field: Sendable, Equatable, Hashable {
    case param(String)
    case tag(String)
    case run(RunColumn)
    case metric(String, MetricField)

    public enum RunColumn: String, Sendable, CaseIterable { case name, state, id, experiment, origin }
    public enum MetricField: String, Sendable, CaseIterable { case last, min, max }

    /// Reads a field name the way --where and --sort spell it; nil when a `run.` column is unknown.
    public static func named(_ name: String, quoted: Bool = false) -> Field? {
        if !quoted, name.hasPrefix("tag."), name.count > 4 { return .tag(String(name.dropFirst(4))) }
        if !quoted, name.hasPrefix("run.") {
            return RunColumn(rawValue: String(name.dropFirst(4))).map { .run($0) }
        }
        if name.contains("/") {
            for f in MetricField.allCases where name.hasSuffix("." + f.rawValue) {
                return .metric(String(name.dropLast(f.rawValue.count + 1)), f)
            }
            return .metric(name, .last)
        }
        return .param(name)
    }
}

public enum Comparison: String, Sendable, CaseIterable {
    case equal = "="
    case notEqual = "!="
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
    case contains = "~"
}

public enum Literal: Sendable, Equatable {
    case number(Double)
    case string(String)
}

/// A SQL condition and the arguments for its placeholders, in order.
struct SQLCondition: Sendable {
    var sql: String
    var arguments: [DatabaseValue]

    init(sql: String, arguments: [DatabaseValue] = []) {
        self.sql = sql
        self.arguments = arguments
    }

    /// Conditions joined with AND; an empty list is always true.
    static func all(_ parts: [SQLCondition]) -> SQLCondition {
        if parts.isEmpty { return SQLCondition(sql: "1") }
        return SQLCondition(
            sql: parts.map { "(\($0.sql))" }.joined(separator: " AND "), arguments: parts.flatMap(\.arguments))
    }
}

extension Filter {
    /// The SQL condition that holds for exactly the runs this expression selects. A comparison on a
    /// parameter, tag or metric the run does not have is false (and `not` of it is true).
    func sql() -> SQLCondition {
        switch self {
        case .and(let a, let b):
            let x = a.sql()
            let y = b.sql()
            return SQLCondition(sql: "(\(x.sql)) AND (\(y.sql))", arguments: x.arguments + y.arguments)
        case .or(let a, let b):
            let x = a.sql()
            let y = b.sql()
            return SQLCondition(sql: "(\(x.sql)) OR (\(y.sql))", arguments: x.arguments + y.arguments)
        case .not(let a):
            let x = a.sql()
            return SQLCondition(sql: "NOT (\(x.sql))", arguments: x.arguments)
        case .compare(let field, let op, let literal):
            return Self.comparison(field, op, literal)
        }
    }

    private static func comparison(_ field: Field, _ op: Comparison, _ literal: Literal) -> SQLCondition {
        let value: DatabaseValue
        let isNumber: Bool
        switch literal {
        case .number(let v):
            value = v.databaseValue
            isNumber = true
        case .string(let s):
            value = s.databaseValue
            isNumber = false
        }
        func test(_ column: String) -> String {
            op == .contains ? "instr(\(column), ?) > 0" : "\(column) \(op.rawValue) ?"
        }
        switch field {
        case .param(let key):
            let column = isNumber ? "p.num" : "p.text"
            return SQLCondition(
                sql: "EXISTS (SELECT 1 FROM runParam p WHERE p.runId = r.id AND p.key = ? AND \(test(column)))",
                arguments: [key.databaseValue, value])
        case .tag(let key):
            return SQLCondition(
                sql: "EXISTS (SELECT 1 FROM runTag t WHERE t.runId = r.id AND t.key = ? AND \(test("t.value")))",
                arguments: [key.databaseValue, value])
        case .metric(let key, let stat):
            let column: String
            switch stat {
            case .last: column = "s.last"
            case .min: column = "s.min"
            case .max: column = "s.max"
            }
            return SQLCondition(
                sql: "EXISTS (SELECT 1 FROM metricSummary s WHERE s.runId = r.id AND s.key = ? AND \(test(column)))",
                arguments: [key.databaseValue, value])
        case .run(let column):
            let sqlColumn: String
            switch column {
            case .name: sqlColumn = "r.name"
            case .state: sqlColumn = "r.state"
            case .id: sqlColumn = "r.id"
            case .experiment: sqlColumn = "e.name"
            case .origin: sqlColumn = "r.origin"
            }
            return SQLCondition(sql: test(sqlColumn), arguments: [value])
        }
    }
}

// A run filter (the AST of `tracker report --where`, parsed by Report) and its compilation to a
// parameterised SQL condition over `run r` (with the experiment joined as `e`). Every name and
// value from the user becomes a `?` argument, never SQL text: the only text spliced in comes
// from this file's fixed vocabulary. The SQL runs on SQLite and PostgreSQL alike, but for
// substring search (`~`), spelled per dialect, and literals compared with a column of the other type.

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

    /// The literal as text (a number as the shortest text that reads back the same).
    var text: String {
        switch self {
        case .number(let v): v.rounded() == v && abs(v) < 1e15 ? String(Int64(v)) : String(v)
        case .string(let s): s
        }
    }

    /// The literal as a number, NULL (matching nothing) when it is text that is not one.
    var numberOrNull: SQLValue {
        switch self {
        case .number(let v): .real(v)
        case .string(let s): Double(s).map { .real($0) } ?? .null
        }
    }
}

/// A SQL condition and the arguments for its placeholders, in order.
struct SQLCondition: Sendable {
    var sql: String
    var arguments: [SQLValue]

    init(sql: String, arguments: [SQLValue] = []) {
        self.sql = sql
        self.arguments = arguments
    }

    /// Conditions joined with AND; an empty list is always true.
    static func all(_ parts: [SQLCondition]) -> SQLCondition {
        if parts.isEmpty { return SQLCondition(sql: "1 = 1") }
        return SQLCondition(
            sql: parts.map { "(\($0.sql))" }.joined(separator: " AND "), arguments: parts.flatMap(\.arguments))
    }
}

extension Filter {
    /// The SQL condition that holds for exactly the runs this expression selects. A comparison on a
    /// parameter, tag or metric the run does not have is false (and `not` of it is true).
    /// Chains of `and` / `or` are written flat and parentheses only where SQL's precedence needs
    /// them (an `or` inside an `and` or a `not`), so SQLite's parser nests no deeper than the
    /// expression itself does.
    func sql(_ dialect: SQLDialect = .sqlite) -> SQLCondition {
        switch self {
        case .and, .or:
            let isAnd: Bool
            if case .and = self { isAnd = true } else { isAnd = false }
            var parts: [SQLCondition] = []
            for term in chain(isAnd: isAnd) {
                let x = term.sql(dialect)
                let wrap: Bool
                if case .or = term { wrap = isAnd } else { wrap = false }
                parts.append(SQLCondition(sql: wrap ? "(\(x.sql))" : x.sql, arguments: x.arguments))
            }
            return Self.joined(parts, isAnd ? " AND " : " OR ")
        case .not(let a):
            let x = a.sql(dialect)
            if case .compare = a { return SQLCondition(sql: "NOT \(x.sql)", arguments: x.arguments) }
            if case .not = a { return SQLCondition(sql: "NOT \(x.sql)", arguments: x.arguments) }
            return SQLCondition(sql: "NOT (\(x.sql))", arguments: x.arguments)
        case .compare(let field, let op, let literal):
            return Self.comparison(field, op, literal, dialect)
        }
    }

    /// `parts` joined by `op`, in parenthesised groups of at most 16: SQLite counts a flat chain
    /// of n terms as an expression n deep (limit 1000, and each EXISTS adds to it), groups keep
    /// both that depth and the parser's nesting small for the longest chains --where allows.
    private static func joined(_ parts: [SQLCondition], _ op: String) -> SQLCondition {
        let group = 16
        if parts.count <= group {
            return SQLCondition(sql: parts.map(\.sql).joined(separator: op), arguments: parts.flatMap(\.arguments))
        }
        let groups = stride(from: 0, to: parts.count, by: group).map { start in
            let g = joined(Array(parts[start..<min(start + group, parts.count)]), op)
            return SQLCondition(sql: "(\(g.sql))", arguments: g.arguments)
        }
        return joined(groups, op)
    }

    /// The operands of a chain of the same operator, in order: `(a or b) or c` gives [a, b, c].
    /// Iterative on the left side, where the parser builds chains, so a long chain does not recurse.
    private func chain(isAnd: Bool) -> [Filter] {
        var rights: [Filter] = []
        var node = self
        while true {
            switch (node, isAnd) {
            case (.and(let l, let r), true), (.or(let l, let r), false):
                rights.append(contentsOf: Filter.flattened(r, isAnd: isAnd).reversed())
                node = l
                continue
            default:
                rights.append(node)
            }
            break
        }
        return rights.reversed()
    }

    private static func flattened(_ f: Filter, isAnd: Bool) -> [Filter] {
        switch (f, isAnd) {
        case (.and, true), (.or, false): return f.chain(isAnd: isAnd)
        default: return [f]
        }
    }

    private static func comparison(_ field: Field, _ op: Comparison, _ literal: Literal, _ dialect: SQLDialect)
        -> SQLCondition
    {
        var value: SQLValue
        let isNumber: Bool
        switch literal {
        case .number(let v):
            value = .real(v)
            isNumber = true
        case .string(let s):
            value = .text(s)
            isNumber = false
        }
        func test(_ column: String) -> String {
            switch (op, dialect) {
            case (.contains, .sqlite): "instr(\(column), ?) > 0"
            case (.contains, .postgres): "strpos(CAST(\(column) AS TEXT), CAST(? AS TEXT)) > 0"
            default: "\(column) \(op.rawValue) ?"
            }
        }
        switch field {
        case .param(let key):
            let column = isNumber ? "p.num" : "p.text"
            return SQLCondition(
                sql: "EXISTS (SELECT 1 FROM runParam p WHERE p.runId = r.id AND p.key = ? AND \(test(column)))",
                arguments: [.text(key), value])
        case .tag(let key):
            // Tags are text. A number compares with the tags that are decimal numbers, as numbers
            // ("9" < 10, "1.0" = 1), and with no other tag; `~` compares text with its digits.
            // (SQLite used to compare the text with the number's spelling "9.0", so `= 9` never
            // matched "9" and `> 10` did; PostgreSQL compared texts, so "9" > "10".)
            let column: String
            if isNumber && op != .contains {
                column =
                    switch dialect {
                    case .sqlite: "\(TagNumber.sqlFunction)(t.value)"
                    case .postgres:
                        "CASE WHEN t.value ~ '\(TagNumber.pattern)' THEN CAST(t.value AS DOUBLE PRECISION) END"
                    }
            } else {
                column = "t.value"
                if isNumber { value = .text(literal.text) }
            }
            return SQLCondition(
                sql: "EXISTS (SELECT 1 FROM runTag t WHERE t.runId = r.id AND t.key = ? AND \(test(column)))",
                arguments: [.text(key), value])
        case .metric(let key, let stat):
            let column: String
            switch stat {
            case .last: column = "s.last"
            case .min: column = "s.min"
            case .max: column = "s.max"
            }
            return SQLCondition(
                sql: "EXISTS (SELECT 1 FROM metricSummary s WHERE s.runId = r.id AND s.key = ? AND \(test(column)))",
                arguments: [.text(key), !isNumber && dialect == .postgres ? literal.numberOrNull : value])
        case .run(let column):
            let sqlColumn: String
            switch column {
            case .name: sqlColumn = "r.name"
            case .state: sqlColumn = "r.state"
            case .id: sqlColumn = "r.id"
            case .experiment: sqlColumn = "e.name"
            case .origin: sqlColumn = "r.origin"
            }
            // PostgreSQL compares only like types: the id with a number, the text columns with text.
            if dialect == .postgres && op != .contains {
                if column == .id, !isNumber { value = literal.numberOrNull }
                if column != .id, isNumber { value = .text(literal.text) }
            }
            // coalesce: a run without an experiment compares false (and `not` of it is true), as a
            // missing parameter does, instead of SQL's NULL that `not` leaves NULL.
            return SQLCondition(sql: "coalesce(\(test(sqlColumn)), FALSE)", arguments: [value])
        }
    }
}

/// Which tags are numbers for `--where`: decimal numbers, optionally signed, with an exponent
/// (`pattern`; no spaces, hex, inf or nan), the same in both engines: PostgreSQL matches the
/// pattern, SQLite calls `sqlFunction`, registered on every connection the store opens.
enum TagNumber {
    static let pattern = "^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$"
    static let sqlFunction = "tracker_tag_number"

    /// The number `text` spells under `pattern`, or nil.
    static func value(_ text: String) -> Double? {
        var bytes = Substring(text).utf8[...]
        func digits() -> Int {
            let n = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }.count
            bytes = bytes.dropFirst(n)
            return n
        }
        if let c = bytes.first, c == UInt8(ascii: "+") || c == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        var mantissa = digits()
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            mantissa += digits()
        }
        guard mantissa > 0 else { return nil }
        if let c = bytes.first, c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if let c = bytes.first, c == UInt8(ascii: "+") || c == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            guard digits() > 0 else { return nil }
        }
        return bytes.isEmpty ? Double(text) : nil
    }
}

extension Filter {
    /// The parameters, tags and metrics the expression names, in order, each once.
    public var namedFields: [Field] {
        var out: [Field] = []
        var stack = [self]
        while let f = stack.popLast() {
            switch f {
            case .and(let a, let b), .or(let a, let b): stack += [b, a]
            case .not(let a): stack.append(a)
            case .compare(let field, _, _):
                if case .run = field { continue }
                if !out.contains(field) { out.append(field) }
            }
        }
        return out
    }
}

extension RunReader {
    /// The fields `filter` names that no run in the store has (a misspelt `trian.lr` or an
    /// unknown statistic in `val/loss.mean`), as "parameter 'x'", "tag 'x'", "metric 'x'": what
    /// a report says when a filter selects nothing.
    public func missingFields(_ filter: Filter) throws -> [String] {
        let fields = filter.namedFields
        if fields.isEmpty { return [] }
        return try db.read { db in
            try fields.compactMap { field -> String? in
                let (table, kind, key): (String, String, String)
                switch field {
                case .param(let k): (table, kind, key) = ("runParam", "parameter", k)
                case .tag(let k): (table, kind, key) = ("runTag", "tag", k)
                case .metric(let k, _): (table, kind, key) = ("metricSummary", "metric", k)
                case .run: return nil
                }
                let found =
                    try db.scalar(
                        Bool.self, sql: "SELECT EXISTS (SELECT 1 FROM \(table) WHERE key = ?)", arguments: [key])
                    ?? false
                return found ? nil : "\(kind) '\(key)'"
            }
        }
    }
}

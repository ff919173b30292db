// The layer under TrackerDB: one SQL engine behind a small synchronous interface, so every store
// query is written once, in a portable subset of SQL that SQLite and PostgreSQL both run
// (`?` placeholders, `INSERT ... ON CONFLICT`, `RETURNING`, `CAST(? AS BIGINT)` where a NULL
// argument needs a type, no engine-only functions). Where the two truly differ, the query has a
// small `dialect` switch next to it. Two implementations: SQLiteBackend (GRDB) and
// PostgresBackend (postgres-nio).
import Foundation

/// The SQL engine a store runs on.
public enum SQLDialect: Sendable, Equatable { case sqlite, postgres }

/// One value as the store binds and reads it. Booleans are integers 0/1 in both engines.
public enum SQLValue: Sendable, Equatable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A Swift value the store binds as a query argument and reads back from a column.
public protocol SQLValueConvertible {
    var sqlValue: SQLValue { get }
    /// nil when the column's value cannot be this type.
    init?(sqlValue: SQLValue)
}

extension SQLValue: SQLValueConvertible {
    public var sqlValue: SQLValue { self }
    public init?(sqlValue: SQLValue) { self = sqlValue }
}

extension Int64: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(self) }
    public init?(sqlValue: SQLValue) {
        switch sqlValue {
        case .integer(let v): self = v
        case .real(let v) where v.rounded() == v && abs(v) < 9.2e18: self = Int64(v)
        default: return nil
        }
    }
}

extension Int: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(Int64(self)) }
    public init?(sqlValue: SQLValue) {
        guard let v = Int64(sqlValue: sqlValue) else { return nil }
        self = Int(v)
    }
}

extension Int32: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(Int64(self)) }
    public init?(sqlValue: SQLValue) {
        guard let v = Int64(sqlValue: sqlValue), let n = Int32(exactly: v) else { return nil }
        self = n
    }
}

extension Double: SQLValueConvertible {
    public var sqlValue: SQLValue { .real(self) }
    public init?(sqlValue: SQLValue) {
        switch sqlValue {
        case .real(let v): self = v
        case .integer(let v): self = Double(v)
        default: return nil
        }
    }
}

extension Bool: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(self ? 1 : 0) }
    public init?(sqlValue: SQLValue) {
        guard let v = Int64(sqlValue: sqlValue) else { return nil }
        self = v != 0
    }
}

extension String: SQLValueConvertible {
    public var sqlValue: SQLValue { .text(self) }
    public init?(sqlValue: SQLValue) {
        guard case .text(let s) = sqlValue else { return nil }
        self = s
    }
}

extension Array: SQLValueConvertible where Element == UInt8 {
    public var sqlValue: SQLValue { .blob(self) }
    public init?(sqlValue: SQLValue) {
        guard case .blob(let b) = sqlValue else { return nil }
        self = b
    }
}

extension Optional: SQLValueConvertible where Wrapped: SQLValueConvertible {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
    public init?(sqlValue: SQLValue) {
        if sqlValue == .null {
            self = .none
        } else if let w = Wrapped(sqlValue: sqlValue) {
            self = .some(w)
        } else {
            return nil
        }
    }
}

extension RunState: SQLValueConvertible {
    public var sqlValue: SQLValue { .text(rawValue) }
    public init?(sqlValue: SQLValue) {
        guard case .text(let s) = sqlValue else { return nil }
        self.init(rawValue: s)
    }
}

/// One result row. Column names are matched without regard to case: PostgreSQL folds the
/// schema's unquoted camelCase names to lower case.
public struct SQLRow: Sendable {
    public let columns: [String]
    public let values: [SQLValue]

    public init(columns: [String], values: [SQLValue]) {
        self.columns = columns.map { $0.lowercased() }
        self.values = values
    }

    /// The value of column `name` (.null when the row has no such column).
    public subscript(_ name: String) -> SQLValue {
        let key = name.lowercased()
        guard let i = columns.firstIndex(of: key) else { return .null }
        return values[i]
    }

    public subscript(_ index: Int) -> SQLValue { values[index] }

    /// Column `name` as `T`; throws a clear error when it is missing or of another type.
    public func get<T: SQLValueConvertible>(_ name: String, as type: T.Type = T.self) throws -> T {
        let key = name.lowercased()
        guard let i = columns.firstIndex(of: key) else { throw StoreError.sqlite("no column \(name) in the result") }
        guard let v = T(sqlValue: values[i]) else {
            throw StoreError.sqlite("column \(name) holds \(values[i]), not a \(T.self)")
        }
        return v
    }
}

/// One connection inside a transaction: what every TrackerDB query runs on.
public protocol StoreConnection {
    var dialect: SQLDialect { get }
    /// Runs one statement; returns the number of rows it changed.
    @discardableResult func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int
    /// Runs one query and returns its rows.
    func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow]
    /// Runs several statements without arguments (a migration, a test fixture).
    func executeScript(_ sql: String) throws
}

/// Arguments as the call sites write them: `[id, name, nil]`.
public typealias SQLArguments = [(any SQLValueConvertible)?]

extension StoreConnection {
    @discardableResult
    public func execute(sql: String, arguments: SQLArguments = []) throws -> Int {
        try execute(sql, arguments.map { $0?.sqlValue ?? .null })
    }

    public func rows(sql: String, arguments: SQLArguments = []) throws -> [SQLRow] {
        try rows(sql, arguments.map { $0?.sqlValue ?? .null })
    }

    public func row(sql: String, arguments: SQLArguments = []) throws -> SQLRow? {
        try rows(sql: sql, arguments: arguments).first
    }

    /// The first column of the first row as `T` (nil when there is no row or it is NULL).
    public func scalar<T: SQLValueConvertible>(_ type: T.Type, sql: String, arguments: SQLArguments = []) throws -> T? {
        guard let first = try row(sql: sql, arguments: arguments)?.values.first, first != .null else { return nil }
        guard let v = T(sqlValue: first) else { throw StoreError.sqlite("\(first) is not a \(T.self)") }
        return v
    }

    /// The first column of every row as `T`.
    public func column<T: SQLValueConvertible>(_ type: T.Type, sql: String, arguments: SQLArguments = []) throws -> [T]
    {
        try rows(sql: sql, arguments: arguments).map { row in
            guard let v = T(sqlValue: row.values.first ?? .null) else {
                throw StoreError.sqlite("\(row.values.first ?? .null) is not a \(T.self)")
            }
            return v
        }
    }
}

/// `values` as arguments, to join with others: `[key] + sqlArguments(runIds)`.
public func sqlArguments<V: SQLValueConvertible>(_ values: [V]) -> SQLArguments { values.map { $0 } }

/// `?, ?, ?` for `n` arguments (an IN list, a VALUES row).
public func sqlMarks(_ n: Int) -> String { Array(repeating: "?", count: n).joined(separator: ", ") }

/// `values` in slices of at most `size`, for IN lists and VALUES rows that stay under the engines'
/// limits on bound parameters (SQLite 32,766, PostgreSQL 65,535) whatever the caller asks for.
public func sqlChunks<T>(_ values: [T], size: Int = 500) -> [ArraySlice<T>] {
    stride(from: 0, to: values.count, by: size).map { values[$0..<min($0 + size, values.count)] }
}

/// What a transaction may do. Writes on SQLite are BEGIN IMMEDIATE (the write lock up front);
/// on PostgreSQL a write transaction is READ COMMITTED, reads are REPEATABLE READ READ ONLY (one
/// snapshot, like a SQLite read transaction).
public enum TransactionKind: Sendable { case read, write }

/// A SQL engine holding one store.
public protocol SQLBackend: Sendable {
    var dialect: SQLDialect { get }
    /// Where the store is, for messages (a path, or a URL without its password).
    var location: String { get }
    /// Runs `body` in one transaction of `kind`: committed when it returns, rolled back when it throws.
    func transaction<T>(_ kind: TransactionKind, _ body: (any StoreConnection) throws -> T) throws -> T
}

/// Rewrites `?` placeholders as PostgreSQL's `$1, $2, ...` (and `?NNN` as `$NNN`), leaving
/// string literals, quoted names and comments alone.
func postgresPlaceholders(_ sql: String) -> String {
    var out = ""
    out.reserveCapacity(sql.utf8.count + 16)
    var next = 1
    var quote: Character?
    var chars = Array(sql)
    var i = 0
    chars.append(" ")
    while i < chars.count - 1 {
        let c = chars[i]
        if let q = quote {
            out.append(c)
            if c == q { quote = nil }
        } else if c == "'" || c == "\"" {
            quote = c
            out.append(c)
        } else if c == "-" && chars[i + 1] == "-" {
            while i < chars.count - 1 && chars[i] != "\n" {
                out.append(chars[i])
                i += 1
            }
            continue
        } else if c == "?" {
            var digits = ""
            while i + 1 < chars.count - 1, chars[i + 1].isASCII, chars[i + 1].isNumber {
                digits.append(chars[i + 1])
                i += 1
            }
            if digits.isEmpty {
                out += "$\(next)"
                next += 1
            } else {
                out += "$" + digits
            }
        } else {
            out.append(c)
        }
        i += 1
    }
    return out
}

/// The statements of a script, split at the semicolons outside string literals, quoted names
/// and comments (the extended protocol runs one statement at a time); empty ones left out.
func sqlStatements(_ script: String) -> [String] {
    var out: [String] = []
    var current = ""
    var quote: Character?
    var comment = false
    var previous: Character = " "
    for c in script {
        if comment {
            if c == "\n" { comment = false }
        } else if let q = quote {
            if c == q { quote = nil }
        } else if c == "'" || c == "\"" {
            quote = c
        } else if c == "-" && previous == "-" {
            comment = true
            current.removeLast()
            previous = " "
            continue
        } else if c == ";" {
            let s = current.trimmingCharacters(in: .whitespacesAndNewlines)
            if !s.isEmpty { out.append(s) }
            current = ""
            previous = " "
            continue
        }
        if !comment { current.append(c) }
        previous = c
    }
    let s = current.trimmingCharacters(in: .whitespacesAndNewlines)
    if !s.isEmpty { out.append(s) }
    return out
}

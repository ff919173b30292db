// Records read from rows and written as rows on any backend: a record is Codable with one
// property per column (names as in the schema), so one small Decoder maps a row onto it and one
// Encoder lists its columns for an INSERT. Only flat records of scalars are supported.
import Foundation

/// A record stored as one row of `databaseTableName`.
public protocol SQLRecord: Codable, Sendable {
    static var databaseTableName: String { get }
}

/// A record whose table has an `id INTEGER PRIMARY KEY` (BIGSERIAL on PostgreSQL).
public protocol IdentifiedRecord: SQLRecord {
    var id: Int64? { get set }
}

extension StoreConnection {
    public func fetchAll<R: Decodable>(_ type: R.Type, sql: String, arguments: SQLArguments = []) throws -> [R] {
        try rows(sql: sql, arguments: arguments).map { try R(from: SQLRowDecoder(row: $0)) }
    }

    public func fetchOne<R: Decodable>(_ type: R.Type, sql: String, arguments: SQLArguments = []) throws -> R? {
        try row(sql: sql, arguments: arguments).map { try R(from: SQLRowDecoder(row: $0)) }
    }

    /// The record with this id.
    public func fetch<R: IdentifiedRecord>(_ type: R.Type, id: Int64) throws -> R? {
        try fetchOne(R.self, sql: "SELECT * FROM \(R.databaseTableName) WHERE id = ?", arguments: [id])
    }

    /// Inserts `record` (its non-nil properties; the table's defaults fill the rest).
    public func insert<R: SQLRecord>(_ record: R) throws {
        let (sql, args) = try Self.insertStatement(record)
        try execute(sql, args)
    }

    /// Inserts `record` without its id and returns it with the id the database gave it.
    public func insert<R: IdentifiedRecord>(_ record: R) throws -> R {
        var r = record
        r.id = nil
        let (sql, args) = try Self.insertStatement(r)
        guard let id = try rows(sql + " RETURNING id", args).first.flatMap({ Int64(sqlValue: $0[0]) }) else {
            throw StoreError.sqlite("INSERT INTO \(R.databaseTableName) returned no id")
        }
        r.id = id
        return r
    }

    static func insertStatement<R: SQLRecord>(_ record: R) throws -> (String, [SQLValue]) {
        let encoder = SQLRowEncoder()
        try record.encode(to: encoder)
        let columns = encoder.storage.columns
        let sql =
            "INSERT INTO \(R.databaseTableName) (\(columns.joined(separator: ", "))) VALUES (\(sqlMarks(columns.count)))"
        return (sql, encoder.storage.values)
    }
}

/// Decodes a flat Codable record from one row, by column name.
struct SQLRowDecoder: Decoder {
    let row: SQLRow
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(RowContainer<Key>(row: row))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw DecodingError.typeMismatch(
            [Any].self, .init(codingPath: codingPath, debugDescription: "a row decodes only into a flat record"))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        ValueDecoder(value: row.values.first ?? .null, codingPath: codingPath)
    }

    struct RowContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let row: SQLRow
        var codingPath: [any CodingKey] { [] }
        var allKeys: [Key] { row.columns.compactMap { Key(stringValue: $0) } }

        func contains(_ key: Key) -> Bool { row.columns.contains(key.stringValue.lowercased()) }
        func decodeNil(forKey key: Key) throws -> Bool { row[key.stringValue] == .null }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try T(from: ValueDecoder(value: row[key.stringValue], codingPath: [key]))
        }

        func nestedContainer<N: CodingKey>(keyedBy type: N.Type, forKey key: Key) throws
            -> KeyedDecodingContainer<N>
        {
            throw DecodingError.typeMismatch(
                N.self, .init(codingPath: [key], debugDescription: "a column holds no nested record"))
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            throw DecodingError.typeMismatch(
                [Any].self, .init(codingPath: [key], debugDescription: "a column holds no list"))
        }

        func superDecoder() throws -> any Decoder { SQLRowDecoder(row: row) }
        func superDecoder(forKey key: Key) throws -> any Decoder { SQLRowDecoder(row: row) }
    }
}

/// Decodes one column value (a scalar, or a String-backed enum through its single value).
struct ValueDecoder: Decoder, SingleValueDecodingContainer {
    let value: SQLValue
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        throw DecodingError.typeMismatch(Key.self, .init(codingPath: codingPath, debugDescription: "not a record"))
    }
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "not a list"))
    }
    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { value == .null }

    private func get<T: SQLValueConvertible>(_ type: T.Type) throws -> T {
        guard let v = T(sqlValue: value) else {
            throw DecodingError.typeMismatch(
                T.self, .init(codingPath: codingPath, debugDescription: "column holds \(value)"))
        }
        return v
    }

    func decode(_ type: Bool.Type) throws -> Bool { try get(Bool.self) }
    func decode(_ type: String.Type) throws -> String { try get(String.self) }
    func decode(_ type: Double.Type) throws -> Double { try get(Double.self) }
    func decode(_ type: Float.Type) throws -> Float { Float(try get(Double.self)) }
    func decode(_ type: Int.Type) throws -> Int { try get(Int.self) }
    func decode(_ type: Int8.Type) throws -> Int8 { try narrow(Int8.self) }
    func decode(_ type: Int16.Type) throws -> Int16 { try narrow(Int16.self) }
    func decode(_ type: Int32.Type) throws -> Int32 { try get(Int32.self) }
    func decode(_ type: Int64.Type) throws -> Int64 { try get(Int64.self) }
    func decode(_ type: UInt.Type) throws -> UInt { try narrow(UInt.self) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try narrow(UInt8.self) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try narrow(UInt16.self) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try narrow(UInt32.self) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try narrow(UInt64.self) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: self) }

    private func narrow<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        guard let v = T(exactly: try get(Int64.self)) else {
            throw DecodingError.typeMismatch(T.self, .init(codingPath: codingPath, debugDescription: "out of range"))
        }
        return v
    }
}

/// Lists a flat record's columns and values for an INSERT (nil properties are left out).
final class SQLRowEncoder: Encoder {
    final class Storage {
        var columns: [String] = []
        var values: [SQLValue] = []
    }
    let storage = Storage()
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(Columns<Key>(storage: storage))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { fatalError("a record encodes only into flat columns") }
    func singleValueContainer() -> any SingleValueEncodingContainer {
        fatalError("a record encodes only into flat columns")
    }

    struct Columns<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let storage: Storage
        var codingPath: [any CodingKey] { [] }

        mutating func put(_ key: Key, _ value: SQLValue) {
            storage.columns.append(key.stringValue)
            storage.values.append(value)
        }
        mutating func encodeNil(forKey key: Key) throws { put(key, .null) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { put(key, value.sqlValue) }
        mutating func encode(_ value: String, forKey key: Key) throws { put(key, .text(value)) }
        mutating func encode(_ value: Double, forKey key: Key) throws { put(key, .real(value)) }
        mutating func encode(_ value: Float, forKey key: Key) throws { put(key, .real(Double(value))) }
        mutating func encode(_ value: Int, forKey key: Key) throws { put(key, .integer(Int64(value))) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { put(key, .integer(Int64(value))) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { put(key, .integer(value)) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            guard let v = value as? any SQLValueConvertible else {
                throw EncodingError.invalidValue(
                    value, .init(codingPath: [key], debugDescription: "\(T.self) is not a column type"))
            }
            put(key, v.sqlValue)
        }
        mutating func nestedContainer<N: CodingKey>(keyedBy keyType: N.Type, forKey key: Key)
            -> KeyedEncodingContainer<N>
        {
            fatalError("a record encodes only into flat columns")
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            fatalError("a record encodes only into flat columns")
        }
        mutating func superEncoder() -> any Encoder { fatalError("a record encodes only into flat columns") }
        mutating func superEncoder(forKey key: Key) -> any Encoder {
            fatalError("a record encodes only into flat columns")
        }
    }
}

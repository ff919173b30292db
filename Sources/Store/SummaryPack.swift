// Packed per-run summaries (issue 16): table runSummaryPack holds one row per run with its
// parameters, tags and metric summaries as three compact blobs, so a report over 10,000 runs
// steps 10,000 rows instead of some 200,000 (runParam, runTag and metricSummary row by row).
// The per-key tables stay: `--where` compiles to SQL over them on both engines, and the ASHA
// queue, Slurm progress and one-run reads query single keys. Each pack is written in the same
// transaction as its rows: params and tags are rebuilt from their tables by setParams / setTags
// (once per run, when it is created or imported), metrics are merged by the metric write path
// with the summaries it upserts. Every run has its row from its creation on (migration 0006's
// trigger); that migration's data step (`backfill`) filled the rows of the runs before it.
//
// Layout, version 1, all numbers little-endian:
//   u8 version (1), u8 part (1 params, 2 tags, 3 metrics), u32 n, then n entries whose keys are
//   distinct and in increasing byte order (the per-key tables' primary-key order in SQLite):
//     u16 key length, then the key's UTF-8 bytes, then by part:
//     params   u8 type (runParam.type's initial: 'i', 'r', 'b', 't'), u8 flags (1: num, 2: text),
//              [f64 num], [u32 length, then the text's UTF-8 bytes]
//     tags     u32 length, then the value's UTF-8 bytes
//     metrics  u8 flags (1: last is a number, 2: min, 4: max), i64 lastStep, i64 count,
//              [f64 last], [f64 min], [f64 max]
//   and nothing after the last entry. A reader refuses any other version, part, flag or length.
import Foundation

extension TrackerDB {
    /// Rebuilds every run's packed summaries from runParam, runTag and metricSummary, inside the
    /// caller's transaction: for rows written around the store's API (test fixtures in plain SQL,
    /// a repaired database); the store's own writes keep the packs current.
    public static func rebuildSummaryPacks(in db: any StoreConnection) throws { try SummaryPack.backfill(db) }
}

enum SummaryPack {
    enum Part: UInt8, CaseIterable {
        case params = 1
        case tags = 2
        case metrics = 3

        /// The runSummaryPack column holding this part.
        var column: String {
            switch self {
            case .params: "params"
            case .tags: "tags"
            case .metrics: "metrics"
            }
        }
    }

    static let version: UInt8 = 1

    /// A pack of no entries.
    static func empty(_ part: Part) -> [UInt8] { Writer(part, count: 0).bytes }

    /// One parameter as runParam stores it.
    struct Param {
        var type: UInt8
        var num: Double?
        var text: String?
    }

    static func encode(params: [(key: String, value: Param)]) -> [UInt8] {
        var w = Writer(.params, count: params.count)
        for (key, p) in sortedByBytes(params) {
            w.key(key)
            w.bytes.append(p.type)
            w.bytes.append((p.num == nil ? 0 : 1) | (p.text == nil ? 0 : 2))
            if let num = p.num { w.f64(num) }
            if let text = p.text { w.text(text) }
        }
        return w.bytes
    }

    static func encode(tags: [(key: String, value: String)]) -> [UInt8] {
        var w = Writer(.tags, count: tags.count)
        for (key, value) in sortedByBytes(tags) {
            w.key(key)
            w.text(value)
        }
        return w.bytes
    }

    static func encode(metrics: [(key: String, value: MetricStat)]) -> [UInt8] {
        var w = Writer(.metrics, count: metrics.count)
        for (key, m) in sortedByBytes(metrics) {
            w.key(key)
            w.bytes.append((m.last.isNaN ? 0 : 1) | (m.min == nil ? 0 : 2) | (m.max == nil ? 0 : 4))
            w.i64(m.lastStep)
            w.i64(m.count)
            for v in [m.last.isNaN ? nil : m.last, m.min, m.max] { if let v { w.f64(v) } }
        }
        return w.bytes
    }

    /// Entries in the pack's order: by their keys' bytes (String's `<` compares scalars, and
    /// PostgreSQL's ORDER BY its collation).
    private static func sortedByBytes<V>(_ entries: [(key: String, value: V)]) -> [(key: String, value: V)] {
        entries.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }

    struct Writer {
        var bytes: [UInt8] = []

        init(_ part: Part, count: Int) {
            bytes.reserveCapacity(6 + 48 * count)
            bytes.append(SummaryPack.version)
            bytes.append(part.rawValue)
            u32(UInt32(count))
        }

        mutating func key(_ key: String) {
            let utf8 = Array(key.utf8.prefix(Int(UInt16.max)))
            withUnsafeBytes(of: UInt16(utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: utf8)
        }

        mutating func text(_ s: String) {
            u32(UInt32(s.utf8.count))
            bytes.append(contentsOf: s.utf8)
        }

        mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        mutating func i64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        mutating func f64(_ v: Double) { i64(Int64(bitPattern: v.bitPattern)) }
    }

    // MARK: - Reading

    /// Reads one pack: `decode` checks its header and walks its entries, each checked before it
    /// is handed out. Every problem is a `StoreError.badSummaryPack` naming the run, the part and
    /// the byte.
    struct Reader {
        let base: UnsafePointer<UInt8>?
        let count: Int
        let runId: Int64
        let part: Part
        var offset = 0

        func fail(_ reason: String) -> StoreError {
            .badSummaryPack(runId: runId, part: part.column, offset: offset, reason: reason)
        }

        mutating func take(_ n: Int) throws -> UnsafePointer<UInt8> {
            guard n <= count - offset, let base else {
                throw fail("\(n) bytes needed, \(count - offset) left")
            }
            defer { offset += n }
            return base + offset
        }

        mutating func u8() throws -> UInt8 { try take(1).pointee }

        mutating func u16() throws -> Int {
            let p = try take(2)
            return Int(p[0]) | Int(p[1]) << 8
        }

        mutating func u32() throws -> Int {
            let p = try take(4)
            return (0..<4).reduce(0) { $0 | Int(p[$1]) << (8 * $1) }
        }

        mutating func i64() throws -> Int64 {
            let p = try take(8)
            return Int64(bitPattern: (0..<8).reduce(UInt64(0)) { $0 | UInt64(p[$1]) << (8 * UInt64($1)) })
        }

        mutating func f64() throws -> Double { Double(bitPattern: UInt64(bitPattern: try i64())) }

        mutating func text() throws -> String {
            let n = try u32()
            return String(decoding: UnsafeBufferPointer(start: try take(n), count: n), as: UTF8.self)
        }

        mutating func flags(allowed: UInt8) throws -> UInt8 {
            let f = try u8()
            if f & ~allowed != 0 { throw fail("unknown flags \(f)") }
            return f
        }

        mutating func param() throws -> ParamValue {
            let type = try u8()
            guard [UInt8(ascii: "i"), UInt8(ascii: "r"), UInt8(ascii: "b"), UInt8(ascii: "t")].contains(type) else {
                throw fail("unknown parameter type \(type)")
            }
            let f = try flags(allowed: 3)
            let num = f & 1 != 0 ? try f64() : nil
            if type == UInt8(ascii: "i"), let num, !(num >= -0x1p63 && num < 0x1p63) {
                throw fail("integer parameter \(num) out of range")
            }
            let text = f & 2 != 0 ? try self.text() : nil
            return RunReader.param(typeInitial: type, num: num, text: text)
        }

        mutating func metric() throws -> MetricStat {
            let f = try flags(allowed: 7)
            let lastStep = try i64()
            let count = try i64()
            let last = f & 1 != 0 ? try f64() : .nan
            return MetricStat(
                lastStep: lastStep, last: last, min: f & 2 != 0 ? try f64() : nil, max: f & 4 != 0 ? try f64() : nil,
                count: count)
        }

        /// Checks the header, then calls `entry` with each key's bytes (valid during the call)
        /// and this reader at the key's value, which `entry` must read whole.
        mutating func decode(_ entry: (UnsafeBufferPointer<UInt8>, inout Reader) throws -> Void) throws {
            let v = try u8()
            if v != SummaryPack.version { throw fail("version \(v), this build reads \(SummaryPack.version)") }
            let p = try u8()
            if p != part.rawValue { throw fail("part \(p) where \(part.rawValue) belongs") }
            let n = try u32()
            var previous: UnsafeBufferPointer<UInt8>?
            for _ in 0..<n {
                let length = try u16()
                let key = UnsafeBufferPointer(start: try take(length), count: length)
                if let previous, !previous.lexicographicallyPrecedes(key) {
                    throw fail("keys out of order or repeated")
                }
                previous = key
                try entry(key, &self)
            }
            if offset != count { throw fail("\(count - offset) bytes after the last entry") }
        }
    }

    /// Calls `entry` with each entry of `bytes` (the pack of `part` of run `runId`).
    static func decode(
        _ bytes: UnsafeRawBufferPointer, _ part: Part, runId: Int64,
        _ entry: (UnsafeBufferPointer<UInt8>, inout Reader) throws -> Void
    ) throws {
        var r = Reader(
            base: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), count: bytes.count, runId: runId, part: part)
        try r.decode(entry)
    }

    /// A metrics pack's entries, in its order.
    static func metrics(_ bytes: [UInt8], runId: Int64) throws -> [(key: String, value: MetricStat)] {
        var out: [(key: String, value: MetricStat)] = []
        try bytes.withUnsafeBytes { raw in
            try decode(raw, .metrics, runId: runId) { key, r in
                out.append((String(decoding: key, as: UTF8.self), try r.metric()))
            }
        }
        return out
    }

    // MARK: - Writing packs from the per-key tables

    /// Rebuilds `part` of the packs of run `runId` from its per-key table, inside the caller's
    /// transaction.
    static func rebuild(_ part: Part, runId: Int64, _ db: any StoreConnection) throws {
        try rebuild(part, runs: runId...runId, db)
    }

    /// Rebuilds `part` of the packs of the runs with ids in `runs`.
    static func rebuild(_ part: Part, runs: ClosedRange<Int64>, _ db: any StoreConnection) throws {
        let only = " WHERE runId BETWEEN ? AND ?"
        let arguments: SQLArguments = [runs.lowerBound, runs.upperBound]
        switch part {
        case .params:
            let rows = try db.rows(sql: "SELECT runId, key, type, num, text FROM runParam\(only)", arguments: arguments)
            try store(.params, grouped(rows), db) { rows in
                try encode(
                    params: rows.map { r in
                        let type = String(sqlValue: r["type"]) ?? ""
                        return (
                            try r.get("key"),
                            Param(
                                type: type.utf8.first ?? 0, num: Double(sqlValue: r["num"]),
                                text: String(sqlValue: r["text"]))
                        )
                    })
            }
        case .tags:
            let rows = try db.rows(sql: "SELECT runId, key, value FROM runTag\(only)", arguments: arguments)
            try store(.tags, grouped(rows), db) { rows in
                try encode(tags: rows.map { (try $0.get("key"), try $0.get("value")) })
            }
        case .metrics:
            let rows = try db.rows(
                sql: "SELECT runId, key, lastStep, last, lastIsNaN, min, max, count FROM metricSummary\(only)",
                arguments: arguments)
            try store(.metrics, grouped(rows), db) { rows in
                try encode(metrics: rows.map { r in (try r.get("key"), try stat(r)) })
            }
        }
    }

    /// A metricSummary row as the report reads it.
    static func stat(_ r: SQLRow) throws -> MetricStat {
        let nan = (Int64(sqlValue: r["lastIsNaN"]) ?? 0) != 0
        return MetricStat(
            lastStep: try r.get("lastStep"), last: nan ? .nan : (Double(sqlValue: r["last"]) ?? .nan),
            min: Double(sqlValue: r["min"]), max: Double(sqlValue: r["max"]), count: try r.get("count"))
    }

    /// `rows` by their runId column.
    private static func grouped(_ rows: [SQLRow]) throws -> [Int64: [SQLRow]] {
        var out: [Int64: [SQLRow]] = [:]
        for r in rows { out[try r.get("runId"), default: []].append(r) }
        return out
    }

    private static func store(
        _ part: Part, _ runs: [Int64: [SQLRow]], _ db: any StoreConnection, _ encode: ([SQLRow]) throws -> [UInt8]
    ) throws {
        for (runId, rows) in runs.sorted(by: { $0.key < $1.key }) { try write(part, runId, try encode(rows), db) }
    }

    /// Sets `part` of run `runId`'s pack to `bytes` (creating the row if a run has none).
    static func write(_ part: Part, _ runId: Int64, _ bytes: [UInt8], _ db: any StoreConnection) throws {
        let c = part.column
        try db.execute(
            sql: """
                INSERT INTO runSummaryPack (runId, params, tags, metrics) VALUES (?, ?, ?, ?)
                ON CONFLICT (runId) DO UPDATE SET \(c) = excluded.\(c)
                """,
            arguments: [runId] + Part.allCases.map { $0 == part ? bytes : empty($0) } as SQLArguments)
    }

    /// Migration 0006's data step (the packs of every run that existed before it, in the
    /// migration's transaction) and `TrackerDB.rebuildSummaryPacks`: every run gets a row of
    /// empty packs, then the packs of its rows.
    static func backfill(_ db: any StoreConnection) throws {
        let empties = Part.allCases.map { empty($0) } as SQLArguments
        try db.execute(sql: "UPDATE runSummaryPack SET params = ?, tags = ?, metrics = ?", arguments: empties)
        try db.execute(
            sql: """
                INSERT INTO runSummaryPack (runId, params, tags, metrics)
                SELECT id, ?, ?, ? FROM run WHERE id NOT IN (SELECT runId FROM runSummaryPack)
                """, arguments: empties)
        // A thousand runs at a time: the rows of every run at once took 470 MB for 10,000 runs.
        let ids = try db.column(Int64.self, sql: "SELECT id FROM run ORDER BY id")
        for start in stride(from: 0, to: ids.count, by: 1000) {
            let runs = ids[start]...ids[min(start + 999, ids.count - 1)]
            for part in Part.allCases { try rebuild(part, runs: runs, db) }
        }
    }
}

/// Many runs' packs decoded into the flat columns their summaries share (`RunColumns`), keys
/// interned from their bytes: a repeated key costs neither an allocation nor a hash.
struct PackColumns {
    private var params: SummaryEntries<ParamValue>
    private var tags: SummaryEntries<String>
    private var metrics: SummaryEntries<MetricStat>
    private var paramKeys = KeyInterner()
    private var tagKeys = KeyInterner()
    private var metricKeys = KeyInterner()

    /// `expectedRows`: about how many runs will be appended (a hint for reserving room).
    init(expectedRows: Int) {
        params = SummaryEntries(expectedRows: expectedRows)
        tags = SummaryEntries(expectedRows: expectedRows)
        metrics = SummaryEntries(expectedRows: expectedRows)
    }

    /// Appends run `runId`'s three packs as row `row` (rows in increasing order).
    mutating func append(
        row: Int, runId: Int64, _ params: UnsafeRawBufferPointer?, _ tags: UnsafeRawBufferPointer?,
        _ metrics: UnsafeRawBufferPointer?
    ) throws {
        guard let params, let tags, let metrics else { throw Self.missing(runId) }
        try SummaryPack.decode(params, .params, runId: runId) { key, r in
            self.params.append(row: row, key: paramKeys.id(key.baseAddress, key.count), try r.param())
        }
        try SummaryPack.decode(tags, .tags, runId: runId) { key, r in
            self.tags.append(row: row, key: tagKeys.id(key.baseAddress, key.count), try r.text())
        }
        try SummaryPack.decode(metrics, .metrics, runId: runId) { key, r in
            self.metrics.append(row: row, key: metricKeys.id(key.baseAddress, key.count), try r.metric())
        }
    }

    /// `append` for packs read as byte arrays (the portable reader).
    mutating func append(row: Int, runId: Int64, _ params: [UInt8]?, _ tags: [UInt8]?, _ metrics: [UInt8]?) throws {
        guard let params, let tags, let metrics else { throw Self.missing(runId) }
        try params.withUnsafeBytes { p in
            try tags.withUnsafeBytes { t in
                try metrics.withUnsafeBytes { m in try append(row: row, runId: runId, p, t, m) }
            }
        }
    }

    private static func missing(_ runId: Int64) -> StoreError {
        .badSummaryPack(runId: runId, part: "summaries", offset: 0, reason: "the run has no row")
    }

    /// Appends `other`'s `rows` rows after this one's first `after` rows, its keys re-interned.
    mutating func append(_ other: PackColumns, rows: Int, after: Int) {
        var other = other
        _ = other.finish(rows: rows)
        params.append(
            other.params, rows: rows, after: after, keys: other.paramKeys.strings.map { paramKeys.id(of: $0) })
        tags.append(other.tags, rows: rows, after: after, keys: other.tagKeys.strings.map { tagKeys.id(of: $0) })
        metrics.append(
            other.metrics, rows: rows, after: after, keys: other.metricKeys.strings.map { metricKeys.id(of: $0) })
    }

    /// The columns of the `rows` runs appended.
    mutating func finish(rows: Int) -> RunColumns {
        params.finish(rows: rows, names: paramKeys.strings)
        tags.finish(rows: rows, names: tagKeys.strings)
        metrics.finish(rows: rows, names: metricKeys.strings)
        return RunColumns(params: params, tags: tags, metrics: metrics)
    }
}

// Read-only queries behind every report: which runs a selection names, their summaries (run row,
// typed params, tags, metric summaries: runSummaryPack), metric histories for charts and exports, and one run whole.
// Each call reads in one transaction (summaries: see there), so a report never mixes two states
// of a run. Reports read only through this API: no SQL outside Store.
import Basics
import Foundation
import GRDB
import GRDBSQLite

/// Which runs a report covers: `--experiment`, `--state`, `--where`, or runs named on the command line.
public struct RunSelection: Sendable {
    public var experiment: String?
    public var state: String?
    public var filter: Filter?
    /// Run names or ids; empty means "every run the other fields allow".
    public var runs: [String]

    public init(experiment: String? = nil, state: String? = nil, filter: Filter? = nil, runs: [String] = []) {
        self.experiment = experiment
        self.state = state
        self.filter = filter
        self.runs = runs
    }
}

/// Reads runs for reports from a tracker database. Never writes.
public struct RunReader: Sendable {
    public let db: TrackerDB

    public init(db: TrackerDB) { self.db = db }

    /// Summaries of the selected runs, in id order: one row per run, its parameters, tags and
    /// metric summaries read from its packs (runSummaryPack, see SummaryPack.swift) into flat
    /// columns shared by all runs (`RunColumns`) with interned keys. Stepping the per-key tables
    /// instead (200,000 rows for 10,000 runs) was most of a 10,000-run comparison (perf). From
    /// `concurrentFrom` runs in the store, the runs below and from the median id are read and
    /// decoded at the same time on two connections (WAL readers), each half in one read
    /// transaction, and joined; every run is read whole in one of them, and a run that appeared
    /// in between is in the second half or in neither.
    public func summaries(_ selection: RunSelection) throws -> [RunSummary] {
        if db.sqlitePool == nil { return try portableSummaries(selection) }
        let (condition, total, split) = try read { db -> (SQLCondition, Int, Int64?) in
            let condition = try Self.condition(SQLiteConnection(db: db), selection)
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM run") ?? 0
            if total < Self.concurrentFrom { return (condition, total, nil) }
            let median = try Int64.fetchOne(
                db, sql: "SELECT id FROM run ORDER BY id LIMIT 1 OFFSET ?", arguments: [total / 2])
            return (condition, total, median)
        }
        guard let split else {
            var all = try read { db in try Self.packedRuns(db, condition, nil, total) }
            return all.finished()
        }
        let halves = ResultSlots<Result<PackedRuns, any Error>>(count: 2)
        DispatchQueue.concurrentPerform(iterations: 2) { half in
            halves[half] = Result {
                try read { db in
                    // The first half's columns receive the second's: room for both from the start
                    // (untouched room costs no page faults; growing them at the join copied and
                    // faulted in the first half's 100,000 metric entries again).
                    try Self.packedRuns(
                        db, condition, (half == 0 ? "r.id < ?" : "r.id >= ?", split), half == 0 ? total : total / 2)
                }
            }
        }
        var first = try halves[0]!.get()
        first.append(try halves[1]!.get())
        return first.finished()
    }

    /// Gives `runs` the columns read from their packs.
    static func attach(_ columns: RunColumns, to runs: [RunSummary]) {
        for (i, r) in runs.enumerated() { r.attach(columns, row: i) }
    }

    /// Selections of at least this many runs in the store are read on two connections.
    static let concurrentFrom = 2000

    /// Runs read with their packs, not yet given their columns.
    struct PackedRuns {
        var runs: [RunSummary] = []
        var packs: PackColumns

        /// Appends `other`'s runs after these.
        mutating func append(_ other: PackedRuns) {
            packs.append(other.packs, rows: other.runs.count, after: runs.count)
            runs += other.runs
        }

        /// The runs, given the columns of their packs.
        mutating func finished() -> [RunSummary] {
            RunReader.attach(packs.finish(rows: runs.count), to: runs)
            return runs
        }
    }

    /// The runs `condition` selects (and `range`, a condition on r.id with one argument), in id
    /// order, with their packs decoded; `hint`: about how many there are.
    private static func packedRuns(
        _ db: Database, _ condition: SQLCondition, _ range: (sql: String, id: Int64)?, _ hint: Int
    ) throws -> PackedRuns {
        var out = PackedRuns(packs: PackColumns(expectedRows: hint))
        var names = KeyInterner()  // experiment, state and origin repeat
        try Self.step(
            db,
            """
            SELECT r.id, r.name, e.name, r.state, r.origin, \(Self.durationSQL(.sqlite)), p.params, p.tags, p.metrics
            FROM run r LEFT JOIN experiment e ON e.id = r.experimentId LEFT JOIN runSummaryPack p ON p.runId = r.id
            WHERE (\(condition.sql))\(range.map { " AND " + $0.sql } ?? "") ORDER BY r.id
            """,
            SQLiteConnection.arguments(condition.arguments + (range.map { [.integer($0.id)] } ?? []))
        ) { s in
            let run = RunSummary(
                id: sqlite3_column_int64(s, 0), name: Self.string(s, 1) ?? "", experiment: names.text(s, 2),
                state: names.text(s, 3) ?? "", origin: names.text(s, 4) ?? "",
                duration: sqlite3_column_type(s, 5) == SQLITE_NULL ? nil : sqlite3_column_double(s, 5))
            func blob(_ i: Int32) -> UnsafeRawBufferPointer? {
                guard sqlite3_column_type(s, i) == SQLITE_BLOB else { return nil }
                return UnsafeRawBufferPointer(start: sqlite3_column_blob(s, i), count: Int(sqlite3_column_bytes(s, i)))
            }
            try out.packs.append(row: out.runs.count, runId: run.id, blob(6), blob(7), blob(8))
            out.runs.append(run)
        }
        return out
    }

    /// Metric histories (step, value; NaN kept) for `keys` of the given runs: `[runId: [key: points]]`.
    /// From 16 runs on, the two halves of the runs are read at the same time on two connections
    /// (a comparison charts up to 16 runs of each of 8 groups: some 50,000 points).
    public func histories(runIds: [Int64], keys: [String]) throws -> [Int64: [String: [HistoryPoint]]] {
        if runIds.isEmpty || keys.isEmpty { return [:] }
        if db.sqlitePool == nil { return try portableHistories(runIds: runIds, keys: keys) }
        if runIds.count < 16 { return try read { db in try Self.histories(db, runIds, keys) } }
        let halves = [Array(runIds[..<(runIds.count / 2)]), Array(runIds[(runIds.count / 2)...])]
        let parts = ResultSlots<Result<[Int64: [String: [HistoryPoint]]], any Error>>(count: 2)
        DispatchQueue.concurrentPerform(iterations: 2) { half in
            parts[half] = Result { try read { db in try Self.histories(db, halves[half], keys) } }
        }
        return try parts[0]!.get().merging(try parts[1]!.get()) { a, b in a.merging(b) { x, _ in x } }
    }

    private static func histories(_ db: Database, _ runIds: [Int64], _ keys: [String]) throws -> [Int64: [String:
        [HistoryPoint]]]
    {
        var out: [Int64: [String: [HistoryPoint]]] = [:]
        var points: [HistoryPoint] = []
        let ids = runIds.map(\.databaseValue)
        // One key at a time, so that rows carry neither the key nor isNaN (a NULL value is NaN:
        // the table's CHECK): stepping 51,000 rows of 128 runs was a sixth of a comparison's CPU.
        for key in Set(keys) {
            var runId: Int64 = -1
            func flush() {
                if runId >= 0 && !points.isEmpty { out[runId, default: [:]][key] = points }
                points.removeAll(keepingCapacity: true)
            }
            try Self.step(
                db,
                "SELECT runId, step, value FROM metric WHERE runId IN (\(sqlMarks(runIds.count))) AND key = ? ORDER BY runId, step",
                StatementArguments(ids + [key.databaseValue])
            ) { s in
                let id = sqlite3_column_int64(s, 0)
                if id != runId {
                    flush()
                    runId = id
                }
                let nan = sqlite3_column_type(s, 2) == SQLITE_NULL
                points.append(
                    HistoryPoint(step: sqlite3_column_int64(s, 1), value: nan ? .nan : sqlite3_column_double(s, 2)))
            }
            flush()
        }
        return out
    }

    /// The id of the run a user named: an id, or a name (the only run with it).
    public func resolve(_ ref: String) throws -> Int64 {
        try portableRead { db in try Self.resolve(db, ref) }
    }

    /// One run whole: its row with the experiment's and corpus's names, its artifacts (by kind,
    /// step) and its state history, read in one transaction.
    public func detail(_ id: Int64) throws -> RunDetail {
        try portableRead { db in
            guard let run = try db.fetch(RunRecord.self, id: id) else { throw StoreError.runNotFound(String(id)) }
            let experiment = try run.experimentId.flatMap {
                try db.scalar(String.self, sql: "SELECT name FROM experiment WHERE id = ?", arguments: [$0])
            }
            let corpus = try run.corpusId.flatMap { try db.fetch(CorpusRecord.self, id: $0) }
            let artifacts = try db.fetchAll(
                ArtifactRecord.self, sql: "SELECT * FROM artifact WHERE runId = ? ORDER BY kind, step NULLS FIRST, id",
                arguments: [id])
            let events = try db.fetchAll(
                RunEventRecord.self, sql: "SELECT * FROM runEvent WHERE runId = ? ORDER BY id", arguments: [id])
            return RunDetail(
                run: run, experiment: experiment, corpusName: corpus?.name, corpusFingerprint: corpus?.fingerprint,
                artifacts: artifacts, events: events)
        }
    }

    /// Runs `body` in one read transaction of SQLite's pool (the fast paths; callers check that
    /// the store is SQLite first); errors that are not the Store's own become `.sqlite`.
    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        guard let pool = db.sqlitePool else { throw StoreError.sqlite("not a SQLite store: \(db.path)") }
        do {
            return try pool.read(body)
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError.sqlite("\(error)")
        }
    }

    /// Runs `body` in one read transaction on any backend; errors not the Store's own become `.sqlite`.
    func portableRead<T>(_ body: (any StoreConnection) throws -> T) throws -> T {
        do {
            return try db.read(body)
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError.sqlite("\(error)")
        }
    }

    static func resolve(_ db: any StoreConnection, _ ref: String) throws -> Int64 {
        let ids = try db.column(Int64.self, sql: "SELECT id FROM run WHERE name = ? ORDER BY id", arguments: [ref])
        if ids.count == 1 { return ids[0] }
        if let id = Int64(ref), try db.scalar(Int64.self, sql: "SELECT 1 FROM run WHERE id = ?", arguments: [id]) != nil
        {
            return id
        }
        if ids.count > 1 {
            let imported = try db.column(
                Int64.self, sql: "SELECT id FROM run WHERE name = ? AND origin = 'local' ORDER BY id", arguments: [ref])
            if imported.count == 1 { return imported[0] }
            throw StoreError.ambiguousRun(name: ref, ids: ids)
        }
        throw StoreError.runNotFound(ref)
    }

    static func condition(_ db: any StoreConnection, _ s: RunSelection) throws -> SQLCondition {
        var parts: [SQLCondition] = []
        if let name = s.experiment {
            guard try db.scalar(Int64.self, sql: "SELECT 1 FROM experiment WHERE name = ?", arguments: [name]) != nil
            else {
                throw StoreError.experimentNotFound(name)
            }
            parts.append(SQLCondition(sql: "e.name = ?", arguments: [.text(name)]))
        }
        if let state = s.state { parts.append(SQLCondition(sql: "r.state = ?", arguments: [.text(state)])) }
        if let filter = s.filter { parts.append(filter.sql(db.dialect)) }
        if !s.runs.isEmpty {
            let ids = try s.runs.map { try resolve(db, $0) }
            parts.append(SQLCondition(sql: "r.id IN (\(sqlMarks(ids.count)))", arguments: ids.map { .integer($0) }))
        }
        return .all(parts)
    }

    /// Runs `sql` and calls `row` with the raw statement on each row. The statement is GRDB's,
    /// inside GRDB's read transaction, so GRDB still owns its life cycle.
    static func step(
        _ db: Database, _ sql: String, _ arguments: StatementArguments, _ row: (OpaquePointer) throws -> Void
    ) throws {
        let statement = try db.makeStatement(sql: sql)
        try statement.setArguments(arguments)
        let s = statement.sqliteStatement
        defer { sqlite3_reset(s) }
        while true {
            let rc = sqlite3_step(s)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw stepError(rc, db) }
            try row(s)
        }
    }

    /// The connection's error for a step that failed with `rc`.
    static func stepError(_ rc: Int32, _ db: Database) -> DatabaseError {
        DatabaseError(
            resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
    }

    /// Column i as a Double (nil for NULL).
    static func real(_ s: OpaquePointer, _ i: Int32) -> Double? {
        sqlite3_column_type(s, i) == SQLITE_NULL ? nil : sqlite3_column_double(s, i)
    }

    /// Column i as a String (nil for NULL).
    static func string(_ s: OpaquePointer, _ i: Int32) -> String? {
        guard let p = sqlite3_column_text(s, i) else { return nil }
        return String(decoding: UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(s, i))), as: UTF8.self)
    }

    /// The value from the type column's first letter ('i'nt, 'r'eal, 'b'ool, else text): the
    /// CHECK constraint allows only those four words.
    static func param(typeInitial: UInt8, num: Double?, text: String?) -> ParamValue {
        switch typeInitial {
        case UInt8(ascii: "i"): return .int(Int64(num ?? 0))
        case UInt8(ascii: "r"): return .real(num ?? .nan)
        case UInt8(ascii: "b"): return .bool((num ?? 0) != 0)
        default: return .text(text ?? "")
        }
    }
}

/// Hands out one String per distinct column text (parameter and metric keys repeat in every
/// run): an FNV-1a hash of the bytes indexes an open-addressing table of earlier texts, compared
/// with memcmp, so a repeated key costs neither an allocation nor Swift's (seeded SipHash)
/// dictionary hashing, which showed in the profile of a 10,000-run comparison. Before hashing,
/// the text is compared with the two likeliest ones: rows come in (run, key) order and the runs
/// of a sweep share their keys, so a key mostly follows the previous row's (the next id) or
/// starts a run (id 0).
struct KeyInterner {
    private var slots = [Int32](repeating: -1, count: 64)  // entry index or -1; power of two
    private var entries: [(hash: UInt64, start: Int, count: Int)] = []
    private var storage: [UInt8] = []
    /// The distinct texts so far, by id.
    private(set) var strings: [String] = []
    /// The id handed out last.
    private var last: Int32 = -1

    /// Column i as a String (nil for NULL), shared with every earlier equal value.
    mutating func text(_ s: OpaquePointer, _ i: Int32) -> String? {
        guard sqlite3_column_type(s, i) != SQLITE_NULL else { return nil }
        return strings[Int(id(s, i))]
    }

    /// The id of column i's text (NULL reads as the empty text): its index in `strings`.
    mutating func id(_ s: OpaquePointer, _ i: Int32) -> Int32 {
        let p = sqlite3_column_text(s, i)
        return id(p, p == nil ? 0 : Int(sqlite3_column_bytes(s, i)))
    }

    /// The id of `text`.
    mutating func id(of text: String) -> Int32 {
        var text = text
        return text.withUTF8 { id($0.baseAddress, $0.count) }
    }

    /// The id of the `n` bytes of text at `p`.
    mutating func id(_ p: UnsafePointer<UInt8>?, _ n: Int) -> Int32 {
        if let hit = guess(p, n) { return hit }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for j in 0..<n { h = (h ^ UInt64(p![j])) &* 0x100_0000_01b3 }
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: h) & mask
        while slots[slot] >= 0 {
            if entries[Int(slots[slot])].hash == h && equals(slots[slot], p, n) {
                last = slots[slot]
                return last
            }
            slot = (slot + 1) & mask
        }
        let id = Int32(entries.count)
        slots[slot] = id
        entries.append((h, storage.count, n))
        strings.append(String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self))
        storage.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        if entries.count * 2 > slots.count { grow() }
        last = id
        return id
    }

    /// The id of the `n` bytes at `p` if they are the text after the last one, the first text, or
    /// the last one again; nil otherwise.
    private mutating func guess(_ p: UnsafePointer<UInt8>?, _ n: Int) -> Int32? {
        let next = last &+ 1
        if next < entries.count && equals(next, p, n) {
            last = next
        } else if !entries.isEmpty && last != 0 && equals(0, p, n) {
            last = 0
        } else if last < 0 || !equals(last, p, n) {
            return nil
        }
        return last
    }

    /// Whether entry `id`'s text is the `n` bytes at `p`.
    private func equals(_ id: Int32, _ p: UnsafePointer<UInt8>?, _ n: Int) -> Bool {
        let e = entries[Int(id)]
        return e.count == n
            && storage.withUnsafeBufferPointer { n == 0 || memcmp($0.baseAddress! + e.start, p!, n) == 0 }
    }

    /// Doubles the table and re-inserts every entry.
    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        let mask = slots.count - 1
        for (i, e) in entries.enumerated() {
            var slot = Int(truncatingIfNeeded: e.hash) & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(i)
        }
    }
}

/// One run whole, for `tracker report RUN` and exports.
public struct RunDetail: Sendable {
    public var run: RunRecord
    public var experiment: String?
    public var corpusName: String?
    public var corpusFingerprint: String?
    public var artifacts: [ArtifactRecord]
    public var events: [RunEventRecord]
}

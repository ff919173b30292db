// The metric insert on engines without SQLite's C fast path. On PostgreSQL a batch is one
// statement: the points travel as five arrays (one bind each, binary) and `unnest` turns them
// into rows for one `INSERT ... ON CONFLICT DO UPDATE`, which is what lets one writer put well
// over 100,000 points/s into a server with fsync on. PostgreSQL could store NaN itself, but the
// schema keeps SQLite's convention (value NULL, isNaN 1) so both engines read alike.
import PostgresNIO

extension TrackerDB {
    /// Upserts `points` (the last point per (run, key, step) wins, as in the SQLite path).
    static func insertPortable(_ points: [MetricPoint], _ conn: any StoreConnection) throws {
        var last: [PointKey: Int] = [:]
        last.reserveCapacity(points.count)
        for (i, p) in points.enumerated() { last[PointKey(runId: p.runId, key: p.key, step: p.step)] = i }
        // One upsert may not touch a row twice: keep each step's last point, in logging order.
        let unique = last.count == points.count ? points : last.values.sorted().map { points[$0] }
        if let pg = conn as? PostgresStoreConnection {
            try pg.insertMetrics(unique)
            return
        }
        for p in unique {
            try conn.execute(
                sql: """
                    INSERT INTO metric (runId, key, step, value, isNaN, time) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (runId, key, step) DO UPDATE
                      SET value = excluded.value, isNaN = excluded.isNaN, time = excluded.time
                    """, arguments: [p.runId, p.key, p.step, p.value.isNaN ? nil : p.value, p.value.isNaN, p.time])
        }
    }

    struct PointKey: Hashable {
        var runId: Int64
        var key: String
        var step: Int64
    }
}

extension PostgresStoreConnection {
    /// Points whose (run, key, step) are distinct, in one statement.
    func insertMetrics(_ points: [MetricPoint]) throws {
        var binds = PostgresBindings(capacity: 5)
        binds.append(points.map(\.runId))
        binds.append(points.map(\.key))
        binds.append(points.map(\.step))
        binds.append(points.map(\.value))
        binds.append(points.map(\.time))
        let sql = """
            INSERT INTO metric (runId, key, step, value, isNaN, time)
            SELECT r, k, s, CASE WHEN v = 'NaN'::float8 THEN NULL ELSE v END,
              CASE WHEN v = 'NaN'::float8 THEN 1 ELSE 0 END, t
            FROM unnest($1::int8[], $2::text[], $3::int8[], $4::float8[], $5::float8[]) AS u(r, k, s, v, t)
            ON CONFLICT (runId, key, step) DO UPDATE
              SET value = excluded.value, isNaN = excluded.isNaN, time = excluded.time
            """
        _ = try query(PostgresQuery(unsafeSQL: sql, binds: binds))
    }
}

extension PostgresStoreConnection {
    /// The stored summaries of `series` (those that exist), in one statement.
    func storedSummaries(_ series: [TrackerDB.SeriesKey]) throws -> [TrackerDB.SeriesKey: TrackerDB.StoredSummary] {
        var binds = PostgresBindings(capacity: 2)
        binds.append(series.map(\.runId))
        binds.append(series.map(\.key))
        let sql = """
            SELECT m.runId, m.key, m.lastStep, m.count, m.min, m.max
            FROM metricSummary m JOIN unnest($1::int8[], $2::text[]) AS u(r, k) ON m.runId = u.r AND m.key = u.k
            """
        var stored: [TrackerDB.SeriesKey: TrackerDB.StoredSummary] = [:]
        for row in try query(PostgresQuery(unsafeSQL: sql, binds: binds)).rows {
            let (runId, key, lastStep, count, lo, hi) = try row.decode(
                (Int64, String, Int64, Int64, Double?, Double?).self)
            stored[TrackerDB.SeriesKey(runId: runId, key: key)] = TrackerDB.StoredSummary(
                lastStep: lastStep, count: count, min: lo, max: hi)
        }
        return stored
    }

    /// Upserts `summaries` (distinct (run, key)) in one statement. The float arrays carry NaN for
    /// NULL: a stored `last` is NULL when it is NaN, and min/max are never NaN.
    func upsertSummaries(_ summaries: [MetricSummaryRecord]) throws {
        if summaries.isEmpty { return }
        var binds = PostgresBindings(capacity: 8)
        binds.append(summaries.map(\.runId))
        binds.append(summaries.map(\.key))
        binds.append(summaries.map(\.lastStep))
        binds.append(summaries.map { $0.last ?? .nan })
        binds.append(summaries.map { Int64($0.lastIsNaN ? 1 : 0) })
        binds.append(summaries.map { $0.min ?? .nan })
        binds.append(summaries.map { $0.max ?? .nan })
        binds.append(summaries.map(\.count))
        let sql = """
            INSERT INTO metricSummary (runId, key, lastStep, last, lastIsNaN, min, max, count)
            SELECT r, k, s, NULLIF(l, 'NaN'::float8), n, NULLIF(lo, 'NaN'::float8), NULLIF(hi, 'NaN'::float8), c
            FROM unnest($1::int8[], $2::text[], $3::int8[], $4::float8[], $5::int8[], $6::float8[], $7::float8[],
              $8::int8[]) AS u(r, k, s, l, n, lo, hi, c)
            ON CONFLICT (runId, key) DO UPDATE SET lastStep = excluded.lastStep, last = excluded.last,
              lastIsNaN = excluded.lastIsNaN, min = excluded.min, max = excluded.max, count = excluded.count
            """
        _ = try query(PostgresQuery(unsafeSQL: sql, binds: binds))
    }
}

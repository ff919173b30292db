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

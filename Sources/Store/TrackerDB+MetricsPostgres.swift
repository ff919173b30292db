// The metric write path on PostgreSQL. Where a batch's time went (perf on the server, pgbench on
// the same statements, one server, fsync on): the per-row foreign-key check of metric.runId (an
// SPI query and a row lock per point: about as much server time as inserting the points), then
// ON CONFLICT (a second index probe and a confirm record per row in the WAL), then the six round
// trips of a batch; the client's encoding was a few percent. So a batch is now:
//   1. one statement that takes the batch's runs FOR KEY SHARE (what the foreign key did per row,
//      now once per run; a missing run fails the batch) and reads their metric packs and its
//      series' summaries FOR UPDATE (packs by run, then summaries in key order, so two writers
//      of one run wait for each other, never deadlock);
//   2. when every series' steps are past its stored last step (a run logging forward: nearly
//      always), one statement that INSERTs the points (no ON CONFLICT: none can exist) and
//      upserts the summaries and the runs' packs, sent without waiting: COMMIT's answer reports it;
//   3. otherwise (a resumed run re-logging steps, an import): the last point per step upserted
//      with ON CONFLICT, then the summaries of the rewritten series recomputed from the table
//      (and the packs with them).
// The points travel as arrays (one bind per column, binary) through `unnest`. PostgreSQL could
// store NaN itself, but the schema keeps SQLite's convention (value NULL, isNaN 1) so both
// engines read alike. Migration 0005 replaced metric's foreign key by step 1's check and a
// trigger that deletes a deleted run's points.
import NIOCore
import PostgresNIO

extension TrackerDB {
    /// Writes `points` (grouped as `batch`) inside `conn`'s transaction; the last point per
    /// (run, key, step) wins, and every summary equals a recomputation afterwards.
    static func writePostgres(_ points: [MetricPoint], _ batch: SeriesBatch, _ conn: any StoreConnection) throws {
        if points.isEmpty { return }
        guard let pg = conn as? PostgresStoreConnection else {
            throw StoreError.sqlite("metrics can be written only to SQLite or PostgreSQL")
        }
        let (stored, packBytes) = try pg.lockRunsAndSummaries(batch.series)
        var packs = try MetricPacks(batch.series) { packBytes[$0] }
        let appended = zip(batch.series, batch.summaries).map { s, contribution in contribution.updated(stored[s], s) }
        if appended.allSatisfy({ $0 != nil }) {
            // Steps strictly increasing per series and past the stored ones: all (run, key, step) are new.
            var binds = PostgresBindings(capacity: 16)
            let rows = pointRows(points, &binds)
            appended.forEach { if let summary = $0 { packs.set(summary) } }
            let packUpsert = packRows(packs, &binds).map { ", q AS (\($0))" } ?? ""
            let upsert = summaryUpsert(appended.compactMap { $0 }, &binds)
            pg.send(
                PostgresQuery(unsafeSQL: "WITH p AS (INSERT INTO metric \(rows))\(packUpsert) \(upsert)", binds: binds))
            return
        }
        var binds = PostgresBindings(capacity: 5)
        let rows = pointRows(lastPerStep(points), &binds)
        let upsertPoints = """
            INSERT INTO metric \(rows) ON CONFLICT (runId, key, step) DO UPDATE
              SET value = excluded.value, isNaN = excluded.isNaN, time = excluded.time
            """
        _ = try pg.query(PostgresQuery(unsafeSQL: upsertPoints, binds: binds))
        var summaries: [MetricSummaryRecord] = []
        for (s, summary) in zip(batch.series, appended) {
            if let summary = try summary ?? recompute(s, pg) {
                summaries.append(summary)
                packs.set(summary)
            }
        }
        var summaryBinds = PostgresBindings(capacity: 11)
        if summaries.isEmpty { return }
        let packUpsert = packRows(packs, &summaryBinds).map { "WITH q AS (\($0)) " } ?? ""
        let upsert = summaryUpsert(summaries, &summaryBinds)
        pg.send(PostgresQuery(unsafeSQL: packUpsert + upsert, binds: summaryBinds))
    }

    /// The upsert of the changed metric packs of `packs` (nil: none changed), their binds
    /// appended to `binds`: two per run (id, pack) and the two empty packs a run without a row
    /// starts from.
    static func packRows(_ packs: MetricPacks, _ binds: inout PostgresBindings) -> String? {
        let changed = packs.encoded
        if changed.isEmpty { return nil }
        let empty = binds.count + 1
        binds.append(ByteBuffer(bytes: SummaryPack.empty(.params)))
        binds.append(ByteBuffer(bytes: SummaryPack.empty(.tags)))
        let values = changed.map { run, bytes in
            binds.append(run)
            binds.append(ByteBuffer(bytes: bytes))
            return "($\(binds.count - 1)::int8, $\(binds.count)::bytea)"
        }
        return """
            INSERT INTO runSummaryPack (runId, params, tags, metrics)
            SELECT r, $\(empty)::bytea, $\(empty + 1)::bytea, m FROM (VALUES \(values.joined(separator: ", "))) AS u(r, m)
            ON CONFLICT (runId) DO UPDATE SET metrics = excluded.metrics
            """
    }

    /// The last point for each (run, key, step), in logging order (one upsert may not touch a row twice).
    static func lastPerStep(_ points: [MetricPoint]) -> [MetricPoint] {
        var last: [PointKey: Int] = [:]
        last.reserveCapacity(points.count)
        for (i, p) in points.enumerated() { last[PointKey(runId: p.runId, key: p.key, step: p.step)] = i }
        return last.count == points.count ? points : last.values.sorted().map { points[$0] }
    }

    struct PointKey: Hashable {
        var runId: Int64
        var key: String
        var step: Int64
    }

    /// `(columns) SELECT ... FROM unnest(...)` for `points`, their five arrays appended to `binds`.
    static func pointRows(_ points: [MetricPoint], _ binds: inout PostgresBindings) -> String {
        let first = binds.count + 1
        binds.append(points.map(\.runId))
        binds.append(points.map(\.key))
        binds.append(points.map(\.step))
        binds.append(points.map(\.value))
        binds.append(points.map(\.time))
        let p = (first..<first + 5).map { "$\($0)" }
        return """
            (runId, key, step, value, isNaN, time)
            SELECT r, k, s, CASE WHEN v = 'NaN'::float8 THEN NULL ELSE v END,
              CASE WHEN v = 'NaN'::float8 THEN 1 ELSE 0 END, t
            FROM unnest(\(p[0])::int8[], \(p[1])::text[], \(p[2])::int8[], \(p[3])::float8[], \(p[4])::float8[])
              AS u(r, k, s, v, t)
            """
    }

    /// The upsert of `summaries` (distinct (run, key)), their eight arrays appended to `binds`.
    /// The float arrays carry NaN for NULL: a stored `last` is NULL when it is NaN, and min/max
    /// are never NaN.
    static func summaryUpsert(_ summaries: [MetricSummaryRecord], _ binds: inout PostgresBindings) -> String {
        let first = binds.count + 1
        binds.append(summaries.map(\.runId))
        binds.append(summaries.map(\.key))
        binds.append(summaries.map(\.lastStep))
        binds.append(summaries.map { $0.last ?? .nan })
        binds.append(summaries.map { Int64($0.lastIsNaN ? 1 : 0) })
        binds.append(summaries.map { $0.min ?? .nan })
        binds.append(summaries.map { $0.max ?? .nan })
        binds.append(summaries.map(\.count))
        let p = (first..<first + 8).map { "$\($0)" }
        return """
            INSERT INTO metricSummary (runId, key, lastStep, last, lastIsNaN, min, max, count)
            SELECT r, k, s, NULLIF(l, 'NaN'::float8), n, NULLIF(lo, 'NaN'::float8), NULLIF(hi, 'NaN'::float8), c
            FROM unnest(\(p[0])::int8[], \(p[1])::text[], \(p[2])::int8[], \(p[3])::float8[], \(p[4])::int8[],
              \(p[5])::float8[], \(p[6])::float8[], \(p[7])::int8[]) AS u(r, k, s, l, n, lo, hi, c)
            ON CONFLICT (runId, key) DO UPDATE SET lastStep = excluded.lastStep, last = excluded.last,
              lastIsNaN = excluded.lastIsNaN, min = excluded.min, max = excluded.max, count = excluded.count
            """
    }
}

extension PostgresStoreConnection {
    /// Locks the runs of `series` against deletion (FOR KEY SHARE), their metric packs and their
    /// stored summaries for this transaction (FOR UPDATE: packs first, then summaries in key
    /// order, so writers of one run wait for each other and never deadlock), in one statement;
    /// returns the summaries and packs that exist. Throws `runNotFound` for a missing run.
    func lockRunsAndSummaries(_ series: [TrackerDB.SeriesKey]) throws -> (
        summaries: [TrackerDB.SeriesKey: TrackerDB.StoredSummary], packs: [Int64: [UInt8]]
    ) {
        var binds = PostgresBindings(capacity: 3)
        let runs = Array(Set(series.map(\.runId))).sorted()
        binds.append(runs)
        binds.append(series.map(\.runId))
        binds.append(series.map(\.key))
        let sql = """
            WITH r AS (SELECT id FROM run WHERE id = ANY($1::int8[]) ORDER BY id FOR KEY SHARE),
              p AS (SELECT runId, metrics FROM runSummaryPack WHERE runId = ANY($1::int8[]) ORDER BY runId FOR UPDATE),
              m AS (SELECT m.runId, m.key, m.lastStep, m.count, m.min, m.max
                    FROM metricSummary m JOIN unnest($2::int8[], $3::text[]) AS u(r, k) ON m.runId = u.r AND m.key = u.k
                    ORDER BY m.runId, m.key FOR UPDATE OF m)
            SELECT id, NULL::text, 0::int8, 0::int8, NULL::float8, NULL::float8, NULL::bytea FROM r
            UNION ALL SELECT runId, NULL::text, 0::int8, 0::int8, NULL::float8, NULL::float8, metrics FROM p
            UNION ALL SELECT *, NULL::bytea FROM m
            """
        var found = Set<Int64>()
        var stored: [TrackerDB.SeriesKey: TrackerDB.StoredSummary] = [:]
        var packs: [Int64: [UInt8]] = [:]
        for row in try query(PostgresQuery(unsafeSQL: sql, binds: binds)).rows {
            let (runId, key, lastStep, count, lo, hi, pack) = try row.decode(
                (Int64, String?, Int64, Int64, Double?, Double?, ByteBuffer?).self)
            if let pack {
                packs[runId] = Array(pack.readableBytesView)
            } else if let key {
                stored[TrackerDB.SeriesKey(runId: runId, key: key)] = TrackerDB.StoredSummary(
                    lastStep: lastStep, count: count, min: lo, max: hi)
            } else {
                found.insert(runId)
            }
        }
        if let missing = runs.first(where: { !found.contains($0) }) { throw StoreError.runNotFound(String(missing)) }
        return (stored, packs)
    }
}

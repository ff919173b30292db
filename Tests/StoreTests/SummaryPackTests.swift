// Packed per-run summaries (runSummaryPack): the layout round-trips every value, a damaged pack
// is a clear error (fuzzed), the packs always hold what the per-key tables hold after the write
// paths, and a database filled under the schema before the packs upgrades and reads the same as
// one written through the store; on both engines.
import Basics
import Foundation
import TestSupport
import Testing

@testable import Store

struct SummaryPackTests {
    static let params: [(key: String, value: SummaryPack.Param)] = [
        ("train.lr", .init(type: UInt8(ascii: "r"), num: 0.003, text: nil)),
        ("model.attention.variant", .init(type: UInt8(ascii: "t"), num: nil, text: "stick_breaking")),
        ("train.seed", .init(type: UInt8(ascii: "i"), num: 3, text: nil)),
        ("flag", .init(type: UInt8(ascii: "b"), num: 1, text: nil)),
        ("é😀", .init(type: UInt8(ascii: "t"), num: nil, text: "")),
    ]
    static let metrics: [(key: String, value: MetricStat)] = [
        ("val/loss", MetricStat(lastStep: 100, last: .nan, min: nil, max: nil, count: 3)),
        ("train/loss", MetricStat(lastStep: -5, last: .infinity, min: -.infinity, max: .infinity, count: 1)),
        ("lengen/loss/4x/[2L,4L)", MetricStat(lastStep: .max, last: -0.0, min: 1e-300, max: 2.5, count: .max)),
    ]

    /// A pack's entries as text (NaN compares equal as text).
    static func text<V>(_ entries: [(key: String, value: V)]) -> [String] {
        entries.map { "\($0.key)=\($0.value)" }.sorted()
    }

    @Test func everyValueRoundTripsInKeyByteOrder() throws {
        let bytes = SummaryPack.encode(metrics: Self.metrics)
        let back = try SummaryPack.metrics(bytes, runId: 1)
        #expect(Self.text(back) == Self.text(Self.metrics))
        #expect(back.map(\.key) == ["lengen/loss/4x/[2L,4L)", "train/loss", "val/loss"])
        #expect(back[0].value.last.sign == .minus && back[0].value.min == 1e-300)
        var columns = PackColumns(expectedRows: 1)
        try columns.append(
            row: 0, runId: 1, SummaryPack.encode(params: Self.params),
            SummaryPack.encode(tags: [("note", "baseline"), ("", "é")]), bytes)
        let run = RunSummary(id: 1, name: "r", experiment: nil, state: "queued", origin: "local", duration: nil)
        run.attach(columns.finish(rows: 1), row: 0)
        #expect(
            run.params == [
                "train.lr": .real(0.003), "model.attention.variant": .text("stick_breaking"), "train.seed": .int(3),
                "flag": .bool(true), "é😀": .text(""),
            ])
        #expect(run.tags == ["note": "baseline", "": "é"])
        #expect(
            run.metrics["train/loss"]
                == MetricStat(lastStep: -5, last: .infinity, min: -.infinity, max: .infinity, count: 1))
    }

    /// Damaged packs (seeded mutations, every truncation, a wrong version) are refused with
    /// `badSummaryPack` naming the run and the byte, never read as something else or a crash.
    @Test(arguments: [1, 2, 3] as [UInt64]) func aDamagedPackIsAClearError(seed: UInt64) throws {
        let packs = [
            SummaryPack.encode(params: Self.params), SummaryPack.encode(tags: [("note", "x")]),
            SummaryPack.encode(metrics: Self.metrics),
        ]
        var m = Mutator(seed: seed)
        var refused = 0
        for i in 0..<1500 {
            let which = i % 3
            let bytes = m.mutate(packs[which], maxEdits: 3, focus: 0..<6)
            var columns = PackColumns(expectedRows: 1)
            var three = packs
            three[which] = bytes
            do {
                try columns.append(row: 0, runId: 42, three[0], three[1], three[2])
            } catch let e as StoreError {
                guard case .badSummaryPack(let runId, _, let offset, _) = e else {
                    Issue.record("seed \(seed) input \(i): \(e)")
                    continue
                }
                #expect(runId == 42 && offset <= bytes.count, "seed \(seed) input \(i)")
                #expect(e.description.contains("run 42") && e.description.contains("byte"))
                refused += 1
            }
        }
        #expect(refused > 500, "most mutations must be refused (seed \(seed))")
        let metrics = packs[2]
        for n in 0..<metrics.count {
            #expect(throws: StoreError.self) { try SummaryPack.metrics(Array(metrics.prefix(n)), runId: 7) }
        }
        var newer = metrics
        newer[0] = 2
        let error = #expect(throws: StoreError.self) { try SummaryPack.metrics(newer, runId: 7) }
        #expect(error?.description.contains("version 2") == true)
    }

    /// The summaries reports read (from the packs) equal the per-key tables after random batches
    /// that append, rewrite and repeat steps over several runs, and after params and tags change.
    @Test(arguments: Backend.allCases, [7, 8] as [UInt64])
    func packsHoldWhatThePerKeyTablesHold(backend: Backend, seed: UInt64) throws {
        guard let db = try makeDB(backend) else { return }
        let runs = try (0..<3).map { try makeRun(db, name: "p\($0)") }
        var rng = SplitMix64(seed: seed)
        let keys = ["train/loss", "val/loss", "lengen/loss/2x/[L,2L)", "zz", "é"]
        for round in 0..<25 {
            let points = (0..<Int.random(in: 1...60, using: &rng)).map { _ in
                MetricPoint(
                    runId: runs.randomElement(using: &rng)!, key: keys.randomElement(using: &rng)!,
                    step: Int64.random(in: 0..<(round < 12 ? 400 : 40), using: &rng),
                    value: Int.random(in: 0..<15, using: &rng) == 0 ? .nan : Double.random(in: -3...3, using: &rng),
                    time: 0)
            }
            try db.logMetrics(points)
        }
        try db.setParams(runId: runs[0], ["train.lr": .real(0.1), "model.name": .text("x")])
        try db.setParams(runId: runs[0], ["train.lr": .real(0.2), "train.seed": .int(4)])
        try db.setTags(runId: runs[1], ["note": "a"])
        try expectPacksMatchTables(db)
    }

    /// A database filled under the schema before the packs (migrations 0001-0005, rows written
    /// in SQL as that schema's store wrote them) upgrades on open: its summaries read exactly as
    /// the same runs written through today's store.
    @Test(arguments: Backend.allCases) func anOlderDatabaseUpgradesAndReadsTheSame(backend: Backend) throws {
        let before = TrackerDB.migrations.firstIndex { $0.name == "0006_summary_pack.sql" }
        guard let old = try makeDB(backend, migrations: before), let new = try makeDB(backend) else { return }
        let runs:
            [(name: String, params: [String: ParamValue], tags: [String: String], points: [(String, Int64, Double)])] =
                [
                    (
                        "a",
                        ["model.attention.variant": .text("alibi"), "train.lr": .real(0.003), "train.seed": .int(2)],
                        ["note": "é😀"], [("train/loss", 0, 3.5), ("train/loss", 10, .nan), ("val/loss", 10, .infinity)]
                    ),
                    (
                        "b", ["train.compile": .bool(true)], [:],
                        [("val/loss", 5, .nan), ("lengen/loss/4x/[2L,4L)", 5, 4.25)]
                    ),
                    ("c", [:], [:], []),
                ]
        try old.write { db in
            try db.execute(sql: "INSERT INTO experiment (id, name, spec) VALUES (1, 'old', '{}')")
            for (i, r) in runs.enumerated() {
                try db.execute(
                    sql:
                        "INSERT INTO run (id, experimentId, name, config, configHash, state) VALUES (?, 1, ?, '{}', ?, 'succeeded')",
                    arguments: [i + 1, r.name, "h\(i)"])
                for (key, value) in r.params {
                    try db.execute(
                        sql: "INSERT INTO runParam (runId, key, type, num, text) VALUES (?, ?, ?, ?, ?)",
                        arguments: [
                            i + 1, key, value.typeName, value.number, value.number == nil ? value.description : nil,
                        ])
                }
                for (key, value) in r.tags {
                    try db.execute(
                        sql: "INSERT INTO runTag (runId, key, value) VALUES (?, ?, ?)", arguments: [i + 1, key, value])
                }
                for (key, step, value) in r.points {
                    try db.execute(
                        sql: "INSERT INTO metric (runId, key, step, value, isNaN, time) VALUES (?, ?, ?, ?, ?, 0)",
                        arguments: [i + 1, key, step, value.isNaN ? nil : value, value.isNaN ? 1 : 0])
                }
            }
            // metricSummary as the old write path kept it: a recomputation of each series.
            for (i, r) in runs.enumerated() {
                for key in Set(r.points.map(\.0)) {
                    let s = try #require(
                        try TrackerDB.recompute(TrackerDB.SeriesKey(runId: Int64(i + 1), key: key), db))
                    try db.execute(
                        sql: """
                            INSERT INTO metricSummary (runId, key, lastStep, last, lastIsNaN, min, max, count)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                            """, arguments: [s.runId, s.key, s.lastStep, s.last, s.lastIsNaN, s.min, s.max, s.count])
                }
            }
        }
        let upgraded = try reopen(old)
        #expect(try upgraded.appliedMigrations() == TrackerDB.migrations.map(\.name))
        let experiment = try new.upsertExperiment(name: "old", source: nil, spec: "{}")
        for r in runs {
            let id = try new.createRun(
                RunRecord(
                    experimentId: experiment.id, name: r.name, config: "{}", configHash: r.name, state: .succeeded),
                params: r.params, tags: r.tags
            ).id!
            try new.logMetrics(r.points.map { MetricPoint(runId: id, key: $0.0, step: $0.1, value: $0.2, time: 0) })
        }
        let a = try RunReader(db: upgraded).summaries(RunSelection(experiment: "old"))
        let b = try RunReader(db: new).summaries(RunSelection(experiment: "old"))
        #expect(a.map(\.name) == ["a", "b", "c"] && b.map(\.name) == a.map(\.name))
        for (x, y) in zip(a, b) {
            #expect(x.params == y.params && x.tags == y.tags, "\(x.name)")
            #expect(Self.text(x.metrics.map { ($0.key, $0.value) }) == Self.text(y.metrics.map { ($0.key, $0.value) }))
        }
        #expect(a[0].metrics["train/loss"]?.last.isNaN == true && a[0].metrics["train/loss"]?.min == 3.5)
        try expectPacksMatchTables(upgraded)
    }

    /// Histories of many runs (read in two halves on two connections) equal each run's own.
    @Test func historiesOfManyRunsEqualEachRunsOwn() throws {
        let db = try #require(try makeDB(.sqlite))
        let runs = try (0..<21).map { try makeRun(db, name: "h\($0)") }
        var points: [MetricPoint] = []
        for run in runs {
            for step in 0..<30 {
                for key in ["train/loss", "val/loss", "other"] {
                    let value = step == 7 ? Double.nan : Double(run) + Double(step) / 8
                    points.append(MetricPoint(runId: run, key: key, step: Int64(step), value: value, time: 0))
                }
            }
        }
        try db.logMetrics(points)
        let reader = RunReader(db: db)
        let all = try reader.histories(runIds: runs.reversed(), keys: ["val/loss", "train/loss"])
        #expect(all.count == runs.count)
        for run in runs {
            let own = try reader.histories(runIds: [run], keys: ["val/loss", "train/loss"])
            for key in ["val/loss", "train/loss"] {  // as text: NaN equals NaN
                #expect("\(all[run]?[key] ?? [])" == "\(own[run]?[key] ?? [])", "run \(run) \(key)")
            }
            #expect(all[run]?["val/loss"]?.count == 30 && all[run]?["other"] == nil)
            // Values as logged, in step order, a NaN as NaN.
            #expect(all[run]?["train/loss"]?.map(\.step) == (0..<30).map(Int64.init))
            #expect(all[run]?["train/loss"]?[3].value == Double(run) + 3.0 / 8)
            #expect(all[run]?["val/loss"]?[7].value.isNaN == true)
        }
    }

    /// Every run's summaries as reports read them equal its per-key rows.
    func expectPacksMatchTables(_ db: TrackerDB) throws {
        for run in try RunReader(db: db).summaries(RunSelection()) {
            #expect(run.params == (try db.params(runId: run.id)), "run \(run.id)")
            #expect(run.tags == (try db.tags(runId: run.id)), "run \(run.id)")
            let rows = try db.metricSummaries(runId: run.id).map { s in
                (
                    s.key,
                    MetricStat(
                        lastStep: s.lastStep, last: s.lastIsNaN ? .nan : (s.last ?? .nan), min: s.min, max: s.max,
                        count: s.count)
                )
            }
            #expect(Self.text(run.metrics.map { ($0.key, $0.value) }) == Self.text(rows), "run \(run.id)")
        }
    }
}

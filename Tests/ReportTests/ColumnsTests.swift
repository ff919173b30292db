// Runs read into shared columns (RunReader.summaries) give a comparison the same answers as the
// same runs built from dictionaries: differing parameters, groups, metric families, the group,
// family and run tables, the ranking of curves, and every key read through a SummaryKey.
import Basics
import Testing

@testable import Report
@testable import Store

struct ColumnsTests {
    /// Runs in one experiment whose parameters and metrics vary in which keys they have: more
    /// runs than the two-connection threshold, an option key some runs lack, lengen families.
    static func database() throws -> TrackerDB {
        let db = try TrackerDB(home: Fixture.tempDir())
        try db.write { db in
            try db.execute(sql: "INSERT INTO experiment (id, name, spec) VALUES (1, 'mix', '{}')")
            for id in 1...(RunReader.concurrentFrom + 3) {
                try db.execute(
                    sql:
                        "INSERT INTO run (id, experimentId, name, config, configHash, state) VALUES (?, 1, ?, '{}', ?, 'succeeded')",
                    arguments: [id, "r\(id)", "h\(id)"])
                let params: [(String, String, Double?, String?)] =
                    [
                        (ConfigKey.attentionVariant, "text", nil, ["a", "b", "c"][id % 3]),
                        (ConfigKey.seed, "int", Double(id / 6), nil), ("train.lr", "real", [0.1, 0.2][id % 2], nil),
                        ("p\(id % 7)", "int", Double(id % 4), nil), ("flag", "bool", 1, nil),
                    ] + (id % 3 == 1 ? [("model.attention.window", "int", 64, nil)] : [])
                for (key, type, num, text) in params {
                    try db.execute(
                        sql: "INSERT INTO runParam (runId, key, type, num, text) VALUES (?, ?, ?, ?, ?)",
                        arguments: [id, key, type, num, text])
                }
                let metrics = [
                    MetricKey.trainLoss, MetricKey.valLoss, "lengen/loss/\(1 + id % 2)x/[0,L)", "m\(id % 5)",
                ]
                for (i, key) in metrics.enumerated() {
                    let last: Double? = id % 97 == 0 && i == 1 ? nil : Double(id % 11) / 3 + Double(i)
                    try db.execute(
                        sql: """
                            INSERT INTO metricSummary (runId, key, lastStep, last, lastIsNaN, min, max, count)
                            VALUES (?, ?, ?, ?, ?, ?, 9, 1)
                            """,
                        arguments: [id, key, 10 * i, last, last == nil ? 1 : 0, Double(id % 13) / 4])
                }
            }
            try TrackerDB.rebuildSummaryPacks(in: db)
        }
        return db
    }

    /// The runs again, built from their dictionaries (so they share no columns).
    func copies(_ runs: [RunSummary]) -> [RunSummary] {
        runs.map {
            RunSummary(
                id: $0.id, name: $0.name, experiment: $0.experiment, state: $0.state, origin: $0.origin,
                duration: $0.duration, params: $0.params, tags: $0.tags, metrics: $0.metrics)
        }
    }

    /// Everything a comparison derives from runs, as text (NaN cells compare equal as text).
    func derived(_ runs: [RunSummary]) -> [String] {
        let differing = Statistics.differingParams(runs)
        let keys = differing.filter { $0 != ConfigKey.seed }
        let groups = Statistics.group(runs, by: keys)
        var out = [differing.joined(separator: ","), groups.map { "\($0.label): \($0.runs.map(\.id))" }.description]
        out.append(
            TextRenderer.alignedTable(Reports.groupTable(groups, keys: keys, title: "", values: CompareKeys(runs))))
        for prefix in MetricKey.familyPrefixes {
            for family in Reports.metricFamilies(runs, prefix: prefix) {
                out.append(family.name + ": " + family.columns.map(\.key).joined(separator: ","))
                for g in [groups, nil] {
                    out.append(TextRenderer.alignedTable(Reports.familyTable(family, runs: runs, groups: g)))
                }
            }
        }
        out.append(Reports.rankedSeries(runs: runs, groups: groups, keys: CompareKeys(runs)).map(\.label).description)
        return out
    }

    @Test(arguments: [RunSelection(experiment: "mix"), RunSelection(runs: ["r1", "r2", "r7", "r97", "r2003"])])
    func columnsAnswerAsDictionariesDo(_ selection: RunSelection) throws {
        let reader = RunReader(db: try Self.database())
        let runs = try reader.summaries(selection)
        let plain = copies(try reader.summaries(selection))
        #expect(Statistics.sharedColumns(runs) != nil, "the reader's runs share their columns")
        #expect(Statistics.sharedColumns(plain) == nil)
        let names = Set(plain.flatMap { $0.params.keys }).union(plain.flatMap { $0.metrics.keys }).sorted() + ["none"]
        let fast = runs.map { r in
            names.map { name in
                let key = SummaryKey(name, in: runs)
                return "\(String(describing: r.param(key))) \(String(describing: r.metric(key)))"
            }
        }
        #expect(Set(Statistics.metricKeys(runs)) == Set(Statistics.metricKeys(plain)))
        #expect(derived(runs) == derived(plain))
        #expect(Statistics.sharedColumns(runs) != nil, "a comparison builds no run's dictionaries")
        #expect(
            fast
                == plain.map { r in
                    names.map { "\(String(describing: r.params[$0])) \(String(describing: r.metrics[$0]))" }
                })
    }

    @Test func aChangedRunIsReadFromItsDictionaries() throws {
        let runs = try RunReader(db: try Self.database()).summaries(RunSelection(runs: ["r1", "r2"]))
        let lr = SummaryKey("train.lr", in: runs)
        #expect(runs[0].param(lr) == .real(0.2))
        runs[0].params["train.lr"] = .real(0.5)
        #expect(runs[0].param(lr) == .real(0.5) && runs[1].param(lr) == .real(0.1))
        #expect(Statistics.sharedColumns(runs) == nil)
        #expect(Statistics.differingParams(runs).contains("train.lr"))
    }

    /// The (key, row) table of dense entries and the scan of sparse ones give what was appended,
    /// whatever the reader expected of the row count (it only reserves room).
    @Test(arguments: [(keys: 6, perRow: 6, expected: 50), (6, 4, 3), (200, 2, 1000), (200, 2, 0)])
    func entriesGiveWhatWasAppended(_ shape: (keys: Int, perRow: Int, expected: Int)) {
        let rows = 50
        var entries = SummaryEntries<Int>(expectedRows: shape.expected)
        var appended: [Int: [Int32: Int]] = [:]
        for row in 0..<rows where row % 7 != 3 {  // some rows have no entries
            let first = (row * 5) % shape.keys
            let keys = (0..<shape.perRow).map { Int32((first + $0) % shape.keys) }.sorted()
            for key in keys {
                entries.append(row: row, key: key, row * 1000 + Int(key))
                appended[row, default: [:]][key] = row * 1000 + Int(key)
            }
        }
        entries.finish(rows: rows, names: (0..<shape.keys).map { "k\($0)" })
        #expect(entries.isDense == (shape.keys == 6), "dense where most rows have most keys")
        for row in 0..<rows {
            for key in Int32(-1)..<Int32(shape.keys) {
                #expect(entries.value(row, key) == appended[row]?[key], "row \(row), key \(key)")
            }
            #expect(entries.dictionary(row).count == (appended[row]?.count ?? 0))
        }
        #expect(entries.id("k5") == 5 && entries.id("none") == -1)
    }
}

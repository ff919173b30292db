// Seeds that vary the whole run: a sweep whose `seed_key` lists `train.seed` and
// `model.init_seed` is reported as one group per config (mean ± std over its seeds), in
// `--compare` and in `--results`, not as one group per initialisation seed.
import Basics
import Foundation
import Session
import Store
import Testing

@testable import Report

struct SeedGroupTests {
    static let experiment = """
        [data]
        corpus = "bundled"
        [model]
        channels = 32
        heads = 2
        [model.attention]
        variant = "softmax_rope"
        [train]
        steps = 10
        [sweep]
        "model.attention.variant" = ["softmax_rope", "alibi"]
        seeds = [1, 2, 3]
        seed_key = ["train.seed", "model.init_seed"]
        """

    /// The experiment 'seeded' enqueued as `tracker run` does, each run succeeded with a final
    /// train/loss: softmax_rope 3.0, 3.1, 3.2 and alibi 3.3, 3.4, 3.5 (seeds 1, 2, 3).
    static func reader() throws -> RunReader {
        let home = Fixture.tempDir()
        let path = home + "/seeded.toml"
        try experiment.write(toFile: path, atomically: true, encoding: .utf8)
        let (spec, plans) = try ExperimentFile.load(path: path)
        let db = try TrackerDB(home: home)
        // Enqueueing checks that the corpus is in the store; these runs are never trained.
        _ = try db.record(
            IngestedCorpus(
                corpus: CorpusRecord(
                    name: "bundled", fingerprint: "fp", settings: "{}", documents: 1, trainDocuments: 1,
                    valDocuments: 0, bytes: 1, skipped: 0, invalid: 0, repaired: 0, duplicates: 0, stats: "{}"),
                sources: [],
                tokenizer: TokenizerRecord(kind: "bpe", vocabSize: 300, settings: "{}", sha256: "t", path: "t.json"),
                shards: []))
        let runs = try ExperimentFile.enqueue(spec, plans, source: path, db: db, force: false).enqueued
        try db.logMetrics(
            runs.enumerated().map { i, run in
                MetricPoint(runId: run.id!, key: MetricKey.trainLoss, step: 10, value: 3 + 0.1 * Double(i), time: 0)
            })
        try db.write { try $0.execute(sql: "UPDATE run SET state = 'succeeded'") }
        return RunReader(db: db)
    }

    @Test func compareGroupsOverBothSeedKeys() throws {
        let doc = try Reports.compare(try Self.reader(), CompareQuery(selection: RunSelection(experiment: "seeded")))
        #expect(doc.title == "tracker report --compare: 6 runs in 2 groups (experiment seeded)")
        var tables: [String: ReportTable] = [:]
        for case .table(let t) in doc.sections { tables[t.title] = t }
        // Both seed keys differ among the runs and are shown; neither splits a group.
        let runs = try #require(tables["Runs"])
        #expect(runs.columns.contains(ConfigKey.seed) && runs.columns.contains(ConfigKey.initSeed))
        let groups = try #require(tables["Groups: mean ± std over runs (grouped by model.attention.variant)"])
        #expect(
            groups.rows.map { $0.prefix(3).map(\.display) } == [
                ["softmax_rope", "3", "3.1000 ± 0.1000 ▲"], ["alibi", "3", "3.4000 ± 0.1000 ▼"],
            ])
    }

    @Test func resultsGroupOverBothSeedKeys() throws {
        let claims = try ClaimSet(
            tree: try TOMLReader.parse(
                """
                title = "Seeds"
                experiments = ["seeded"]
                [[claim]]
                id = "lower"
                source = "test"
                claim = "softmax_rope's final train/loss is below 3.2"
                experiment = "seeded"
                checks = [{ a = 'model.attention.variant = "softmax_rope"', metric = "train/loss", op = "<", value = 3.2 }]
                """, file: "claims.toml"))
        let doc = try Reports.results(try Self.reader(), claims)
        var tables: [String: ReportTable] = [:]
        for case .table(let t) in doc.sections { tables[t.title] = t }
        let groups = try #require(tables["seeded: groups, mean ± std over seeds"])
        #expect(groups.rows.map { $0.prefix(2).map(\.display) } == [["softmax_rope", "3"], ["alibi", "3"]])
        #expect(tables["Verdicts"]?.rows.map { $0[3].display } == ["PASS"])
    }
}

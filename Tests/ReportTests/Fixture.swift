// A small, fully deterministic tracker database for the report tests: one experiment 'sweep'
// with five runs (two variants x two seeds, and a diverged 'forgetting' run whose last val/loss
// is NaN and last train/loss is +inf), plus one imported run outside any experiment. Written with
// plain SQL so the tests depend only on the schema (and the store's rebuild of its packed
// summaries, TrackerDB.rebuildSummaryPacks).
import Foundation
import Store

enum Fixture {
    struct Run {
        var name: String
        var variant: String
        var seed: Int
        var lr: Double
        var finalVal: Double
        var state: String
        var note: String
        var minutes: Int
    }

    static let runs: [Run] = [
        Run(
            name: "softmax_rope-seed1", variant: "softmax_rope", seed: 1, lr: 0.003, finalVal: 3.2, state: "succeeded",
            note: "baseline", minutes: 12),
        Run(
            name: "softmax_rope-seed2", variant: "softmax_rope", seed: 2, lr: 0.003, finalVal: 3.3, state: "succeeded",
            note: "baseline", minutes: 13),
        Run(
            name: "stick_breaking-seed1", variant: "stick_breaking", seed: 1, lr: 0.003, finalVal: 3.0,
            state: "succeeded", note: "new", minutes: 15),
        Run(
            name: "stick_breaking-seed2", variant: "stick_breaking", seed: 2, lr: 0.003, finalVal: 3.1,
            state: "succeeded", note: "new", minutes: 16),
        Run(
            name: "forgetting-seed1", variant: "forgetting", seed: 1, lr: 0.01, finalVal: .nan, state: "failed",
            note: "diverged", minutes: 3),
    ]

    static func tempDir() -> String {
        let d = NSTemporaryDirectory() + "report-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// A new database in a temporary folder holding the fixture.
    static func database() throws -> TrackerDB {
        let db = try TrackerDB(home: tempDir())
        try db.write { db in
            try db.execute(sql: "INSERT INTO experiment (id, name, spec) VALUES (1, 'sweep', '{}')")
            for (i, r) in runs.enumerated() {
                let id = Int64(i + 1)
                let config =
                    #"{"model":{"attention":{"variant":"\#(r.variant)"},"dModel":64},"train":{"lr":\#(r.lr),"seed":\#(r.seed)}}"#
                let finished = String(format: "2025-01-01T00:%02d:00.000Z", r.minutes)
                try db.execute(
                    sql: """
                        INSERT INTO run (id, experimentId, name, config, configHash, state, attempts, enqueuedAt, startedAt, finishedAt,
                          codeVersion, codeDirty, lineage, error)
                        VALUES (?, 1, ?, ?, ?, ?, 1, '2024-12-31T23:59:00.000Z', '2025-01-01T00:00:00.000Z', ?, 'abc1234', 0,
                          '{"tokenizer":{"sha256":"t0k"},"shards":[{"path":"shards/train_000.bin","sha256":"s0"}]}', ?)
                        """,
                    arguments: [
                        id, r.name, config, "hash\(id)", r.state, finished,
                        r.state == "failed" ? "loss is NaN at step 100" : nil,
                    ])
                let params: [(String, String, Double?, String?)] = [
                    ("model.attention.variant", "text", nil, r.variant), ("model.dModel", "int", 64, nil),
                    ("train.lr", "real", r.lr, nil), ("train.seed", "int", Double(r.seed), nil),
                    ("train.compile", "bool", 1, nil),
                ]
                for p in params {
                    try db.execute(
                        sql: "INSERT INTO runParam (runId, key, type, num, text) VALUES (?, ?, ?, ?, ?)",
                        arguments: [id, p.0, p.1, p.2, p.3])
                }
                try db.execute(
                    sql: "INSERT INTO runTag (runId, key, value) VALUES (?, 'note', ?)", arguments: [id, r.note])
                try insertMetrics(db, runId: id, run: r)
                try db.execute(
                    sql:
                        "INSERT INTO runEvent (runId, time, fromState, toState, worker) VALUES (?, '2024-12-31T23:59:00.000Z', NULL, 'queued', NULL)",
                    arguments: [id])
                try db.execute(
                    sql:
                        "INSERT INTO runEvent (runId, time, fromState, toState, worker) VALUES (?, '2025-01-01T00:00:00.000Z', 'queued', 'running', 'box:42')",
                    arguments: [id])
                try db.execute(
                    sql:
                        "INSERT INTO runEvent (runId, time, fromState, toState, worker, detail) VALUES (?, ?, 'running', ?, 'box:42', ?)",
                    arguments: [id, finished, r.state, r.state == "failed" ? "exit 1" : nil])
                try db.execute(
                    sql:
                        "INSERT INTO artifact (runId, kind, step, path, size, sha256) VALUES (?, 'checkpoint', 100, ?, 1048576, 'c0ffee')",
                    arguments: [id, "runs/\(id)/step100.safetensors"])
            }
            try db.executeScript(
                """
                INSERT INTO run (id, name, config, configHash, state, origin) VALUES (6, 'pytorch-baseline', '{}', 'h6', 'succeeded', 'import');
                INSERT INTO runParam VALUES (6, 'model.attention.variant', 'text', NULL, 'softmax');
                INSERT INTO metric (runId, key, step, value, time) VALUES (6, 'val/loss', 100, 3.25, 0);
                """)
            try db.execute(
                sql: """
                    INSERT INTO metricSummary (runId, key, lastStep, last, lastIsNaN, min, max, count)
                    SELECT m.runId, m.key, m.step, m.value, m.isNaN,
                      (SELECT min(value) FROM metric WHERE runId = m.runId AND key = m.key),
                      (SELECT max(value) FROM metric WHERE runId = m.runId AND key = m.key),
                      (SELECT count(*) FROM metric WHERE runId = m.runId AND key = m.key)
                    FROM metric m WHERE m.step = (SELECT max(step) FROM metric WHERE runId = m.runId AND key = m.key)
                    """)
            try TrackerDB.rebuildSummaryPacks(in: db)  // rows written around the store's API
        }
        return db
    }

    static func insertMetrics(_ db: any StoreConnection, runId: Int64, run r: Run) throws {
        func put(_ key: String, _ step: Int, _ value: Double) throws {
            try db.execute(
                sql: "INSERT INTO metric (runId, key, step, value, isNaN, time) VALUES (?, ?, ?, ?, ?, 0)",
                arguments: [runId, key, step, value.isNaN ? nil : value, value.isNaN ? 1 : 0])
        }
        let diverged = r.finalVal.isNaN
        let target = diverged ? 4.0 : r.finalVal - 0.1
        for step in stride(from: 0, through: 100, by: 10) {
            let f = 1 - Double(step) / 100
            try put("train/loss", step, diverged && step == 100 ? .infinity : target + 2.5 * f * f)
        }
        try put("val/loss", 0, 5.0)
        try put("val/loss", 50, diverged ? 4.0 : (5.0 + r.finalVal) / 2)
        try put("val/loss", 100, r.finalVal)
        try put("val/bpb", 100, diverged ? .nan : r.finalVal / 2)
        try put("train/tokensPerSecond", 100, 12000 + Double(runId) * 500)
        let penalty = r.variant == "softmax_rope" ? 0.8 : 0.25
        try put("lengen/loss/1x/[0,L)", 100, diverged ? .nan : r.finalVal)
        try put("lengen/loss/2x/[L,2L)", 100, diverged ? .nan : r.finalVal + penalty / 2)
        try put("lengen/loss/4x/[2L,4L)", 100, diverged ? .nan : r.finalVal + penalty)
        try put("task/acc/1x/[0,L)", 100, 0.5 + 0.1 * Double(runId))
    }
}

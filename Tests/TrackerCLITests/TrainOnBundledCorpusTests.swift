// The engine on real text, end to end through the binary: ingest the bundled corpus, train a tiny
// model for a short run, and check that the loss fell and the validation loss ends well below the
// unigram entropy of the corpus's own tokens (what a model that ignores context can reach).
import Foundation
import Shards
import TestSupport
import Testing

@Suite(.tags(.slow))
struct TrainOnBundledCorpusTests {
    @Test func shortRunEndsWellBelowTheUnigramEntropy() throws {
        let home = tempDir("train")
        let ingest = try runTracker([
            "ingest", repoRoot + "/corpora/bundled.tar.xz", "--home", home, "--vocab-size", "512", "--format", "json",
        ])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(ingest.stdout.utf8)) as! [String: Any]
        let shards = summary["shards"] as! [[String: Any]]
        let trainShard = shards.first { $0["split"] as? String == "train" }!["path"] as! String

        // Unigram entropy (nats) of the training tokens.
        let reader = try ShardReader(path: trainShard)
        var counts = [Int](repeating: 0, count: 512)
        for i in 0..<reader.tokenCount { counts[Int(reader[i])] += 1 }
        let total = Double(reader.tokenCount)
        let unigram = counts.filter { $0 > 0 }.reduce(0.0) { $0 - Double($1) / total * log(Double($1) / total) }

        let config = home + "/short.toml"
        try """
        [data]
        corpus = "bundled"
        [model]
        channels = 64
        layers = 2
        heads = 4
        context = 64
        [train]
        steps = 120
        batch = 8
        lr = 3e-3
        warmup = 20
        eval_every = 0
        log_every = 10
        [eval]
        final_batches = 20
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let train = try runTracker(["train", "--config", config, "--home", home, "--format", "json"])
        #expect(train.status == 0, "\(train.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(train.stdout.utf8)) as! [String: Any]
        let valLoss = try #require(result["valLoss"] as? Double)
        #expect(valLoss < unigram - 0.3, "val loss \(valLoss) vs unigram entropy \(unigram)")

        // The loss fell: the first logged train loss is well above the last one.
        let lines = try String(contentsOfFile: (result["runDirectory"] as! String) + "/metrics.jsonl", encoding: .utf8)
            .split(separator: "\n")
        let losses = lines.compactMap { line -> Double? in
            let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return o?["train/loss"] as? Double
        }
        #expect(losses.count >= 10)
        #expect((losses.first ?? 0) > (losses.last ?? 0) + 1, "train loss \(losses.first ?? 0) -> \(losses.last ?? 0)")
    }
}

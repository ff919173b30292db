// A checkpoint is recorded only after every metric logged before it is flushed: a run resumed
// from that checkpoint re-logs only the steps after it, so a metric still buffered when the
// checkpoint was recorded would be lost if the process died then.
import Foundation
import Model
import Shards
import Testing
import Training

/// Remembers what was logged, what was flushed, and what was unflushed at each checkpoint.
final class FlushTrackingSink: MetricSink {
    var logged: [Int] = []
    var flushedUpTo = 0
    func log(step: Int, metrics: [String: Double]) { logged.append(step) }
    func flush() { flushedUpTo = logged.count }
    var unflushed: [Int] { Array(logged[flushedUpTo...]) }
}

struct FlushBeforeCheckpointTests {
    @Test func metricsAreFlushedBeforeACheckpointIsRecorded() throws {
        let dir = temporaryDirectory("flush")
        let tokens = (0..<3000).map { UInt32($0 * 5 % 29) }
        let train = try makeShard(dir + "/train.bin", tokens: tokens, vocab: 30)
        var c = quickTrainConfig(steps: 6, threads: 1)
        c.checkpointEvery = 2
        let trainer = try Trainer(
            model: try LanguageModel(config: tinyModelConfig(vocab: 30)), config: c,
            source: try DataLoader(shards: [train], batch: 2, time: 16, seed: 1))
        let loop = TrainingLoop(trainer: trainer, validation: nil, tokenByteLengths: nil)
        let sink = FlushTrackingSink()
        loop.sink = sink
        loop.checkpointDirectory = dir + "/checkpoints"
        var unflushedAtCheckpoint: [Int: [Int]] = [:]
        loop.onCheckpoint = { _, step in unflushedAtCheckpoint[step] = sink.unflushed }
        _ = try loop.run()
        #expect(unflushedAtCheckpoint == [2: [], 4: [], 6: []])
        #expect(sink.logged == [1, 2, 3, 4, 5, 6])
    }
}

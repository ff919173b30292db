// The loop around the trainer: which metrics are logged when, periodic evaluation and
// checkpoints, the outcome, and sampling from the trained model.
import Foundation
import Model
import Shards
import Testing
import Training

struct TrainingLoopTests {
    @Test func logsEvaluatesAndCheckpointsOnSchedule() throws {
        let dir = temporaryDirectory("loop")
        let tokens = (0..<3000).map { UInt32($0 * 5 % 29) }
        let train = try makeShard(dir + "/train.bin", tokens: tokens, vocab: 30)
        let val = try makeShard(dir + "/val.bin", tokens: Array(tokens.prefix(400)), vocab: 30)
        var c = quickTrainConfig(steps: 6)
        c.logEvery = 2
        c.evalEvery = 3
        c.evalBatches = 2
        c.checkpointEvery = 4
        let trainer = try Trainer(
            model: try LanguageModel(config: tinyModelConfig(vocab: 30)), config: c,
            source: try DataLoader(shards: [train], batch: 4, time: 16, seed: 1))
        let loop = TrainingLoop(
            trainer: trainer, validation: try EvalWindows(shards: [val], time: 16),
            tokenByteLengths: [Int32](repeating: 2, count: 30))
        let sink = RecordingSink()
        loop.sink = sink
        loop.checkpointDirectory = dir + "/checkpoints"
        loop.peakFlops = 1e9
        let outcome = try loop.run()
        #expect(sink.series("train/loss").map(\.step) == [2, 4, 6])
        #expect(sink.series("val/loss").map(\.step) == [3, 6])
        #expect(sink.series("val/bpb").count == 2 && sink.series("train/mfu").count == 3)
        #expect(sink.records.allSatisfy { $0.metrics.values.allSatisfy(\.isFinite) })
        #expect(sink.finished)
        #expect(outcome.steps == 6 && outcome.checkpoints.count == 2)
        #expect(
            outcome.checkpoints.map { ($0 as NSString).lastPathComponent }
                == ["step-000004.safetensors", "step-000006.safetensors"])
        let final = try #require(outcome.finalVal)
        #expect(final.tokens == (400 - 1) / 16 * 16)
        #expect(abs(final.bitsPerByte! - final.loss / (2 * log(2.0))) < 1e-9)
        #expect(outcome.tokensPerSecond > 0 && outcome.mfu! > 0)
    }

    @Test func samplingIsReproducibleAndGreedyFollowsTheArgmax() throws {
        let model = try LanguageModel(config: tinyModelConfig(vocab: 30, context: 16))
        var o = SamplingOptions()
        o.maxNewTokens = 10
        o.seed = 3
        let a = Sampler.generate(model: model, prompt: [1, 2, 3], options: o)
        let b = Sampler.generate(model: model, prompt: [1, 2, 3], options: o)
        #expect(a == b && a.count == 10 && a.allSatisfy { (0..<30).contains($0) })
        o.temperature = 0
        let greedy = Sampler.generate(model: model, prompt: [1, 2, 3], options: o)
        o.temperature = 1
        o.topK = 1
        #expect(Sampler.generate(model: model, prompt: [1, 2, 3], options: o) == greedy)
        o.maxNewTokens = 100
        #expect(Sampler.generate(model: model, prompt: [1, 2, 3], options: o).count == 13)
        o.stopToken = greedy[0]
        #expect(Sampler.generate(model: model, prompt: [1, 2, 3], options: o) == [greedy[0]])
    }
}

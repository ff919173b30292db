// The trainer end to end on tiny models: fitting one batch, determinism, worker-count
// independence, and loss falling below the unigram entropy on the bundled corpus.
import Foundation
import Model
import Shards
import TestSupport
import Testing
import Training

struct TrainerTests {
    func losses(_ trainer: Trainer, _ n: Int) -> [Double] {
        (0..<n).map { _ in trainer.trainStep().loss }
    }

    @Test func fitsOneFixedBatch() throws {
        let model = try LanguageModel(config: tinyModelConfig(vocab: 32))
        let source = FixedBatchSource(B: 4, T: 16, vocab: 32, seed: 3)
        var config = quickTrainConfig(steps: 60, lr: 3e-2)
        config.weightDecay = 0
        let trainer = try Trainer(model: model, config: config, source: source)
        let l = losses(trainer, 60)
        #expect(abs(l[0] - log(32.0)) < 0.3, "initial loss \(l[0]) should be near ln V")
        #expect(l.last! < 0.3 * l[0], "loss went \(l[0]) -> \(l.last!)")
        #expect(trainer.step == 60 && trainer.optimizer.t == 60)
    }

    @Test func sameSeedAndConfigGiveIdenticalLosses() throws {
        let dir = temporaryDirectory("det")
        let shard = try makeShard(dir + "/t.bin", tokens: (0..<4000).map { UInt32($0 * 7 % 31) }, vocab: 32)
        func run(seed: UInt64) throws -> [Double] {
            let model = try LanguageModel(config: tinyModelConfig(vocab: 32))
            var c = quickTrainConfig(steps: 8)
            c.seed = seed
            let loader = try DataLoader(shards: [shard], batch: 4, time: 16, seed: c.seed)
            return losses(try Trainer(model: model, config: c, source: loader), 8)
        }
        let a = try run(seed: 5)
        let b = try run(seed: 5)
        let c = try run(seed: 6)
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        #expect(a != c)
    }

    @Test func oneAndTwoWorkersAgree() throws {
        func run(threads: Int) throws -> [Double] {
            let model = try LanguageModel(config: tinyModelConfig(vocab: 32))
            let source = FixedBatchSource(B: 4, T: 16, vocab: 32, seed: 9)
            return losses(
                try Trainer(model: model, config: quickTrainConfig(steps: 5, threads: threads), source: source), 5)
        }
        let one = try run(threads: 1)
        let two = try run(threads: 2)
        for (a, b) in zip(one, two) { #expect(abs(a - b) <= 1e-4 * max(1, abs(a)), "\(one) vs \(two)") }
    }

    @Test func gradientAccumulationAveragesMicroBatches() throws {
        func run(accum: Int) throws -> [Double] {
            let model = try LanguageModel(config: tinyModelConfig(vocab: 32))
            let source = FixedBatchSource(B: 2, T: 16, vocab: 32, seed: 4)
            var c = quickTrainConfig(steps: 4, batch: 2)
            c.gradAccum = accum
            return losses(try Trainer(model: model, config: c, source: source), 4)
        }
        // The same batch twice averages to that batch: accumulation must not scale the update.
        let one = try run(accum: 1)
        let two = try run(accum: 2)
        for (a, b) in zip(one, two) { #expect(abs(a - b) <= 1e-4 * max(1, abs(a)), "\(one) vs \(two)") }
    }

    @Test(.tags(.slow)) func lossFallsBelowUnigramEntropyOnBundledCorpus() throws {
        let slow = ProcessInfo.processInfo.environment["TRACKER_SLOW_TESTS"] != nil
        let data = try bundledByteShards(bytes: slow ? 2_000_000 : 200_000)
        var mc = tinyModelConfig(vocab: 256, context: 32)
        mc.channels = 32
        let model = try LanguageModel(config: mc)
        var c = quickTrainConfig(steps: slow ? 600 : 150, batch: 8, lr: 2e-2)
        c.warmup = 10
        let loader = try DataLoader(shards: [data.train], batch: 8, time: 32, seed: 1)
        let trainer = try Trainer(model: model, config: c, source: loader)
        let lengths = [Int32](repeating: 1, count: 256)
        let windows = try EvalWindows(shards: [data.val], time: 32)
        let before = trainer.evaluate(windows, batches: 8, tokenByteLengths: lengths)
        let l = losses(trainer, c.steps)
        let after = trainer.evaluate(windows, batches: 8, tokenByteLengths: lengths)
        #expect(abs(before.loss - log(256.0)) < 0.5)
        let early: Double = l.prefix(10).reduce(0, +) / 10
        let late: Double = l.suffix(10).reduce(0, +) / 10
        #expect(late < early - 0.8, "train loss \(early) -> \(late)")
        // One byte per token: bits per byte is the loss in bits.
        #expect(abs(after.bitsPerByte! - after.loss / log(2.0)) < 1e-9)
        #expect(abs(after.perplexity - exp(after.loss)) < 1e-9)
        let margin = slow ? 0.5 : 0.05
        #expect(
            after.loss < data.unigramEntropy - margin, "val loss \(after.loss), unigram entropy \(data.unigramEntropy)")
    }
}

// Evaluation by position bucket: length generalisation on validation shards (bucket losses add
// up to the window loss, factors that do not fit are skipped) and synthetic-task accuracy
// (task/acc/<f>x/<bucket> keys from a tiny T1 run, every schedule, argmax of the real head).
import Basics
import Foundation
import Model
import Shards
import Testing

@testable import Training

struct PositionEvaluationTests {
    func tinyTrainer(vocab: Int, context: Int, source: BatchSource, schedule: ScheduleConfig = ScheduleConfig())
        throws -> Trainer
    {
        var m = tinyModelConfig(vocab: vocab, context: context)
        m.schedule = schedule
        return try Trainer(model: try LanguageModel(config: m), config: quickTrainConfig(steps: 2), source: source)
    }

    @Test func bucketLossesAddUpAndLongFactorsAreSkipped() throws {
        let dir = temporaryDirectory("lengen")
        let tokens = (0..<2000).map { UInt32($0 * 7 % 23) }
        let train = try makeShard(dir + "/train.bin", tokens: tokens, vocab: 24)
        let val = try makeShard(dir + "/val.bin", tokens: Array(tokens.prefix(300)), vocab: 24)
        let trainer = try tinyTrainer(
            vocab: 24, context: 8, source: try DataLoader(shards: [train], batch: 4, time: 8, seed: 1))
        trainer.trainStep()
        let evaluator = LengthEvaluator(shards: [val], trainLength: 8, factors: [1, 2, 4, 8, 64], batches: 3)
        let (results, skipped) = evaluator.evaluate(trainer)
        #expect(results.map(\.factor) == [1, 2, 4, 8])
        #expect(skipped.map(\.factor) == [64])
        for r in results {
            let sum = r.buckets.sums.reduce(0, +)
            let count = r.buckets.counts.reduce(0, +)
            #expect(count == r.tokens && abs(sum - r.nll) < 1e-6 * max(1, abs(r.nll)))
            let filled = r.buckets.counts.map { $0 > 0 }
            #expect(filled == (0..<4).map { $0 <= r.factor.trailingZeroBitCount })
        }
        // 1x is the ordinary evaluation on windows of L tokens.
        let plain = trainer.evaluate(try EvalWindows(shards: [val], time: 8), batches: 3, tokenByteLengths: nil)
        #expect(abs(results[0].loss - plain.loss) < 1e-9 && results[0].tokens == plain.tokens)
        let (metrics, _) = evaluator.metrics(trainer)
        #expect(
            Set(metrics.keys).isSuperset(of: [
                "lengen/loss/1x", "lengen/loss/1x/[0,L)", "lengen/loss/8x/[4L,8L)", "lengen/loss/2x/[L,2L)",
            ]))
        #expect(!metrics.keys.contains { $0.hasPrefix("lengen/loss/64x") })
        // The longest factor alone also has power-of-two position buckets, summing to its totals.
        #expect(results.map { $0.positions != nil } == [false, false, false, true])
        let positions = try #require(results[3].positions)
        #expect(positions.counts.reduce(0, +) == results[3].tokens)
        #expect(abs(positions.sums.reduce(0, +) - results[3].nll) < 1e-6 * max(1, abs(results[3].nll)))
        #expect(metrics["lengen/pos/8x/[0,1)"] != nil && metrics["lengen/pos/8x/[32,64)"] != nil)
        #expect(!metrics.keys.contains { $0.hasPrefix("lengen/pos/4x") })
    }

    @Test func evaluationsAtTheTrainingLengthReuseTheTrainingWorkspaces() throws {
        let dir = temporaryDirectory("lengen-reuse")
        let tokens = (0..<2000).map { UInt32($0 * 5 % 23) }
        let train = try makeShard(dir + "/train.bin", tokens: tokens, vocab: 24)
        let val = try makeShard(dir + "/val.bin", tokens: Array(tokens.prefix(300)), vocab: 24)
        let source = { try DataLoader(shards: [train], batch: 4, time: 8, seed: 1) }
        let trainer = try tinyTrainer(vocab: 24, context: 32, source: try source())
        trainer.trainStep()
        #expect(zip(trainer.evaluationWorkspaces(time: 8), trainer.workspaces).allSatisfy { $0 === $1 })
        #expect(!zip(trainer.evaluationWorkspaces(time: 16), trainer.workspaces).contains { $0 === $1 })
        // The training step's activations left in them change nothing: the same results as a
        // trainer of the same model whose workspaces were never used.
        let unused = try Trainer(model: trainer.model, config: quickTrainConfig(steps: 2), source: try source())
        let lengths = LengthEvaluator(shards: [val], trainLength: 8, factors: [1, 2], batches: 3)
        #expect(lengths.evaluate(trainer).results == lengths.evaluate(unused).results)
        let task = try RandomWalkTask()
        let taskTrainer = try tinyTrainer(
            vocab: task.vocabSize, context: 16, source: TaskLoader(task: task, batch: 4, time: 8, seed: 3))
        taskTrainer.trainStep()
        let taskUnused = try Trainer(
            model: taskTrainer.model, config: quickTrainConfig(steps: 2),
            source: TaskLoader(task: task, batch: 4, time: 8, seed: 3))
        let tasks = TaskEvaluator(task: task, trainLength: 8, lengths: [8, 16], episodes: 6, seed: 3)
        #expect(tasks.evaluate(taskTrainer) == tasks.evaluate(taskUnused))
    }

    @Test func tinyRandomWalkRunLogsTaskAccuracyByBucket() throws {
        let task = try RandomWalkTask()
        let loader = TaskLoader(task: task, batch: 4, time: 8, seed: 3)
        var c = quickTrainConfig(steps: 4)
        c.evalEvery = 2
        let trainer = try Trainer(
            model: try LanguageModel(config: tinyModelConfig(vocab: task.vocabSize, context: 8)), config: c,
            source: loader)
        let loop = TrainingLoop(trainer: trainer, validation: nil, tokenByteLengths: nil)
        loop.taskEvaluation = TaskEvaluator(task: task, trainLength: 8, lengths: [8, 32], episodes: 6, seed: 3)
        let sink = RecordingSink()
        loop.sink = sink
        let outcome = try loop.run()
        let keys = [
            "task/acc/1x", "task/acc/1x/[0,L)", "task/loss/1x", "task/acc/4x", "task/acc/4x/[0,L)",
            "task/acc/4x/[L,2L)", "task/acc/4x/[2L,4L)", "task/loss/4x", "lengen/loss/4x/[2L,4L)",
        ]
        for key in keys { #expect(sink.series(key).map(\.step) == [2, 4], "\(key)") }
        #expect(sink.series("task/acc/1x/[L,2L)").isEmpty && sink.series("task/acc/4x/[4L,8L)").isEmpty)
        let extra = try #require(outcome.finalExtra)
        let finite = extra.values.allSatisfy { $0.isFinite }
        #expect(finite)
        let results = loop.taskEvaluation!.evaluate(trainer)
        #expect(results.map(\.targets) == [6 * 8, 6 * 32])
        for r in results {
            #expect((0...1).contains(r.overallAccuracy))
            #expect(abs(r.accuracy.sums.reduce(0, +) - Double(r.correct)) < 1e-9)
            #expect(abs(r.overallAccuracy - extra["task/acc/\(r.length / 8)x"]!) < 1e-12)
        }
        // Power-of-two position buckets at the longest length only: 32 positions, 6 episodes.
        #expect(results[0].accuracyPositions == nil && results[0].positions == nil)
        let byPosition = try #require(results[1].accuracyPositions)
        #expect(byPosition.counts == [6, 6, 12, 24, 48, 96])
        #expect(abs(byPosition.sums.reduce(0, +) - Double(results[1].correct)) < 1e-9)
        #expect(extra["task/pos/4x/[16,32)"] != nil && extra["lengen/pos/4x/[0,1)"] != nil)
    }

    @Test func predictionsAreTheArgmaxOfTheDecoderLogits() throws {
        let task = try RepeatedRecallTask()
        let loader = TaskLoader(task: task, batch: 2, time: 8, seed: 5)
        let trainer = try tinyTrainer(vocab: task.vocabSize, context: 8, source: loader)
        trainer.trainStep()
        let model = trainer.model
        let T = 20
        var rng = SplitMix64(seed: 9)
        let episode = loader.nextBatch().inputs.prefix(8) + task.generate(length: 12, rng: &rng).inputs
        let ws = model.makeWorkspace(batch: 1, time: T)
        let tokens = Array(episode)
        let targets = [Int32](repeating: 0, count: T)
        _ = model.evaluate(ws, tokens: tokens, targets: targets)
        let predictions = HeadWeights(model).argmax(states: ws.states, rows: T)
        let decoder = model.makeDecoder(maxTokens: T)
        for t in 0..<T {
            let logits = Array(decoder.next(token: tokens[t]))
            #expect(predictions[t] == PositionBuckets.argmax(logits: logits, vocab: logits.count)[0], "position \(t)")
        }
    }

    @Test(arguments: [
        ScheduleConfig(name: "staircase", options: ["chunk": .int(4), "steps": .int(2)]),
        ScheduleConfig(name: "ladder", options: ["steps": .int(2)]),
    ])
    func everyScheduleEvaluatesLongerEpisodes(schedule: ScheduleConfig) throws {
        let task = try RandomWalkTask()
        let trainer = try tinyTrainer(
            vocab: task.vocabSize, context: 8, source: TaskLoader(task: task, batch: 4, time: 8, seed: 1),
            schedule: schedule)
        trainer.trainStep()
        let m = TaskEvaluator(task: task, trainLength: 8, lengths: [8, 64], episodes: 4, seed: 1).metrics(trainer)
        let finite = m.values.allSatisfy { $0.isFinite }
        #expect(m["task/acc/8x/[4L,8L)"] != nil && finite)
    }
}

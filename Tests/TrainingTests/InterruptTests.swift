// A stop request (what SIGINT/SIGTERM turn into) checkpoints at the current step and throws
// `interrupted`; resuming from that checkpoint finishes the run with the same losses as a run
// that was never stopped.
import Foundation
import Model
import Shards
import Testing

@testable import Training

struct InterruptTests {
    private func makeTrainer(_ dir: String) throws -> Trainer {
        let tokens = (0..<3000).map { UInt32($0 * 7 % 29) }
        let train = try makeShard(dir + "/train.bin", tokens: tokens, vocab: 30)
        var config = quickTrainConfig(steps: 8)
        config.logEvery = 1
        return try Trainer(
            model: try LanguageModel(config: tinyModelConfig(vocab: 30)), config: config,
            source: try DataLoader(shards: [train], batch: 4, time: 16, seed: 3))
    }

    @Test func stopCheckpointsAndResumesExactly() throws {
        let dir = temporaryDirectory("interrupt")
        let straight = RecordingSink()
        let reference = TrainingLoop(trainer: try makeTrainer(dir), validation: nil, tokenByteLengths: nil)
        reference.sink = straight
        _ = try reference.run()

        let first = TrainingLoop(trainer: try makeTrainer(dir), validation: nil, tokenByteLengths: nil)
        first.checkpointDirectory = dir + "/ckpt"
        let sink = RecordingSink()
        first.sink = sink
        first.shouldStop = { first.trainer.step >= 3 }
        let error = #expect(throws: TrainingError.self) { try first.run() }
        guard case .interrupted(let step, let checkpoint?) = error else {
            Issue.record("expected interrupted with a checkpoint, got \(String(describing: error))")
            return
        }
        #expect(step == 3)
        #expect(FileManager.default.fileExists(atPath: checkpoint))

        let resumed = try makeTrainer(dir)
        try resumed.loadCheckpoint(checkpoint)
        #expect(resumed.step == 3)
        let second = TrainingLoop(trainer: resumed, validation: nil, tokenByteLengths: nil)
        let rest = RecordingSink()
        second.sink = rest
        _ = try second.run()
        let losses = (sink.series("train/loss") + rest.series("train/loss")).map(\.value)
        #expect(losses.count == 8)
        #expect(losses == straight.series("train/loss").map(\.value))
    }
}

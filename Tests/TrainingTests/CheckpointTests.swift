// Checkpoints: resuming continues bit for bit, weights load into a fresh model, Python reads them,
// and mismatched or partial checkpoints are refused.
import Basics
import Foundation
import Model
import Shards
import TestSupport
import Testing
import Training

struct CheckpointTests {
    func makeTrainer(_ shard: ShardReader, steps: Int) throws -> Trainer {
        let model = try LanguageModel(config: tinyModelConfig(vocab: 40))
        let c = quickTrainConfig(steps: steps)
        let loader = try DataLoader(shards: [shard], batch: 4, time: 16, seed: c.seed)
        return try Trainer(model: model, config: c, source: loader)
    }

    func shard() throws -> ShardReader {
        var g = SplitMix64(seed: 11)
        var tokens: [UInt32] = []
        for i in 0..<5000 { tokens.append(i % 3 == 0 ? UInt32(g.next() % 40) : UInt32(i * 13 % 40)) }
        return try makeShard(temporaryDirectory("ckpt") + "/t.bin", tokens: tokens, vocab: 40)
    }

    @Test func resumingContinuesBitForBit() throws {
        let s = try shard()
        let straight = try makeTrainer(s, steps: 20)
        let all = (0..<20).map { _ in straight.trainStep().loss }

        let first = try makeTrainer(s, steps: 20)
        let head = (0..<10).map { _ in first.trainStep().loss }
        let dir = temporaryDirectory("ckpt")
        let path = try first.saveCheckpoint(directory: dir)
        #expect(path.hasSuffix("step-000010.safetensors"))
        #expect(FileManager.default.fileExists(atPath: Checkpoint.statePath(forWeights: path)))

        let resumed = try makeTrainer(s, steps: 20)
        try resumed.loadCheckpoint(path)
        #expect(resumed.step == 10)
        let tail = (0..<10).map { _ in resumed.trainStep().loss }
        #expect((head + tail).map(\.bitPattern) == all.map(\.bitPattern))
        #expect(Array(resumed.model.parameters) == Array(straight.model.parameters))
        #expect(Array(resumed.optimizer.m) == Array(straight.optimizer.m))
        #expect(Checkpoint.latest(in: dir) == path)
    }

    @Test func weightsLoadIntoAFreshModel() throws {
        let t = try makeTrainer(try shard(), steps: 3)
        for _ in 0..<3 { t.trainStep() }
        let path = try t.saveCheckpoint(directory: temporaryDirectory("ckpt"), metadata: ["run": "x"])
        let (model, meta) = try Checkpoint.loadModel(path: path)
        #expect(model.config == t.model.config)
        #expect(Array(model.parameters) == Array(t.model.parameters))
        #expect(meta["run"] == "x" && meta["step"] == "3")
        let file = try SafetensorsFile(path: path)
        #expect(Set(file.tensors.keys) == Set(t.model.tensors.map(\.name)))
        for spec in t.model.tensors { #expect(file.tensors[spec.name]?.shape == spec.shape) }
    }

    @Test func refusesAnotherModelAndAMissingState() throws {
        let t = try makeTrainer(try shard(), steps: 2)
        t.trainStep()
        let path = try t.saveCheckpoint(directory: temporaryDirectory("ckpt"))
        let other = try LanguageModel(config: tinyModelConfig(vocab: 40, context: 32))
        let t2 = try Trainer(
            model: other, config: quickTrainConfig(steps: 2),
            source: FixedBatchSource(B: 4, T: 16, vocab: 40, seed: 1))
        #expect(throws: TrainingError.self) { try t2.loadCheckpoint(path) }
        try FileManager.default.removeItem(atPath: Checkpoint.statePath(forWeights: path))
        let t3 = try makeTrainer(try shard(), steps: 2)
        #expect(throws: TrainingError.self) { try t3.loadCheckpoint(path) }
    }

    @Test(.requires("python3 with safetensors and numpy", pythonHasSafetensors))
    func pythonReadsCheckpointWeights() throws {
        let t = try makeTrainer(try shard(), steps: 1)
        t.trainStep()
        let path = try t.saveCheckpoint(directory: temporaryDirectory("ckpt"))
        let script = """
            import json, sys
            from safetensors.numpy import load_file
            w = load_file(sys.argv[1])
            print(json.dumps({k: [list(v.shape), float(v.astype("float64").sum())] for k, v in w.items()}))
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: [Any]])
        #expect(Set(json.keys) == Set(t.model.tensors.map(\.name)))
        for spec in t.model.tensors {
            #expect(json[spec.name]?[0] as? [Int] == spec.shape)
            var sum = 0.0
            for i in spec.offset..<(spec.offset + spec.count) { sum += Double(t.model.parameters[i]) }
            let read: Double = json[spec.name]?[1] as? Double ?? .nan
            #expect(abs(read - sum) < 1e-6 * max(1, abs(sum)))
        }
    }
}

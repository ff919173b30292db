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

    /// 400 flipped bytes in the tensor data of either file were loaded as weights or moments (a
    /// resume trained on from loss 1545): every reader now checks the data against the digest
    /// written in `__metadata__`, and names the damaged file.
    @Test func flippedDataBytesAreRefusedNamingTheFile() throws {
        let t = try makeTrainer(try shard(), steps: 3)
        for _ in 0..<3 { t.trainStep() }
        let dir = temporaryDirectory("ckpt")
        let path = try t.saveCheckpoint(directory: dir)
        let statePath = Checkpoint.statePath(forWeights: path)
        let pristine = try [path, statePath].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        for file in [path, statePath] {
            #expect(try SafetensorsFile(path: file).metadata[Safetensors.digestKey]?.count == 64)
        }
        for (i, damaged) in [path, statePath].enumerated() {
            var bytes = pristine[i]
            let dataStart = 8 + Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
            for k in dataStart + 100..<dataStart + 500 { bytes[k] ^= 0x5A }
            try bytes.write(to: URL(fileURLWithPath: damaged))
            let expected = TrainingError.damagedCheckpoint(path: damaged)
            #expect(throws: expected) { try makeTrainer(try shard(), steps: 6).loadCheckpoint(path) }
            if damaged == path { #expect(throws: expected) { try Checkpoint.loadModel(path: path) } }
            #expect(expected.description.contains("checkpoint data does not match its checksum: the file is damaged"))
            try pristine[i].write(to: URL(fileURLWithPath: damaged))
        }
        try makeTrainer(try shard(), steps: 6).loadCheckpoint(path)  // restored: loads again
    }

    /// A checkpoint written after the weights went NaN loaded, and the resume then blamed the
    /// learning rate ("training diverged"); the load names the file and the tensor instead.
    @Test func nonFiniteWeightsOrMomentsAreRefused() throws {
        for (target, value) in [("weights", Float.nan), ("moments", Float.infinity)] {
            let t = try makeTrainer(try shard(), steps: 3)
            t.trainStep()
            if target == "weights" { t.model.parameters[5] = value } else { t.optimizer.v[5] = value }
            let path = try t.saveCheckpoint(directory: temporaryDirectory("ckpt"))
            let name = t.model.tensors.first { $0.offset <= 5 && 5 < $0.offset + $0.count }!.name
            let expected =
                target == "weights"
                ? TrainingError.nonFiniteCheckpoint(path: path, tensor: name)
                : TrainingError.nonFiniteCheckpoint(
                    path: Checkpoint.statePath(forWeights: path), tensor: "adamw.v of \(name)")
            #expect(throws: expected) { try makeTrainer(try shard(), steps: 6).loadCheckpoint(path) }
            if target == "weights" {
                #expect(throws: expected) { try Checkpoint.loadModel(path: path) }
                #expect(expected.description.contains("holds NaN or infinity"))
            }
        }
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

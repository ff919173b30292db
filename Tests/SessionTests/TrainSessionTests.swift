// The training run as a library: a few steps of a synthetic task through TrainSession, the run
// folder it writes (config.json = the resolved config), a checkpoint whose model config spells
// the attention options as the run config does, and a resumed run that continues from it.
import Attention
import Basics
import Foundation
import Model
import Session
import Testing
import Training

struct TrainSessionTests {
    static let toml = """
        [data]
        task = "t1"
        eval_lengths = [16]
        eval_episodes = 8
        [model]
        channels = 16
        layers = 1
        heads = 2
        context = 16
        [model.attention]
        variant = "softmax_rope"
        rope_base = 1000.0
        [train]
        steps = 4
        batch = 2
        eval_every = 0
        log_every = 1
        threads = 1
        """

    @Test func trainsWritesItsRunFolderAndResumes() throws {
        let home = NSTemporaryDirectory() + "session-train-\(UUID().uuidString)"
        let config = try TrainConfigFile.decode(toml: Self.toml)
        let session = TrainSession(home: home, peakFlops: 1e9)
        let summary = try session.train(config, name: "t1")
        #expect(summary.steps == 4 && summary.finalTrainLoss?.isFinite == true)
        // the summary names the BLAS the speed and the MFU peak came from, in JSON and in text
        #expect(summary.blas?.hasPrefix("OpenBLAS") == true)
        #expect(summary.text.contains("  blas        OpenBLAS"))
        #expect(summary.model.vocabSize > 0 && summary.model.attention.options["rope_base"]?.number == 1000)

        let written = try String(contentsOfFile: summary.runDirectory + "/config.json", encoding: .utf8)
        #expect(try TrainConfigFile.decode(json: Data(written.utf8)) == resolvedOptions(config))
        #expect(try ConfigValue(json: written).value(at: "train.batch") == .int(2))

        let checkpoint = try #require(summary.checkpoints.last)
        let (model, metadata) = try Checkpoint.loadModel(path: checkpoint)
        #expect(model.config == summary.model)
        let stored = try ConfigValue(json: try #require(metadata["model_config"]))
        #expect(stored.value(at: "attention") == (try ConfigValue(json: written)).value(at: "model.attention"))

        // Resuming continues in the same folder; with the same config it ends where an
        // uninterrupted run ends, and the old camelCase spelling of checkpoints still resumes.
        var six = config
        six.train.steps = 6
        six.train.checkpointEvery = 4
        let whole = try session.train(six, name: "six")
        let atFour = whole.runDirectory + "/checkpoints/" + Checkpoint.fileName(step: 4)
        let resumed = try session.train(six, name: "ignored", resume: atFour)
        #expect(resumed.runDirectory == whole.runDirectory)
        #expect(resumed.steps == 6 && resumed.finalTrainLoss == whole.finalTrainLoss)
        try Self.rewriteInOlderSpelling(atFour, model.config)
        #expect(try Checkpoint.loadModel(path: atFour).model.config == summary.model)
        let fromOld = try session.train(six, name: "ignored", resume: atFour)
        #expect(fromOld.steps == 6 && fromOld.finalTrainLoss == whole.finalTrainLoss)
    }

    /// Resuming a run from its final checkpoint appended its final evaluation to metrics.jsonl
    /// again (and reported a NaN loss at 0 tokens/s) each time: it trains nothing, says the run
    /// is complete, and leaves every file of the folder as it was.
    @Test func resumingAFinishedRunWritesNothing() throws {
        let home = NSTemporaryDirectory() + "session-done-\(UUID().uuidString)"
        let config = try TrainConfigFile.decode(toml: Self.toml)
        let session = TrainSession(home: home, peakFlops: 1e9)
        let done = try session.train(config, name: "done")
        let files = try FileManager.default.subpathsOfDirectory(atPath: done.runDirectory).sorted()
        func contents() throws -> [Data] {
            try files.filter { !$0.hasSuffix("checkpoints") }.map {
                try Data(contentsOf: URL(fileURLWithPath: done.runDirectory + "/" + $0))
            }
        }
        let before = try contents()
        for resume in [done.runDirectory, try #require(done.checkpoints.last)] {
            let again = try session.train(config, name: "ignored", resume: resume)
            #expect(again.complete == "nothing left to train: the run is complete at step 4")
            #expect(again.steps == 4 && again.finalTrainLoss == nil && again.tokensPerSecond == nil)
            #expect(again.runDirectory == done.runDirectory && again.checkpoints == [done.checkpoints.last!])
            #expect(again.text.hasPrefix("nothing left to train: the run is complete at step 4\n  run  "))
            let json = String(decoding: try JSONEncoder().encode(again), as: UTF8.self)
            #expect(!json.contains("nan") && !json.contains("finalTrainLoss"), "\(json)")
            #expect(try FileManager.default.subpathsOfDirectory(atPath: done.runDirectory).sorted() == files)
            #expect(try contents() == before)
        }
    }

    /// Rewrites a weights file with its model config in the form checkpoints held before.
    static func rewriteInOlderSpelling(_ path: String, _ c: ModelConfig) throws {
        let file = try SafetensorsFile(path: path)
        var metadata = file.metadata
        metadata["model_config"] = try ConfigValue.table([
            "vocabSize": .int(c.vocabSize), "channels": .int(c.channels), "layers": .int(c.layers),
            "heads": .int(c.heads), "context": .int(c.context), "mlp": .string(c.mlp.rawValue),
            "norm": .string(c.norm.rawValue), "tiedEmbeddings": .bool(c.tiedEmbeddings),
            "initSeed": .int(Int(c.initSeed)),
            "attention": .table(["variant": .string(c.attention.variant), "options": .table(c.attention.options)]),
        ]).canonicalJSON()
        let arrays = try file.tensors.keys.sorted().map { ($0, file.tensors[$0]!.shape, try file.array($0)) }
        try withEntries(arrays[...]) { try Safetensors.write(path: path, tensors: $0, metadata: metadata) }
    }

    /// Keeps every array's storage alive while `body` writes them.
    static func withEntries(
        _ arrays: ArraySlice<(String, [Int], [Float])>, _ done: [SafetensorsEntry] = [],
        _ body: ([SafetensorsEntry]) throws -> Void
    ) throws {
        guard let (name, shape, values) = arrays.first else { return try body(done) }
        try values.withUnsafeBufferPointer { buffer in
            try withEntries(
                arrays.dropFirst(), done + [SafetensorsEntry(name: name, shape: shape, data: buffer)], body)
        }
    }
}

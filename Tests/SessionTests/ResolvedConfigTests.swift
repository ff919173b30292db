// Runs store their resolved config (every key with its value), attention options are spelled the
// same in config.json, checkpoint metadata and the database, and re-running an experiment file
// does not enqueue its runs again, also against runs enqueued before configs were resolved.
import Attention
import Basics
import Foundation
import Model
import Scheduler
import Session
import Store
import Testing
import Training

private func tempHome(_ name: String) -> String {
    let dir = NSTemporaryDirectory() + "session-\(name)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

private let experiment = """
    [data]
    corpus = "bundled"
    [model]
    channels = 32
    heads = 2
    [model.attention]
    variant = "softmax_rope"
    rope_base = 500.0
    [train]
    steps = 10
    [sweep]
    "train.lr" = [1e-3, 3e-3]
    """

private func writeExperiment(_ home: String, _ text: String = experiment) throws -> String {
    let path = home + "/exp.toml"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// The workspace's store with a corpus named "bundled" recorded (enqueueing checks that the runs'
/// corpus is there; these runs are never trained, so no file of it exists).
private func storeWithCorpus(_ home: String) throws -> TrackerDB {
    let db = try TrackerDB(home: home)
    _ = try db.record(
        IngestedCorpus(
            corpus: CorpusRecord(
                name: "bundled", fingerprint: "fp-\(home)", settings: "{}", documents: 1, trainDocuments: 1,
                valDocuments: 0, bytes: 1, skipped: 0, invalid: 0, repaired: 0, duplicates: 0, stats: "{}"),
            sources: [],
            tokenizer: TokenizerRecord(kind: "bpe", vocabSize: 300, settings: "{}", sha256: "t", path: "t.json"),
            shards: []))
    return db
}

struct ResolvedConfigTests {
    @Test func enqueuedRunsStoreEveryKeyWithItsValue() throws {
        let home = tempHome("resolved")
        let path = try writeExperiment(home)
        let (spec, plans) = try ExperimentFile.load(path: path)
        let db = try storeWithCorpus(home)
        let (_, enqueued, _) = try ExperimentFile.enqueue(spec, plans, source: path, db: db, force: false)
        #expect(enqueued.count == 2)
        let stored = try ConfigValue(json: enqueued[0].config)
        // Keys the file does not name are stored with their defaults.
        #expect(stored.value(at: "model.layers") == .int(ModelConfig(vocabSize: 0).layers))
        #expect(stored.value(at: "train.batch") == .int(TrainConfig().batch))
        #expect(stored.value(at: "eval.length_batches") == .int(EvalSection().lengthBatches))
        #expect(stored.value(at: "model.schedule.name") == .string("plain"))
        #expect(stored.value(at: "train.lr")?.number == 1e-3)
        #expect(enqueued[0].configHash == (try stored.sha256()))
        // The stored config decodes to what the file says.
        let decoded = try TrainConfigFile.decode(json: Data(enqueued[0].config.utf8))
        #expect(decoded.model.channels == 32 && decoded.train.lr == 1e-3)
        #expect(try TrainConfigFile.resolvedTree(decoded) == stored)
        // Every leaf is a typed parameter.
        #expect(try db.params(runId: enqueued[0].id!)["train.batch"] == .int(Int64(TrainConfig().batch)))
    }

    @Test func scheduleOptionsAreStoredWithTheirDefaults() throws {
        let home = tempHome("schedule")
        let path = try writeExperiment(home, experiment + "\n[model.schedule]\nname = \"staircase\"\nchunk = 4\n")
        let (_, plans) = try ExperimentFile.load(path: path)
        let schedule = try #require(plans[0].config.value(at: "model.schedule"))
        #expect(
            schedule
                == .table([
                    "name": .string("staircase"), "chunk": .int(4), "steps": .int(2), "cache": .string("none"),
                ]))
        let config = try TrainConfigFile.decode(json: Data(plans[0].json.utf8))
        #expect(try config.model.resolved(vocabSize: 300).schedule.options["steps"] == .int(2))
        // Left at its default or written out, the schedule builds the same model.
        var partial = config.model
        partial.schedule.options = ["chunk": .int(4)]
        #expect(partial.buildsSameModel(as: config.model))
        partial.schedule.options["steps"] = .int(3)
        #expect(!partial.buildsSameModel(as: config.model))
    }

    @Test func rerunningTheFileEnqueuesNothing() throws {
        let home = tempHome("rerun")
        let path = try writeExperiment(home)
        let db = try storeWithCorpus(home)
        let (spec, plans) = try ExperimentFile.load(path: path)
        _ = try ExperimentFile.enqueue(spec, plans, source: path, db: db, force: false)
        let again = try ExperimentFile.enqueue(spec, plans, source: path, db: db, force: false)
        #expect(again.enqueued.isEmpty && again.skipped.count == 2)
        let forced = try ExperimentFile.enqueue(spec, plans, source: path, db: db, force: true)
        #expect(forced.enqueued.count == 2)
    }

    /// With `seed_key` a list, each seed sets the data order and the initialisation (stored
    /// as typed parameters), and re-running the file enqueues nothing.
    @Test func seedKeyListRunsAreEnqueuedOnce() throws {
        let home = tempHome("seedkeys")
        let text = experiment + "\nseeds = [1, 2]\nseed_key = [\"train.seed\", \"model.init_seed\"]\n"
        let path = try writeExperiment(home, text)
        let db = try storeWithCorpus(home)
        let (spec, plans) = try ExperimentFile.load(path: path)
        let first = try ExperimentFile.enqueue(spec, plans, source: path, db: db, force: false).enqueued
        #expect(first.map(\.name) == ["lr0.001-seed1", "lr0.001-seed2", "lr0.003-seed1", "lr0.003-seed2"])
        for (run, seed) in zip(first, [1, 2, 1, 2]) {
            let params = try db.params(runId: run.id!)
            #expect(params["train.seed"] == .int(Int64(seed)) && params["model.init_seed"] == .int(Int64(seed)))
            #expect(try TrainConfigFile.decode(json: Data(run.config.utf8)).model.initSeed == UInt64(seed))
        }
        let again = try ExperimentFile.enqueue(spec, plans, source: path, db: db, force: false)
        #expect(again.enqueued.isEmpty && Set(again.skipped.map(\.id)) == Set(first.map(\.id)))
    }

    /// A database filled the way runs were enqueued before resolved configs (the config as
    /// written, hashed as written): re-running the same file skips those runs, and they still train.
    @Test func runsEnqueuedAsWrittenAreNotEnqueuedAgain() throws {
        let home = tempHome("legacy")
        let path = try writeExperiment(home)
        let db = try storeWithCorpus(home)
        let spec = try ExperimentSpec(name: "exp", tree: try TOMLReader.parse(experiment, file: path))
        let record = try db.upsertExperiment(name: "exp", source: path, spec: spec.specJSON)
        let old = try db.enqueue(try spec.plannedRuns(), experimentId: record.id!, force: false).enqueued
        #expect(old.count == 2)
        #expect(try ConfigValue(json: old[0].config).value(at: "train.batch") == nil, "stored as written")

        let (loaded, plans) = try ExperimentFile.load(path: path)
        #expect(plans.allSatisfy { !$0.equivalentHashes.isEmpty && $0.sha256 != $0.equivalentHashes[0] })
        let again = try ExperimentFile.enqueue(loaded, plans, source: path, db: db, force: false)
        #expect(again.enqueued.isEmpty)
        #expect(Set(again.skipped.map(\.id)) == Set(old.map(\.id)))
        // An old, partial config still reads, with today's defaults for what it leaves out.
        let partial = try TrainConfigFile.decode(json: Data(old[0].config.utf8))
        #expect(partial.train.batch == TrainConfig().batch && partial.model.channels == 32)
    }

    @Test func attentionOptionsAreSpelledTheSameEverywhere() throws {
        let (_, plans) = try ExperimentFile.load(path: try writeExperiment(tempHome("spelling")))
        let stored = plans[0].config.value(at: "model.attention")
        #expect(stored?.value(at: "variant") == .string("softmax_rope"))
        #expect(stored?.value(at: "rope_base")?.number == 500)

        let config = try TrainConfigFile.decode(json: Data(plans[0].json.utf8))
        let runFile = try ConfigValue(json: try TrainConfigFile.canonicalJSON(config))
        #expect(runFile.value(at: "model.attention") == stored)

        // Checkpoint metadata holds ModelConfig's JSON: the same table, plus vocab_size.
        let model = try config.model.resolved(vocabSize: 300)
        let checkpoint = try ConfigValue(json: String(decoding: try JSONEncoder().encode(model), as: UTF8.self))
        #expect(checkpoint.value(at: "attention") == stored)
        #expect(checkpoint.value(at: "vocab_size") == .int(300))
        #expect(try JSONDecoder().decode(ModelConfig.self, from: JSONEncoder().encode(model)) == model)
    }

    /// Checkpoints written before the one spelling (camelCase keys, nested `options`) still load.
    @Test func olderCheckpointModelConfigsStillDecode() throws {
        let legacy = #"""
            {"attention":{"options":{"rope_base":500},"variant":"softmax_rope"},"channels":32,"context":64,
             "heads":2,"initSeed":7,"kvHeads":1,"layers":2,"mlp":"swiglu","norm":"layernorm",
             "tiedEmbeddings":false,"vocabSize":300}
            """#
        let c = try JSONDecoder().decode(ModelConfig.self, from: Data(legacy.utf8))
        #expect(c.vocabSize == 300 && c.kvHeads == 1 && c.initSeed == 7 && !c.tiedEmbeddings && c.mlp == .swiglu)
        #expect(c.attention == AttentionConfig(variant: "softmax_rope", options: ["rope_base": .int(500)]))
    }

    /// A corpus the store does not hold was enqueued ("enqueued 2 run(s)"), and every run then
    /// failed when it started; it is refused before anything is written. Task runs need none.
    @Test func aMissingCorpusIsRefusedAtEnqueue() throws {
        let home = tempHome("nocorpus")
        let path = try writeExperiment(home, experiment.replacingOccurrences(of: "\"bundled\"", with: "\"nope\""))
        let db = try storeWithCorpus(home)
        let (spec, plans) = try ExperimentFile.load(path: path)
        do {
            _ = try ExperimentFile.enqueue(spec, plans, source: path, db: db, force: false)
            Issue.record("enqueued runs on a corpus the store does not hold")
        } catch {
            #expect(error as? SessionError == .noCorpus(name: "nope", home: home), "\(error)")
        }
        #expect(try db.runs().isEmpty && db.experiment(named: "exp") == nil)
        let task = experiment.replacingOccurrences(of: "corpus = \"bundled\"", with: "task = \"t1\"")
        let (taskSpec, taskPlans) = try ExperimentFile.load(path: try writeExperiment(home, task))
        #expect(try ExperimentFile.enqueue(taskSpec, taskPlans, source: path, db: db, force: false).enqueued.count == 2)
    }

    @Test func vocabSizeInTheRunConfigIsRefused() throws {
        #expect(throws: ConfigError.self) { try TrainConfigFile.decode(toml: "[model]\nvocab_size = 300\n") }
    }
}

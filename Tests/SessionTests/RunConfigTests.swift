// `tracker train` run configs: TOML decoding with defaults, unknown keys and bad values named,
// JSON round trip, and every experiments/*.toml in the repository decoding as a base run.
import Attention
import Basics
import Foundation
import Model
import Session
import Testing
import Training

struct RunConfigTests {
    @Test func emptyFileTakesEveryDefault() throws {
        let c = try TrainConfigFile.decode(toml: "")
        #expect(c == TrainRunConfig())
        #expect(c.data.corpus == "bundled" && c.model.channels == 256 && c.train == TrainConfig())
        #expect(c.model.attention.variant == "softmax_rope" && c.eval.finalBatches == 0)
    }

    @Test func sectionsDecode() throws {
        let c = try TrainConfigFile.decode(
            toml: """
                [data]
                corpus = "mine"
                [model]
                channels = 64
                layers = 2
                kv_heads = 2
                tied_embeddings = false
                mlp = "swiglu"
                [model.attention]
                variant = "softmax_rope"
                [train]
                steps = 10
                lr = 1e-3
                min_lr = 0
                grad_accum = 4
                seed = 7
                [eval]
                final_batches = 3
                """)
        #expect(c.data.corpus == "mine" && c.model.channels == 64 && c.model.kvHeads == 2)
        #expect(!c.model.tiedEmbeddings && c.model.mlp == .swiglu)
        #expect(c.train.steps == 10 && c.train.lr == 1e-3 && c.train.minLR == 0 && c.train.gradAccum == 4)
        #expect(c.train.seed == 7 && c.eval.finalBatches == 3)
        let m = try c.model.resolved(vocabSize: 300)
        #expect(m.vocabSize == 300 && m.channels == 64 && m.kvHeads == 2 && m.mlp == .swiglu && !m.tiedEmbeddings)
    }

    /// A list-valued option (RetNet's gammas) reads from TOML and survives the canonical JSON.
    @Test func listOptionsReadFromTOML() throws {
        let c = try TrainConfigFile.decode(
            toml: """
                [model]
                channels = 16
                heads = 2
                [model.attention]
                variant = "retnet"
                gammas = [0.9, 0.99]
                """)
        #expect(c.model.attention.options["gammas"] == .numbers([0.9, 0.99]))
        let json = try TrainConfigFile.canonicalJSON(c)
        #expect(try TrainConfigFile.decode(json: Data(json.utf8)).model.buildsSameModel(as: c.model))
        let options = try c.model.resolved(vocabSize: 50).attention.options
        #expect(options["gammas"] == .numbers([0.9, 0.99]) && options["group_norm"] != nil)
    }

    @Test func canonicalJSONRoundTrips() throws {
        let c = try TrainConfigFile.decode(toml: "[model]\nlayers = 3\n[train]\nsteps = 5\n")
        let json = try TrainConfigFile.canonicalJSON(c)
        let decoded = try TrainConfigFile.decode(json: Data(json.utf8))
        // The stored form means the same model (numbers may come back as 1e4 or 10000) and
        // writes back to the same text.
        #expect(decoded.model.buildsSameModel(as: c.model) && decoded.train == c.train)
        #expect(try TrainConfigFile.canonicalJSON(decoded) == json)
    }

    @Test(arguments: [
        ("[train]\nstpes = 5\n", "unknown key 'stpes' in [train]"),
        ("[model]\nchanels = 5\n", "unknown key 'chanels' in [model]"),
        ("[trian]\nsteps = 5\n", "unknown key 'trian' at the top level"),
        ("[data]\ncorpsu = \"x\"\n", "unknown key 'corpsu' in [data]"),
        ("[train]\nlr = \"fast\"\n", "train.lr must be a number"),
        ("[train]\nsteps = 0\n", "train.steps = 0 is invalid"),
        ("[model]\nheads = 3\n", "heads"),
        ("[model]\nmlp = \"relu\"\n", "model.mlp"),
        ("[model.attention]\nvariant = \"nope\"\n", "nope"),
    ])
    func badConfigsAreNamed(toml: String, message: String) throws {
        do {
            _ = try TrainConfigFile.decode(toml: toml)
            Issue.record("expected an error for \(toml)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    @Test func unknownKeyListsTheValidOnes() throws {
        do {
            _ = try TrainConfigFile.decode(toml: "[train]\nbatchsize = 4\n")
        } catch {
            #expect("\(error)".contains("valid keys: steps, batch, grad_accum, lr, min_lr"))
        }
    }

    @Test func everyExperimentFileDecodes() throws {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let dir = root.appendingPathComponent("experiments").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".toml") }
        #expect(files.contains("quickstart.toml"))
        // nightly.toml configures the nightly job and claims.toml `report --results` (ReportTests).
        for file in files where file != "nightly.toml" && file != "claims.toml" {
            _ = try TrainConfigFile.load(path: dir + "/" + file)
        }
    }
}

/// `config` with its attention and schedule options resolved: what config.json stores.
func resolvedOptions(_ config: TrainRunConfig) throws -> TrainRunConfig {
    var c = config
    c.model = try config.model.withResolvedOptions()
    return c
}

// Fuzzing run configs (TOML and the JSON a queued run stores) and experiment files through the
// functions `tracker train --config`, `tracker train --run` and `tracker run` read them with:
// thousands of mutated files, no trap, and every failure one line that says what to fix. A value
// of the wrong type names its key and the type expected.
import Basics
import Foundation
import Model
import Session
import TestSupport
import Testing
import Training

struct ConfigFuzzTests {
    static let toml = """
        [data]
        task = "t1"
        eval_lengths = [64, 256]
        eval_episodes = 100

        [model]
        layers = 2
        heads = 4
        channels = 64
        context = 64
        kv_heads = 2
        mlp = "swiglu"

        [model.attention]
        variant = "softmax_rope"
        window = 8

        [model.schedule]
        name = "staircase"
        chunk = 4
        steps = 2

        [train]
        steps = 2000
        batch = 32
        lr = 3e-3
        min_lr = 3e-4
        warmup = 50
        weight_decay = 0.01
        grad_clip = 1.0
        eval_every = 0
        log_every = 50
        seed = 1

        [eval]
        final_batches = 3
        """

    static let experiment =
        """
        [experiment]
        description = "fuzz"
        priority = 0
        max_attempts = 2

        """ + toml
            + """

            [sweep]
            "train.lr" = [1e-3, 3e-3]
            "model.attention" = [{ variant = "softmax_rope" }, { variant = "alibi" }]
            """

    /// The same with ASHA early stopping (Scheduler/Asha.swift reads these keys of [sweep]).
    static let ashaExperiment =
        experiment + """

            scheduler = "asha"
            metric = "train/loss"
            mode = "min"
            grace_steps = 100
            reduction_factor = 3
            """

    /// The same with seeds that set both the data order and the initialisation (8 runs).
    static let seededExperiment =
        experiment + """

            seeds = [1, 2]
            seed_key = ["train.seed", "model.init_seed"]
            """

    /// The error must be one clear line: a known error type, no Foundation or TOMLKit dump.
    func expectClear(_ error: Error, _ label: String) {
        let text = "\(error)"
        let known = error is TrainingError || error is SessionError || error is ConfigError || error is ModelError
        #expect(known || text.count < 300, "\(label): \(type(of: error)): \(text)")
        #expect(!text.contains("Error Domain") && !text.contains("NSCocoa"), "\(label): \(text)")
        #expect(!text.contains("must be valid (The given data"), "\(label): \(text)")
        #expect(text.count < 1500, "\(label): \(text.count) characters")
    }

    @Test func mutatedTOMLConfigs() throws {
        _ = try TrainConfigFile.decode(toml: Self.toml)
        var m = Mutator(seed: 41)
        var accepted = 0
        for i in 0..<2000 {
            let text = m.mutate(Self.toml)
            do {
                _ = try TrainConfigFile.decode(toml: text)
                accepted += 1
            } catch {
                expectClear(error, "TOML mutation \(i)")
            }
        }
        #expect(accepted > 0)
    }

    @Test func mutatedJSONConfigs() throws {
        let json = try TrainConfigFile.canonicalJSON(try TrainConfigFile.decode(toml: Self.toml))
        var m = Mutator(seed: 42)
        for i in 0..<2000 {
            do {
                _ = try TrainConfigFile.decode(json: Data(m.mutate(json).utf8))
            } catch {
                expectClear(error, "JSON mutation \(i)")
            }
        }
    }

    @Test(
        arguments: [(experiment, 4, UInt64(43)), (ashaExperiment, 4, UInt64(44)), (seededExperiment, 8, UInt64(45))]
            as [(String, Int, UInt64)])
    func mutatedExperimentFiles(_ experiment: String, runs: Int, seed: UInt64) throws {
        let dir = NSTemporaryDirectory() + "config-fuzz-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/fuzz.toml"
        try experiment.write(toFile: path, atomically: false, encoding: .utf8)
        #expect(try ExperimentFile.load(path: path).plans.count == runs)
        var m = Mutator(seed: seed)
        for i in 0..<600 {
            try m.mutate(experiment).write(toFile: path, atomically: false, encoding: .utf8)
            do {
                _ = try ExperimentFile.load(path: path)
            } catch {
                expectClear(error, "experiment mutation \(i)")
            }
        }
    }

    /// A value of the wrong type names the key and the type it must have, in TOML and JSON.
    @Test(arguments: [
        ("[train]\nsteps = 20.5", "train.steps", "an integer"),
        ("[train]\nlr = \"fast\"", "train.lr", "a number"),
        ("[model]\nlayers = true", "model.layers", "an integer"),
        ("[model]\nchannels = [64]", "model.channels", "an integer"),
        ("[data]\ntask = 1", "data.task", "a string"),
        ("[eval]\nlengths = 64", "eval.lengths", "a list"),
        ("[train]\nseed = -1", "train.seed", "a non-negative integer"),
    ])
    func wrongTypesNameTheKeyAndType(toml: String, key: String, expected: String) throws {
        do {
            _ = try TrainConfigFile.decode(toml: toml)
            Issue.record("accepted: \(toml)")
        } catch {
            let text = "\(error)"
            #expect(text.contains(key) && text.contains(expected), "\(text)")
        }
    }

    /// A run config read as JSON (a run folder's config.json passed as --config) with a null
    /// value: decodeIfPresent took it for an absent key, so `"layers": null` was the default.
    @Test(arguments: [
        ("model.layers", "model.layers must be an integer (got null)"),
        ("train.lr", "train.lr must be a number (got null)"),
        ("data.corpus", "data.corpus must be a string (got null)"),
        ("eval.lengths", "eval.lengths must be a list (got null)"),
        ("model.attention", "model.attention must be a table (got null)"),
        ("model.attention.window", "model.attention.window must be a value (got null)"),
    ])
    func nullInAJSONConfigNamesTheKey(key: String, message: String) throws {
        var tree = try TrainConfigFile.resolvedTree(TrainConfigFile.decode(toml: "[model.attention]\nwindow = 8"))
        try tree.set(key, to: .null)
        let dir = NSTemporaryDirectory() + "config-null-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try tree.canonicalJSON().write(toFile: dir + "/config.json", atomically: false, encoding: .utf8)
        do {
            _ = try TrainConfigFile.load(path: dir + "/config.json")
            Issue.record("accepted \(key): null")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    /// toml++ asserts (aborting the process) instead of reporting a table header that does not
    /// start with a key; TOMLText refuses those first, and leaves valid look-alikes alone.
    @Test func inputsTOMLKitCannotReport() throws {
        let headers = [
            "[é]", "[[é]]", "[ é]", "[", "[\r", "[#", "[=]", "[{]", "[+]", "[.a]", "[\\]", "\u{FEFF}[é]",
        ]
        for header in headers {
            do {
                _ = try TrainConfigFile.decode(toml: header + "\n")
                Issue.record("accepted: \(header)")
            } catch {
                #expect("\(error)".contains("table header"), "\(header): \(error)")
            }
        }
        let valid = """
            [model] # [é]
            channels = 64
            [ model . attention ]
            variant = "softmax_rope"
            [train]
            seed = 3
            [eval]
            lengths = [
                64,
            ]
            """
        #expect(try TrainConfigFile.decode(toml: valid).model.attention.variant == "softmax_rope")
        for array in ["x = [}]", "x = [1, }]", "x = [ # c\n}]", "[sweep]\nx = [}1e-3]"] {
            #expect(throws: SessionError.self) { try TrainConfigFile.decode(toml: array) }
        }
        let lookAlikes = "x = '''\n[é]\n'''\ny = [\n[{a = 1}],\n[+1],\n]\nz = \"[\"\n"
        #expect(throws: Never.self) { try TOMLText.checkTableHeaders(lookAlikes) }
    }

    /// toml++ reads its input as a C string: a NUL ended the file there, so what followed (a
    /// duplicate key, an unknown table) was never read, and a file of one NUL was the default
    /// run. Every control character TOML forbids is refused first, with its line and column, in
    /// run configs and experiment files alike (both are read by TOMLReader).
    @Test func controlCharactersAreRefusedWithTheirPlace() throws {
        let dir = NSTemporaryDirectory() + "config-nul-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cases: [(text: String, place: String, code: String)] = [
            ("[train]\nsteps = 2\n\u{0}\nsteps = \"junk\"\n[bogus]\nx=1\n", "line 3, column 1", "U+0000"),
            ("\u{0}", "line 1, column 1", "U+0000"),
            ("[train]\nsteps = 2 # ok\u{0}\n", "line 2, column 15", "U+0000"),
            ("[train]\nlr = \"a\u{0}b\"\n", "line 2, column 8", "U+0000"),
            ("[\u{1}]\n", "line 1, column 2", "U+0001"),
            ("[train]\r\nsteps = 2\u{7F}\r\n", "line 2, column 10", "U+007F"),
        ]
        for (i, c) in cases.enumerated() {
            for (file, load) in [
                ("run.toml", { (p: String) in _ = try TrainConfigFile.load(path: p) }),
                ("sweep.toml", { (p: String) in _ = try ExperimentFile.load(path: p) }),
            ] as [(String, (String) throws -> Void)] {
                let path = dir + "/\(i)-" + file
                try Data(c.text.utf8).write(to: URL(fileURLWithPath: path))
                do {
                    try load(path)
                    Issue.record("\(file) accepted case \(i)")
                } catch {
                    let text = "\(error)"
                    #expect(text.contains(c.place) && text.contains(c.code) && text.contains(path), "\(i): \(text)")
                }
            }
        }
        // Tabs, line breaks and escapes are not control characters in the file.
        let fine = "[train]\r\n\tsteps = 2\n[experiment]\ndescription = \"a\\u0000b\\tc\"\n"
        #expect(try TrainConfigFile.decode(toml: fine).train.steps == 2)
    }

    @Test func hugeSizesAreClearErrors() {
        for toml in [
            "[model]\nchannels = 4611686018427387904", "[model]\ncontext = 100000000000",
            "[model]\nlayers = 1000000000", "[model]\nlayers = 9223372036854775807",
            "[model]\nheads = 9223372036854775807", "[train]\nthreads = 9223372036854775807",
            "[data]\ntask = \"t1\"\n[model]\ncontext = 100000000000",
        ] {
            do {
                _ = try TrainConfigFile.decode(toml: toml)
                Issue.record("accepted: \(toml)")
            } catch {
                expectClear(error, toml)
            }
        }
    }
}

// The run config of `tracker train`: a TOML file (or the resolved JSON a queued run stores) with
// [data], [model] (+ [model.attention], [model.schedule]), [train] and [eval]. TOML is read into
// Basics' ConfigValue tree (TOMLReader, the one TOML parser) and decoded by the same Codable types
// as the JSON, so both spellings of a run mean the same thing. [model] is Model's ModelConfig
// itself (the one model schema). Missing keys take defaults, unknown keys fail with the list of
// valid ones, and every range is checked before any work starts. The resolved form (every key with
// its value) is what runs store, so a later change of a default never changes a stored run.
// README "Training configuration" documents every key.
import Basics
import Foundation
import Model
import Training

/// One run's settings, as written in the file (the vocabulary comes from the tokenizer later:
/// `model.vocabSize` is 0 until then).
public struct TrainRunConfig: Codable, Equatable, Sendable {
    public var data = DataSection()
    public var model = ModelConfig(vocabSize: 0)
    public var train = TrainConfig()
    public var eval = EvalSection()

    /// Tables a base-run file may hold; [experiment] and [sweep] belong to `tracker run`.
    static let sections = ["data", "model", "train", "eval", "experiment", "sweep"]

    public init() {}

    enum CodingKeys: String, CodingKey { case data, model, train, eval }

    public init(from decoder: any Swift.Decoder) throws {
        try ConfigKeys.check(decoder, valid: Self.sections, section: "")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        data = try c.decodeIfPresent(DataSection.self, forKey: .data) ?? DataSection()
        model = try c.decodeIfPresent(ModelConfig.self, forKey: .model) ?? ModelConfig(vocabSize: 0)
        train = try c.decodeIfPresent(TrainConfig.self, forKey: .train) ?? TrainConfig()
        eval = try c.decodeIfPresent(EvalSection.self, forKey: .eval) ?? EvalSection()
        if model.vocabSize != 0 {
            throw ConfigError.badKey(
                key: "model.vocab_size", reason: "comes from the tokenizer (or the synthetic task); remove it")
        }
    }

    /// Checks every section that can be checked without the tokenizer.
    public func validate() throws {
        try train.validate()
        try eval.validate()
        if let task = data.task {
            _ = try model.resolved(vocabSize: try task.makeTask(context: model.context).vocabSize)
        } else {
            try data.validate()
            _ = try model.resolved(vocabSize: 256)
        }
    }
}

/// [data]: which ingested corpus to train on, or a synthetic task.
public struct DataSection: Codable, Equatable, Sendable {
    /// Corpus name (or id) as recorded by `tracker ingest`.
    public var corpus = "bundled"
    /// A synthetic task instead of a corpus (Tasks/TaskOptions.swift).
    public var task: TaskOptions?

    public init() {}

    public init(from decoder: any Swift.Decoder) throws {
        try ConfigKeys.check(decoder, valid: ["corpus"] + TaskOptions.configKeys, section: "data")
        let c = try decoder.container(keyedBy: ConfigKeys.AnyKey.self)
        corpus = try c.decodeIfPresent(String.self, forKey: .init(stringValue: "corpus")) ?? "bundled"
        task = c.contains(.init(stringValue: "task")) ? try TaskOptions(from: decoder) : nil
    }

    public func encode(to encoder: any Swift.Encoder) throws {
        if let task { try task.encode(to: encoder) }
        var c = encoder.container(keyedBy: ConfigKeys.AnyKey.self)
        try c.encode(corpus, forKey: .init(stringValue: "corpus"))
    }

    public func validate() throws {
        if corpus.isEmpty {
            throw TrainingError.invalidConfig(
                key: "data.corpus", value: "\"\"", hint: "name an ingested corpus, e.g. \"bundled\"")
        }
    }
}

/// [eval]: the final evaluation (periodic ones are set in [train]) and length generalisation.
public struct EvalSection: Codable, Equatable, Sendable {
    /// Validation batches for the final evaluation; 0 means the whole validation split.
    public var finalBatches = 0
    /// Corpus runs: factors f of the training context evaluated on validation windows of f*T
    /// tokens (lengen/loss/<f>x/<bucket>); empty turns it off. Tasks use [data] eval_lengths.
    public var lengths = [1, 2, 4, 8]
    /// Batches of `batch` windows per length factor.
    public var lengthBatches = 4
    /// Also evaluate the lengths at every periodic evaluation (default: the final one only).
    public var lengthsEveryEval = false

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case finalBatches = "final_batches"
        case lengths
        case lengthBatches = "length_batches"
        case lengthsEveryEval = "lengths_every_eval"
    }

    public init(from decoder: any Swift.Decoder) throws {
        try ConfigKeys.check(decoder, valid: CodingKeys.allCases.map(\.rawValue), section: "eval")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = EvalSection()
        finalBatches = try c.decodeIfPresent(Int.self, forKey: .finalBatches) ?? d.finalBatches
        lengths = try c.decodeIfPresent([Int].self, forKey: .lengths) ?? d.lengths
        lengthBatches = try c.decodeIfPresent(Int.self, forKey: .lengthBatches) ?? d.lengthBatches
        lengthsEveryEval = try c.decodeIfPresent(Bool.self, forKey: .lengthsEveryEval) ?? d.lengthsEveryEval
    }

    public func validate() throws {
        if finalBatches < 0 {
            throw TrainingError.invalidConfig(
                key: "eval.final_batches", value: "\(finalBatches)", hint: "use 0 for the whole split")
        }
        if lengths.contains(where: { !(1...64).contains($0) }) {
            throw TrainingError.invalidConfig(
                key: "eval.lengths", value: "\(lengths)",
                hint: "list factors of the context from 1 to 64, e.g. [1, 2, 4, 8]")
        }
        if lengthBatches < 1 {
            throw TrainingError.invalidConfig(
                key: "eval.length_batches", value: "\(lengthBatches)", hint: "use at least 1")
        }
    }
}

public enum TrainConfigFile {
    /// Reads a `.toml` file, or a `.json` resolved config (e.g. a run folder's config.json).
    public static func load(path: String) throws -> TrainRunConfig {
        do {
            if path.hasSuffix(".json") {
                let text: String
                do {
                    text = try String(contentsOfFile: path, encoding: .utf8)
                } catch {
                    throw SessionError.unreadable(
                        path: path, what: "config file", reason: error.localizedDescription, hint: "")
                }
                return try decode(json: Data(text.utf8))
            }
            return try decode(tree: try TOMLReader.read(path: path, what: "config file"))
        } catch let e as SessionError {
            throw e
        } catch {
            throw SessionError.badFile(path: path, message: "\(error)")
        }
    }

    /// Decodes and validates a run config from TOML text.
    public static func decode(toml: String) throws -> TrainRunConfig {
        try decode(tree: try TOMLReader.parse(toml, file: "config"))
    }

    /// Decodes and validates a run config from its value tree.
    public static func decode(tree: ConfigValue) throws -> TrainRunConfig {
        try decode(json: Data(try tree.canonicalJSON().utf8))
    }

    /// Decodes and validates a run config from JSON.
    public static func decode(json: Data) throws -> TrainRunConfig {
        try refuseNull(json)
        let config: TrainRunConfig
        do {
            config = try JSONDecoder().decode(TrainRunConfig.self, from: json)
        } catch let e as DecodingError {
            if case .dataCorrupted(let ctx) = e, ctx.codingPath.isEmpty { throw invalidData(json) }
            throw readable(e)
        }
        try config.validate()
        return config
    }

    /// No key of a run config takes null (a resolved config never holds one), but the sections
    /// read their keys with decodeIfPresent, which takes null for absent: `"layers": null` was
    /// silently the default. Names the first null key and the type its place expects, found by
    /// decoding a table and then a string there instead (a key that takes either is "a value").
    static func refuseNull(_ json: Data) throws {
        guard let tree = try? JSONDecoder().decode(ConfigValue.self, from: json),
            let key = tree.leaves().first(where: { $0.value == .null })?.key
        else { return }  // not JSON, or no null: decoding says what is wrong, if anything
        var expected = "a value"
        let path = key.split(separator: ".").map(String.init)
        for probe in [ConfigValue.table([:]), .string("")] where !key.contains("[") {
            var replaced = tree
            guard (try? replaced.set(key, to: probe)) != nil,
                let data = try? replaced.canonicalJSON().data(using: .utf8)
            else { break }
            do {
                _ = try JSONDecoder().decode(TrainRunConfig.self, from: data)
            } catch DecodingError.typeMismatch(let type, let ctx) where ctx.codingPath.map(\.stringValue) == path {
                expected = describe(type)
                break
            } catch {}
        }
        throw TrainingError.wrongType(key: key, expected: "\(expected) (got null)")
    }

    /// JSONDecoder says only "The given data was not valid JSON.", without a key, both for broken
    /// JSON and for a number its field cannot hold (20.5 or 1e20 for an integer, -1 for a seed).
    /// Tells them apart and names the key: each suspicious number is replaced by 1 in turn, and
    /// the one whose replacement makes that error go away is the culprit.
    static func invalidData(_ json: Data) -> Error {
        let tree: ConfigValue
        do {
            tree = try JSONDecoder().decode(ConfigValue.self, from: json)
        } catch {
            return SessionError.invalidConfigJSON(detail: "\(error)")
        }
        let suspicious = tree.leaves().compactMap { leaf -> (key: String, value: Double)? in
            guard case .double(let d) = leaf.value, d != d.rounded() || abs(d) >= 9.2e18 else {
                if case .int(let i) = leaf.value, i < 0 { return (leaf.key, Double(i)) }
                return nil
            }
            return (leaf.key, d)
        }
        for n in suspicious {
            var replaced = tree
            guard (try? replaced.set(n.key, to: .int(1))) != nil,
                let data = try? replaced.canonicalJSON().data(using: .utf8)
            else { continue }
            do {
                _ = try JSONDecoder().decode(TrainRunConfig.self, from: data)
            } catch DecodingError.dataCorrupted(let ctx) where ctx.codingPath.isEmpty {
                continue
            } catch {}
            let expected =
                n.value != n.value.rounded()
                ? "an integer" : n.value < 0 ? "a non-negative integer" : "an integer below 2^63"
            let got = n.value == n.value.rounded() && abs(n.value) < 1e15 ? "\(Int64(n.value))" : "\(n.value)"
            return TrainingError.wrongType(key: n.key, expected: "\(expected) (got \(got))")
        }
        return SessionError.invalidConfigJSON(detail: "a value its key cannot hold (check integers and signs)")
    }

    /// The resolved config (every key, schedule options included) as canonical JSON with sorted
    /// keys, as stored in config.json and checkpoints.
    public static func canonicalJSON(_ config: TrainRunConfig) throws -> String {
        String(decoding: try JSONText.encoder(pretty: true).encode(try resolved(config)), as: UTF8.self)
    }

    /// The resolved config as a value tree: every key of every section with its value, defaults
    /// included (what a queued run stores, and hashes to tell runs apart).
    public static func resolvedTree(_ config: TrainRunConfig) throws -> ConfigValue {
        try JSONDecoder().decode(ConfigValue.self, from: JSONEncoder().encode(try resolved(config)))
    }

    /// `config` with the options of its model resolved (the sections' own keys always encode).
    static func resolved(_ config: TrainRunConfig) throws -> TrainRunConfig {
        var c = config
        c.model = try c.model.withResolvedOptions()
        return c
    }

    /// A DecodingError as one line naming the key.
    static func readable(_ e: DecodingError) -> Error {
        func key(_ path: [any CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
        switch e {
        case .typeMismatch(let type, let ctx):
            return TrainingError.wrongType(key: key(ctx.codingPath), expected: describe(type))
        case .valueNotFound(let type, let ctx):
            return TrainingError.wrongType(key: key(ctx.codingPath), expected: describe(type))
        case .keyNotFound(let k, let ctx):
            return TrainingError.wrongType(key: key(ctx.codingPath + [k]), expected: "present")
        case .dataCorrupted(let ctx):
            return TrainingError.wrongType(key: key(ctx.codingPath), expected: "valid (\(ctx.debugDescription))")
        @unknown default:
            return e
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is UInt64.Type: return "an integer"
        case is Double.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case _ where "\(type)".hasPrefix("Array"): return "a list"
        case _ where "\(type)".hasPrefix("Dictionary"): return "a table"
        default: return "a table or value of type \(type)"
        }
    }
}

// The run config of `tracker train`: a TOML file (or the resolved JSON a queued run stores) with
// [data], [model] (+ [model.attention], [model.schedule]), [train] and [eval]. TOML is parsed by
// TOMLKit into a JSON tree and decoded by the same Codable types as the JSON, so both spellings
// of a run mean the same thing. Missing keys take defaults, unknown keys fail with the list of
// valid ones, and every range is checked before any work starts. README "Training configuration"
// documents every key.
import Foundation
import Model
import TOMLKit
import Training

/// One run's settings, as written in the file (the vocabulary comes from the tokenizer later).
struct TrainRunConfig: Codable, Equatable {
    var data = DataSection()
    var model = ModelSection()
    var train = TrainConfig()
    var eval = EvalSection()

    /// Tables a base-run file may hold; [experiment] and [sweep] belong to `tracker run`.
    static let sections = ["data", "model", "train", "eval", "experiment", "sweep"]

    init() {}

    enum CodingKeys: String, CodingKey { case data, model, train, eval }

    init(from decoder: any Swift.Decoder) throws {
        try ConfigKeys.check(decoder, valid: Self.sections, section: "")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        data = try c.decodeIfPresent(DataSection.self, forKey: .data) ?? DataSection()
        model = try c.decodeIfPresent(ModelSection.self, forKey: .model) ?? ModelSection()
        train = try c.decodeIfPresent(TrainConfig.self, forKey: .train) ?? TrainConfig()
        eval = try c.decodeIfPresent(EvalSection.self, forKey: .eval) ?? EvalSection()
    }

    /// Checks every section that can be checked without the tokenizer.
    func validate() throws {
        try train.validate()
        try eval.validate()
        if let task = data.task {
            _ = try model.modelConfig(vocabSize: try task.makeTask(context: model.context).vocabSize)
        } else {
            try data.validate()
            _ = try model.modelConfig(vocabSize: 256)
        }
    }
}

/// [data]: which ingested corpus to train on, or a synthetic task.
struct DataSection: Codable, Equatable {
    /// Corpus name (or id) as recorded by `tracker ingest`.
    var corpus = "bundled"
    /// A synthetic task instead of a corpus (Tasks/TaskOptions.swift).
    var task: TaskOptions?

    init() {}

    init(from decoder: any Swift.Decoder) throws {
        try ConfigKeys.check(decoder, valid: ["corpus"] + TaskOptions.configKeys, section: "data")
        let c = try decoder.container(keyedBy: ConfigKeys.AnyKey.self)
        corpus = try c.decodeIfPresent(String.self, forKey: .init(stringValue: "corpus")) ?? "bundled"
        task = c.contains(.init(stringValue: "task")) ? try TaskOptions(from: decoder) : nil
    }

    func encode(to encoder: any Swift.Encoder) throws {
        if let task { try task.encode(to: encoder) }
        var c = encoder.container(keyedBy: ConfigKeys.AnyKey.self)
        try c.encode(corpus, forKey: .init(stringValue: "corpus"))
    }

    func validate() throws {
        if corpus.isEmpty {
            throw TrainingError.invalidConfig(
                key: "data.corpus", value: "\"\"", hint: "name an ingested corpus, e.g. \"bundled\"")
        }
    }
}

/// [eval]: the final evaluation (periodic ones are set in [train]) and length generalisation.
struct EvalSection: Codable, Equatable {
    /// Validation batches for the final evaluation; 0 means the whole validation split.
    var finalBatches = 0
    /// Corpus runs: factors f of the training context evaluated on validation windows of f*T
    /// tokens (lengen/loss/<f>x/<bucket>); empty turns it off. Tasks use [data] eval_lengths.
    var lengths = [1, 2, 4, 8]
    /// Batches of `batch` windows per length factor.
    var lengthBatches = 4
    /// Also evaluate the lengths at every periodic evaluation (default: the final one only).
    var lengthsEveryEval = false

    init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case finalBatches = "final_batches"
        case lengths
        case lengthBatches = "length_batches"
        case lengthsEveryEval = "lengths_every_eval"
    }

    init(from decoder: any Swift.Decoder) throws {
        try ConfigKeys.check(decoder, valid: CodingKeys.allCases.map(\.rawValue), section: "eval")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = EvalSection()
        finalBatches = try c.decodeIfPresent(Int.self, forKey: .finalBatches) ?? d.finalBatches
        lengths = try c.decodeIfPresent([Int].self, forKey: .lengths) ?? d.lengths
        lengthBatches = try c.decodeIfPresent(Int.self, forKey: .lengthBatches) ?? d.lengthBatches
        lengthsEveryEval = try c.decodeIfPresent(Bool.self, forKey: .lengthsEveryEval) ?? d.lengthsEveryEval
    }

    func validate() throws {
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

/// [model] in snake_case (ModelConfig's fields), with [model.attention] (`variant` + options) and
/// [model.schedule] (`name` + options).
struct ModelSection: Codable, Equatable {
    var channels = 256
    var layers = 4
    var heads = 4
    var kvHeads: Int?
    var context = 256
    var mlp = "gelu"
    var norm = "rmsnorm"
    var tiedEmbeddings = true
    var initSeed: UInt64 = 1337
    var attention = AttentionConfig()
    var schedule = ScheduleConfig()

    init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case channels, layers, heads
        case kvHeads = "kv_heads"
        case context, mlp, norm
        case tiedEmbeddings = "tied_embeddings"
        case initSeed = "init_seed"
        case attention, schedule
    }

    init(from decoder: any Swift.Decoder) throws {
        try ConfigKeys.check(decoder, valid: CodingKeys.allCases.map(\.rawValue), section: "model")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ModelSection()
        channels = try c.decodeIfPresent(Int.self, forKey: .channels) ?? d.channels
        layers = try c.decodeIfPresent(Int.self, forKey: .layers) ?? d.layers
        heads = try c.decodeIfPresent(Int.self, forKey: .heads) ?? d.heads
        kvHeads = try c.decodeIfPresent(Int.self, forKey: .kvHeads)
        context = try c.decodeIfPresent(Int.self, forKey: .context) ?? d.context
        mlp = try c.decodeIfPresent(String.self, forKey: .mlp) ?? d.mlp
        norm = try c.decodeIfPresent(String.self, forKey: .norm) ?? d.norm
        tiedEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tiedEmbeddings) ?? d.tiedEmbeddings
        initSeed = try c.decodeIfPresent(UInt64.self, forKey: .initSeed) ?? d.initSeed
        if let t = try c.decodeIfPresent(NamedOptions.self, forKey: .attention) {
            attention = AttentionConfig(variant: t.name ?? d.attention.variant, options: t.options)
        }
        if let t = try c.decodeIfPresent(NamedOptions.self, forKey: .schedule) {
            schedule = ScheduleConfig(name: t.name ?? d.schedule.name, options: t.options)
        }
    }

    func encode(to encoder: any Swift.Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(channels, forKey: .channels)
        try c.encode(layers, forKey: .layers)
        try c.encode(heads, forKey: .heads)
        try c.encodeIfPresent(kvHeads, forKey: .kvHeads)
        try c.encode(context, forKey: .context)
        try c.encode(mlp, forKey: .mlp)
        try c.encode(norm, forKey: .norm)
        try c.encode(tiedEmbeddings, forKey: .tiedEmbeddings)
        try c.encode(initSeed, forKey: .initSeed)
        try c.encode(
            NamedOptions(nameKey: "variant", name: attention.variant, options: attention.options), forKey: .attention)
        if schedule != ScheduleConfig() {
            try c.encode(
                NamedOptions(nameKey: "name", name: schedule.name, options: schedule.options), forKey: .schedule)
        }
    }

    /// The ModelConfig for a tokenizer of `vocabSize` tokens, validated.
    func modelConfig(vocabSize: Int) throws -> ModelConfig {
        guard let mlpKind = MLPKind(rawValue: mlp) else {
            throw TrainingError.invalidConfig(key: "model.mlp", value: "\"\(mlp)\"", hint: "use \"gelu\" or \"swiglu\"")
        }
        guard let normKind = NormKind(rawValue: norm) else {
            throw TrainingError.invalidConfig(
                key: "model.norm", value: "\"\(norm)\"", hint: "use \"rmsnorm\" or \"layernorm\"")
        }
        let config = ModelConfig(
            vocabSize: vocabSize, channels: channels, layers: layers, heads: heads, kvHeads: kvHeads,
            context: context, mlp: mlpKind, norm: normKind, tiedEmbeddings: tiedEmbeddings,
            attention: attention, initSeed: initSeed, schedule: schedule)
        try config.validate()
        return config
    }
}

/// A table like [model.attention]: one naming key (`variant` or `name`), every other key an option.
struct NamedOptions: Codable, Equatable {
    var nameKey = "variant"
    var name: String?
    var options: [String: ConfigValue] = [:]

    init(nameKey: String, name: String?, options: [String: ConfigValue]) {
        self.nameKey = nameKey
        self.name = name
        self.options = options
    }

    init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: ConfigKeys.AnyKey.self)
        for key in c.allKeys {
            if key.stringValue == "variant" || key.stringValue == "name" {
                nameKey = key.stringValue
                name = try c.decode(String.self, forKey: key)
            } else {
                options[key.stringValue] = try c.decode(ConfigValue.self, forKey: key)
            }
        }
    }

    func encode(to encoder: any Swift.Encoder) throws {
        var c = encoder.container(keyedBy: ConfigKeys.AnyKey.self)
        if let name { try c.encode(name, forKey: .init(stringValue: nameKey)) }
        for (k, v) in options { try c.encode(v, forKey: .init(stringValue: k)) }
    }
}

enum TrainConfigFile {
    /// Reads a `.toml` file, or a `.json` resolved config (e.g. a run folder's config.json).
    static func load(path: String) throws -> TrainRunConfig {
        let text = try TOMLText.read(path: path, what: "config file")
        do {
            return path.hasSuffix(".json") ? try decode(json: Data(text.utf8)) : try decode(toml: text)
        } catch let e as TOMLParseError {
            throw CLIError(description: "\(path) is not valid TOML: \(e.description) (\(e.source.begin))")
        } catch {
            throw CLIError(description: "\(path): \(error)")
        }
    }

    static func decode(toml: String) throws -> TrainRunConfig {
        let table = try TOMLText.parse(toml)
        let data = try JSONSerialization.data(withJSONObject: try jsonObject(table, path: ""))
        return try decode(json: data)
    }

    /// Decodes and validates a run config from JSON.
    static func decode(json: Data) throws -> TrainRunConfig {
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

    /// JSONDecoder says only "The given data was not valid JSON.", without a key, both for broken
    /// JSON and for a number its field cannot hold (20.5 or 1e20 for an integer, -1 for a seed).
    /// Tells them apart and names the key: each suspicious number is replaced by 1 in turn, and
    /// the one whose replacement makes that error go away is the culprit.
    static func invalidData(_ json: Data) -> Error {
        let tree: Any
        do {
            tree = try JSONSerialization.jsonObject(with: json)
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            return CLIError(description: "the run config is not valid JSON: \(detail)")
        }
        var numbers: [(path: [Any], key: String, value: Double)] = []
        func walk(_ v: Any, _ path: [Any], _ key: String) {
            if let d = v as? [String: Any] {
                for k in d.keys.sorted() { walk(d[k]!, path + [k], key.isEmpty ? k : key + "." + k) }
            } else if let a = v as? [Any] {
                for (i, x) in a.enumerated() { walk(x, path + [i], key + "[\(i)]") }
            } else if let n = v as? NSNumber, !(v is String) {
                let d = n.doubleValue
                if d != d.rounded() || d < 0 || abs(d) >= 9.2e18 { numbers.append((path, key, d)) }
            }
        }
        func replacing(_ v: Any, _ path: ArraySlice<Any>) -> Any {
            guard let head = path.first else { return 1 }
            if var d = v as? [String: Any], let k = head as? String {
                d[k] = replacing(d[k]!, path.dropFirst())
                return d
            }
            if var a = v as? [Any], let i = head as? Int {
                a[i] = replacing(a[i], path.dropFirst())
                return a
            }
            return v
        }
        walk(tree, [], "")
        for n in numbers {
            guard let data = try? JSONSerialization.data(withJSONObject: replacing(tree, n.path[...])) else { continue }
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
        return CLIError(description: "the run config has a value its key cannot hold (check integers and signs)")
    }

    /// Canonical JSON (sorted keys), as stored in config.json and run rows.
    static func canonicalJSON(_ config: TrainRunConfig) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try e.encode(config), as: UTF8.self)
    }

    /// TOML value -> JSONSerialization object. Dates and times are not run settings.
    static func jsonObject(_ value: TOMLValueConvertible, path: String) throws -> Any {
        switch value.type {
        case .table:
            let t = value.table!
            var out: [String: Any] = [:]
            for key in t.keys { out[key] = try jsonObject(t[key]!, path: path.isEmpty ? key : path + "." + key) }
            return out
        case .array:
            return try value.array!.enumerated().map { try jsonObject($0.element, path: "\(path)[\($0.offset)]") }
        case .string: return value.string!
        case .int: return value.int!
        case .double: return value.double!
        case .bool: return value.bool!
        case .date, .time, .dateTime:
            throw TrainingError.wrongType(key: path, expected: "a number, string or boolean (not a date)")
        }
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

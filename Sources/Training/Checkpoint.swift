// Checkpoints as safetensors, in two files per step so the weights stay a plain model file:
//   step-000100.safetensors        the parameters under their TensorSpec names (readable by
//                                  Python safetensors / PyTorch), metadata: format, step, the
//                                  ModelConfig and TrainConfig as JSON, plus what the caller adds
//   step-000100.state.safetensors  what resuming needs: AdamW m and v (flat, P floats each),
//                                  metadata: step, optimizer steps, the data loader's seed and
//                                  batch count (the loader's batches are a pure function of those,
//                                  so they are the whole RNG state of training)
// The state file is written first and the weights last, each atomically, so a step whose weights
// file exists is complete. Resuming checks that both files name the same step and model; every
// load checks the files' data against the digest written with it (Safetensors.swift) and that
// the values are finite.
import Basics
import Foundation
import Kernels
import Model

public enum Checkpoint {
    public static let weightsFormat = "tracker-weights-1"
    public static let stateFormat = "tracker-train-state-1"

    /// `step-000100.safetensors`.
    public static func fileName(step: Int) -> String { String(format: "step-%06d.safetensors", step) }

    /// The optimizer-state file that goes with a weights file.
    public static func statePath(forWeights path: String) -> String {
        (path.hasSuffix(".safetensors") ? String(path.dropLast(".safetensors".count)) : path) + ".state.safetensors"
    }

    /// The weights file of the highest step in `directory` (a run folder or its checkpoints/).
    public static func latest(in directory: String) -> String? {
        for dir in [directory + "/checkpoints", directory] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            let weights = names.filter {
                $0.hasPrefix("step-") && $0.hasSuffix(".safetensors") && !$0.contains(".state.")
            }
            if let best = weights.max() { return dir + "/" + best }
        }
        return nil
    }

    /// Writes the model's parameters under their tensor names.
    public static func writeWeights(model: LanguageModel, path: String, metadata: [String: String]) throws {
        let base = UnsafeBufferPointer(model.parameters)
        let entries = model.tensors.map { t in
            SafetensorsEntry(
                name: t.name, shape: t.shape, data: UnsafeBufferPointer(rebasing: base[t.offset..<(t.offset + t.count)])
            )
        }
        var meta = metadata
        meta["format"] = weightsFormat
        meta["model_config"] = try jsonString(model.config)
        try Safetensors.write(path: path, tensors: entries, metadata: meta)
    }

    /// Builds a model from a weights file (its ModelConfig is in the metadata) and loads the weights.
    public static func loadModel(path: String) throws -> (model: LanguageModel, metadata: [String: String]) {
        let file = try SafetensorsFile(path: path)
        guard file.metadata["format"] == weightsFormat, let json = file.metadata["model_config"] else {
            throw TrainingError.badCheckpoint(path: path, reason: "no tracker model config in its metadata")
        }
        let config: ModelConfig
        do {
            config = try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8))
        } catch {
            throw TrainingError.badCheckpoint(path: path, reason: "its model config does not decode: \(error)")
        }
        // Before anything is allocated: the config's sizes must be plausible for this file (its
        // embedding alone is vocabSize x channels floats, each block at least channels² more).
        try config.validate()
        let floats = (file.tensors.values.map(\.range.upperBound).max() ?? 0) / 4
        guard config.vocabSize * config.channels <= floats, config.layers * config.channels * config.channels <= floats
        else {
            throw TrainingError.badCheckpoint(
                path: path,
                reason: "its model config (\(config.layers) layers of \(config.channels) channels, "
                    + "\(config.vocabSize) tokens) needs more weights than the file holds")
        }
        let model = try LanguageModel(config: config)
        try copyWeights(from: file, into: model)
        return (model, file.metadata)
    }

    /// Where one of the model's tensors is in a checkpoint: the values of the file's tensor of
    /// the same name to copy, and where the file's tensor starts in the flat layout the file was
    /// written with (for the optimizer state, in the same order).
    struct TensorSource {
        var spec: TensorSpec
        var values: Range<Int>
        var flatOffset: Int
    }

    /// Each model tensor in `file`, which must hold it with the model's shape, except an
    /// `attn.wqkv` written with the q rows a variant without a query projection no longer has
    /// (aaren checkpoints of before that change, ((NH + 2 NKV) hs, C)): its k and v rows are
    /// taken, the unused q rows dropped. Returns the sources and the file's total value count.
    static func sources(in file: SafetensorsFile, for model: LanguageModel) throws -> ([TensorSource], Int) {
        let shape = model.attention.shape
        let columns = model.attention.projectedColumns
        var flat = 0
        var sources: [TensorSource] = []
        for t in model.tensors {
            let found = file.tensors[t.name]
            var values = 0..<t.count
            if found?.shape != t.shape {
                // An old wqkv of all qkvWidth rows: keep rows `columns` (contiguous at the end).
                guard let found, t.name.hasSuffix(".attn.wqkv"), columns.count < shape.qkvWidth,
                    found.shape == [shape.qkvWidth, t.shape[1]]
                else {
                    throw TrainingError.checkpointMismatch(
                        path: file.path,
                        reason:
                            "tensor '\(t.name)' has shape \(found?.shape ?? []), the model expects \(t.shape)")
                }
                values = columns.lowerBound * t.shape[1]..<found.count
            }
            sources.append(TensorSource(spec: t, values: values, flatOffset: flat))
            flat += found?.count ?? 0
        }
        return (sources, flat)
    }

    static func copyWeights(from file: SafetensorsFile, into model: LanguageModel) throws {
        for s in try sources(in: file, for: model).0 {
            let values = slice(model.parameters, s.spec)
            try file.copy(s.spec.name, elements: s.values, into: values)
            try requireFinite(values, tensor: s.spec.name, path: file.path)
        }
    }

    /// Throws when `values` hold a NaN or an infinity. A checkpoint written by a run that had
    /// diverged loads without complaint, and resuming from it then said "training diverged ...
    /// lower lr" at the first step, blaming the config instead of the file.
    static func requireFinite(_ values: UnsafeMutableBufferPointer<Float>, tensor: String, path: String) throws {
        var probe: Float = 0
        for x in values { probe += x * 0 }  // 0 for finite values; NaN once any is NaN or infinite
        if probe != 0 { throw TrainingError.nonFiniteCheckpoint(path: path, tensor: tensor) }
    }

    /// The part of a flat parameter-layout buffer that holds `spec`.
    static func slice(_ buffer: UnsafeMutableBufferPointer<Float>, _ spec: TensorSpec)
        -> UnsafeMutableBufferPointer<Float>
    {
        UnsafeMutableBufferPointer(rebasing: buffer[spec.offset..<(spec.offset + spec.count)])
    }

    static func jsonString<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONText.encoder().encode(value), as: UTF8.self)
    }
}

extension Trainer {
    /// Saves weights and optimizer state for the current step into `directory`; returns the
    /// weights path. `metadata` is added to the weights file (e.g. the resolved run config).
    @discardableResult
    public func saveCheckpoint(directory: String, metadata: [String: String] = [:]) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/" + Checkpoint.fileName(step: step)
        let position = source.position
        let stateMeta = [
            "format": Checkpoint.stateFormat, "step": "\(step)", "adamw_t": "\(optimizer.t)",
            "loader_seed": "\(position.seed)", "loader_batches": "\(position.batches)",
            "parameters": "\(model.parameterCount)",
        ]
        let P = model.parameterCount
        try Safetensors.write(
            path: Checkpoint.statePath(forWeights: path),
            tensors: [
                SafetensorsEntry(name: "adamw.m", shape: [P], data: UnsafeBufferPointer(optimizer.m)),
                SafetensorsEntry(name: "adamw.v", shape: [P], data: UnsafeBufferPointer(optimizer.v)),
            ],
            metadata: stateMeta)
        var meta = metadata
        meta["step"] = "\(step)"
        meta["train_config"] = try Checkpoint.jsonString(config)
        try Checkpoint.writeWeights(model: model, path: path, metadata: meta)
        return path
    }

    /// Restores weights, optimizer state, step and data position from a checkpoint written by
    /// `saveCheckpoint` for the same model config.
    public func loadCheckpoint(_ path: String) throws {
        let weights = try SafetensorsFile(path: path)
        let statePath = Checkpoint.statePath(forWeights: path)
        guard FileManager.default.fileExists(atPath: statePath) else {
            throw TrainingError.badCheckpoint(path: path, reason: "its optimizer state \(statePath) is missing")
        }
        let state = try SafetensorsFile(path: statePath)
        guard weights.metadata["format"] == Checkpoint.weightsFormat, state.metadata["format"] == Checkpoint.stateFormat
        else { throw TrainingError.badCheckpoint(path: path, reason: "not written by tracker train") }
        guard let s = weights.metadata["step"], s == state.metadata["step"], let savedStep = Int(s),
            let t = state.metadata["adamw_t"].flatMap(Int.init),
            let seed = state.metadata["loader_seed"].flatMap(UInt64.init),
            let batches = state.metadata["loader_batches"].flatMap(Int.init),
            savedStep >= 0, t >= 0, batches >= 0, max(savedStep, t, batches) < 1 << 48
        else {
            throw TrainingError.badCheckpoint(
                path: path, reason: "weights and optimizer state are from different steps")
        }
        // Compared as models, so checkpoints written with the older camelCase model config, or
        // with options left at their defaults, resume.
        let saved = weights.metadata["model_config"].flatMap {
            try? JSONDecoder().decode(ModelConfig.self, from: Data($0.utf8))
        }
        guard let saved, saved.buildsSameModel(as: model.config) else {
            throw TrainingError.checkpointMismatch(path: path, reason: "it was trained with another model config")
        }
        // The moments are flat in the layout the weights were written with (which may hold rows
        // the model no longer has, see Checkpoint.sources): copied tensor by tensor.
        let (sources, total) = try Checkpoint.sources(in: weights, for: model)
        try Checkpoint.copyWeights(from: weights, into: model)
        for (name, moment) in [("adamw.m", optimizer.m), ("adamw.v", optimizer.v)] {
            guard state.tensors[name].map({ $0.count == total }) ?? true else {
                throw TrainingError.checkpointMismatch(
                    path: statePath,
                    reason: "tensor '\(name)' holds \(state.tensors[name]!.count) values, its weights \(total)")
            }
            for s in sources {
                let from = s.flatOffset + s.values.lowerBound
                let values = Checkpoint.slice(moment, s.spec)
                try state.copy(name, elements: from..<(from + s.values.count), into: values)
                try Checkpoint.requireFinite(values, tensor: "\(name) of \(s.spec.name)", path: statePath)
            }
        }
        optimizer.t = t
        step = savedStep
        source.seek(to: DataLoaderState(seed: seed, batches: batches))
    }
}

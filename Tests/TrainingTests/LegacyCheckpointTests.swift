// Checkpoints written before aaren stopped projecting q (Fixtures/*-c0ee606.*, written by
// `tracker train` at commit c0ee606 with Fixtures/legacy-checkpoint.toml, 3 steps, the variant
// changed by hand): an aaren one loads with the unused q rows of attn.wqkv dropped (weights and
// AdamW moments), and a softmax_rope one, whose layout did not change, loads byte for byte and is
// written back byte for byte.
import Basics
import Foundation
import Model
import TestSupport
import Testing
import Training

struct LegacyCheckpointTests {
    static func fixture(_ name: String) -> String {
        Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures")!.path
    }

    /// A trainer for the checkpoint's model, to resume it.
    static func trainer(for path: String) throws -> Trainer {
        let (model, _) = try Checkpoint.loadModel(path: path)
        let source = FixedBatchSource(B: 2, T: model.config.context, vocab: model.config.vocabSize, seed: 3)
        return try Trainer(model: model, config: quickTrainConfig(steps: 5, batch: 2, threads: 1), source: source)
    }

    @Test func aarenCheckpointLoadsWithoutTheQueryRows() throws {
        let path = Self.fixture("aaren-c0ee606")
        let file = try SafetensorsFile(path: path)
        let state = try SafetensorsFile(path: Checkpoint.statePath(forWeights: path))
        let t = try Self.trainer(for: path)
        let model = t.model
        let (NH, NKV, hs, C) = (2, 1, 4, 8)
        #expect(model.config.attention.variant == "aaren" && model.config.kvHeads == NKV)
        let spec = try #require(model.tensors.first { $0.name == "blocks.0.attn.wqkv" })
        #expect(spec.shape == [2 * NKV * hs, C])
        #expect(file.tensors[spec.name]?.shape == [(NH + 2 * NKV) * hs, C])
        let old = try file.array(spec.name)
        #expect(Array(model.parameters[spec.offset..<spec.offset + spec.count]) == Array(old[(NH * hs * C)...]))
        for other in model.tensors where other.name != spec.name {
            #expect(Array(model.parameters[other.offset..<other.offset + other.count]) == (try file.array(other.name)))
        }

        try t.loadCheckpoint(path)
        #expect(t.step == 3)
        // The moments were flat in the old layout: wqkv's came after wte and norm1, q rows first.
        let m = try state.array("adamw.m")
        let v = try state.array("adamw.v")
        #expect(m.count == model.parameterCount + NH * hs * C)
        var oldOffset = 0
        for s in model.tensors {
            let count = file.tensors[s.name]!.count
            let skip = s.name == spec.name ? NH * hs * C : 0
            let range = (oldOffset + skip)..<(oldOffset + count)
            #expect(Array(t.optimizer.m[s.offset..<s.offset + s.count]) == Array(m[range]), "\(s.name)")
            #expect(Array(t.optimizer.v[s.offset..<s.offset + s.count]) == Array(v[range]), "\(s.name)")
            oldOffset += count
        }
        #expect(t.trainStep().loss.isFinite)
    }

    @Test func unchangedLayoutLoadsAndSavesByteForByte() throws {
        let path = Self.fixture("softmax_rope-c0ee606")
        let file = try SafetensorsFile(path: path)
        let state = try SafetensorsFile(path: Checkpoint.statePath(forWeights: path))
        let t = try Self.trainer(for: path)
        try t.loadCheckpoint(path)
        #expect(Array(t.optimizer.m) == (try state.array("adamw.m")))
        #expect(Array(t.optimizer.v) == (try state.array("adamw.v")))
        let dir = temporaryDirectory("legacy")
        try Checkpoint.writeWeights(model: t.model, path: dir + "/w.safetensors", metadata: [:])
        let again = try SafetensorsFile(path: dir + "/w.safetensors")
        #expect(Set(again.tensors.keys) == Set(file.tensors.keys))
        for (name, info) in file.tensors {
            #expect(again.tensors[name]?.shape == info.shape, "\(name)")
            #expect((try again.array(name)) == (try file.array(name)), "\(name)")
        }
    }

    /// A wqkv whose row count is neither the model's nor the old full width is refused by name.
    @Test func otherShapesAreRefused() throws {
        let path = Self.fixture("aaren-c0ee606")
        let t = try Self.trainer(for: path)
        let dir = temporaryDirectory("legacy")
        let bad = dir + "/step-000003.safetensors"
        let file = try SafetensorsFile(path: path)
        var arrays: [String: [Float]] = [:]
        for name in file.tensors.keys { arrays[name] = try file.array(name) }
        arrays["blocks.0.attn.wqkv"]!.removeLast(8)
        let entries = arrays.keys.sorted().map { name -> (String, [Int], [Float]) in
            var shape = file.tensors[name]!.shape
            if name == "blocks.0.attn.wqkv" { shape[0] -= 1 }
            return (name, shape, arrays[name]!)
        }
        try writeSafetensors(bad, entries, metadata: file.metadata)
        try FileManager.default.copyItem(
            atPath: Checkpoint.statePath(forWeights: path), toPath: Checkpoint.statePath(forWeights: bad))
        #expect {
            try t.loadCheckpoint(bad)
        } throws: { error in
            "\(error)".contains("blocks.0.attn.wqkv") && "\(error)".contains("[15, 8]")
        }
    }
}

/// Writes (name, shape, values) tensors as one safetensors file.
func writeSafetensors(_ path: String, _ tensors: [(String, [Int], [Float])], metadata: [String: String]) throws {
    var entries: [SafetensorsEntry] = []
    var buffers: [UnsafeMutableBufferPointer<Float>] = []
    defer { buffers.forEach { $0.deallocate() } }
    for (name, shape, values) in tensors {
        let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
        _ = b.initialize(from: values)
        buffers.append(b)
        entries.append(SafetensorsEntry(name: name, shape: shape, data: UnsafeBufferPointer(b)))
    }
    try Safetensors.write(path: path, tensors: entries, metadata: metadata)
}

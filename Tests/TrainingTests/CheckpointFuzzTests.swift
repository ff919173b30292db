// Fuzzing the checkpoint readers (SafetensorsFile, Checkpoint.loadModel, Trainer.loadCheckpoint):
// a real weights file and its optimizer state, mutated thousands of times (flipped bytes,
// truncation, huge numbers in the header and in the model config), plus hand-made headers at the
// edges (header lengths past the file or past Int.max, shapes whose product overflows, negative
// or reversed offsets, other dtypes). No trap, no huge allocation: every failure is a
// TrainingError or ModelError saying what is wrong with which file.
import Basics
import Foundation
import Model
import Shards
import TestSupport
import Testing
import Training

#if canImport(Glibc)
    import Glibc
#endif

struct CheckpointFuzzTests {
    let dir = temporaryDirectory("ckpt-fuzz")
    let weights: [UInt8]
    let state: [UInt8]
    let trainer: Trainer

    init() throws {
        var tokens: [UInt32] = []
        for i in 0..<2000 { tokens.append(UInt32(i * 7 % 40)) }
        let shard = try makeShard(dir + "/t.bin", tokens: tokens, vocab: 40)
        func make() throws -> Trainer {
            let model = try LanguageModel(config: tinyModelConfig(vocab: 40))
            let c = quickTrainConfig(steps: 4, threads: 1)
            return try Trainer(
                model: model, config: c, source: try DataLoader(shards: [shard], batch: 2, time: 16, seed: c.seed))
        }
        let t = try make()
        t.trainStep()
        let path = try t.saveCheckpoint(directory: dir + "/src")
        weights = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        state = Array(try Data(contentsOf: URL(fileURLWithPath: Checkpoint.statePath(forWeights: path))))
        trainer = try make()
    }

    /// Writes the pair and runs every reader on it; a failure must be a clear, typed error.
    func read(weights w: [UInt8], state s: [UInt8], _ label: String, trainer: Trainer? = nil) {
        let path = dir + "/step-000001.safetensors"
        put(w, path)
        put(s, Checkpoint.statePath(forWeights: path))
        func expectClear(_ body: () throws -> Void) {
            do {
                try body()
            } catch let e as TrainingError {
                #expect(!e.description.contains("Error Domain") && e.description.count < 1000, "\(label): \(e)")
            } catch let e as ModelError {
                #expect(e.description.count < 1000, "\(label): \(e)")
            } catch {
                Issue.record("\(label): not a TrainingError or ModelError: \(error)")
            }
        }
        expectClear { _ = try SafetensorsFile(path: path) }
        expectClear { _ = try Checkpoint.loadModel(path: path) }
        expectClear { try (trainer ?? self.trainer).loadCheckpoint(path) }
    }

    /// A fresh file with `bytes`: Foundation's writers fsync, and ext4 flushes a truncated file,
    /// which made each write cost about 10 ms here.
    func put(_ bytes: [UInt8], _ path: String) {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            Issue.record("cannot create \(path)")
            return
        }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// `count` mutations of the pair, each read by every reader: most edits land in the weights'
    /// JSON header (where the parsing is), some anywhere in either file.
    func fuzz(weights: [UInt8], state: [UInt8], count: Int, seed: UInt64, _ label: String, trainer: Trainer? = nil) {
        var m = Mutator(seed: seed)
        let headerEnd = 8 + Int(weights[0]) + Int(weights[1]) << 8
        for i in 0..<count {
            var w = weights
            var s = state
            switch m.int(4) {
            case 0: w = m.mutate(weights)
            case 1: s = m.mutate(state)
            default: w = m.mutate(Array(weights[..<headerEnd])) + weights[headerEnd...]
            }
            read(weights: w, state: s, "\(label) \(i)", trainer: trainer)
        }
    }

    @Test func mutatedCheckpoints() {
        fuzz(weights: weights, state: state, count: 1500, seed: 31, "mutation")
    }

    /// An aaren checkpoint of the old layout (attn.wqkv with the q rows, converted on load),
    /// mutated the same way and resumed into an aaren model.
    @Test func mutatedLegacyAarenCheckpoints() throws {
        let path = LegacyCheckpointTests.fixture("aaren-c0ee606")
        let weights = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let state = Array(try Data(contentsOf: URL(fileURLWithPath: Checkpoint.statePath(forWeights: path))))
        let aaren = try LegacyCheckpointTests.trainer(for: path)
        fuzz(weights: weights, state: state, count: 500, seed: 32, "legacy mutation", trainer: aaren)
    }

    /// A safetensors file with this header and `data` bytes after it.
    func file(_ header: String, data: Int = 64, length: UInt64? = nil) -> [UInt8] {
        let h = Array(header.utf8)
        var n = (length ?? UInt64(h.count)).littleEndian
        return withUnsafeBytes(of: &n) { Array($0) } + h + [UInt8](repeating: 0, count: data)
    }

    @Test func extremeHeaders() {
        let meta = #""__metadata__":{"format":"tracker-weights-1","model_config":"{\"vocabSize\":40}"}"#
        let cases: [(String, [UInt8])] = [
            ("empty", []),
            ("seven bytes", [1, 2, 3, 4, 5, 6, 7]),
            ("length UInt64.max", file("{}", length: .max)),
            ("length 2^63", file("{}", length: 1 << 63)),
            ("length past the end", file("{}", length: 1000)),
            ("length zero", file("{}", length: 0)),
            ("not an object", file("[1,2]")),
            (
                "shape product overflows",
                file(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}}"#)
            ),
            (
                "shape times 4 overflows",
                file(#"{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}"#)
            ),
            ("negative shape", file(#"{"a":{"dtype":"F32","shape":[-4,-4],"data_offsets":[0,64]}}"#)),
            ("negative offsets", file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[-16,0]}}"#)),
            ("reversed offsets", file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[32,16]}}"#)),
            (
                "offsets past the data",
                file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[9223372036854775800,9223372036854775807]}}"#)
            ),
            ("huge offsets", file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[1e300,2e300]}}"#)),
            ("fractional shape", file(#"{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,10]}}"#)),
            ("F16", file(#"{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}"#)),
            ("dtype a number", file(#"{"a":{"dtype":5,"shape":[4],"data_offsets":[0,16]}}"#)),
            ("metadata not strings", file(#"{"__metadata__":{"format":1}}"#)),
            (
                "model config channels 2^62",
                file("{" + meta.replacingOccurrences(of: #"40}"#, with: #"40,\"channels\":4611686018427387904}"#) + "}")
            ),
            (
                "model config huge context",
                file("{" + meta.replacingOccurrences(of: #"40}"#, with: #"40,\"context\":100000000000}"#) + "}")
            ),
            (
                "model config huge layers",
                file("{" + meta.replacingOccurrences(of: #"40}"#, with: #"40,\"layers\":1000000000}"#) + "}")
            ),
            (
                "model config huge vocabulary",
                file("{" + meta.replacingOccurrences(of: #"40}"#, with: #"4294967295}"#) + "}")
            ),
            (
                "model config deep",
                file(
                    "{"
                        + meta.replacingOccurrences(
                            of: #"40}"#, with: #"40,\"attention\":"# + String(repeating: "[", count: 5000) + "}") + "}")
            ),
        ]
        for (label, bytes) in cases { read(weights: bytes, state: state, label) }
        for (label, bytes) in cases { read(weights: weights, state: bytes, "state: " + label) }
    }
}

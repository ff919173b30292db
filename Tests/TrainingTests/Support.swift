// Helpers shared by the training tests: temporary folders and shards with chosen tokens.
import Basics
import Foundation
import Model
import Shards
import Training

func temporaryDirectory(_ label: String = "training") -> String {
    let d = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// Writes one shard holding `tokens` and opens it.
func makeShard(_ path: String, tokens: [UInt32], vocab: Int) throws -> ShardReader {
    let w = try ShardWriter(path: path, vocabSize: vocab, eotId: UInt32(vocab - 1), tokenizerSHA256: [])
    try tokens.withUnsafeBufferPointer { try w.append(document: $0) }
    try w.finish()
    return try ShardReader(path: path)
}

/// The package root, found from this file's path (for experiments/ and corpora/).
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// A tiny model for tests: fast in debug builds.
func tinyModelConfig(vocab: Int, context: Int = 16, seed: UInt64 = 1) -> ModelConfig {
    ModelConfig(vocabSize: vocab, channels: 16, layers: 1, heads: 2, context: context, initSeed: seed)
}

/// Settings for short test runs: no warm-up surprises, evaluation and checkpoints off.
func quickTrainConfig(steps: Int, batch: Int = 4, lr: Double = 1e-2, threads: Int = 2) -> TrainConfig {
    var c = TrainConfig()
    c.steps = steps
    c.batch = batch
    c.lr = lr
    c.minLR = lr / 10
    c.warmup = 2
    c.evalEvery = 0
    c.logEvery = 1
    c.threads = threads
    return c
}

/// Shards of byte tokens 0..<256 from the bundled corpus: the first `bytes` bytes of its text,
/// 90% train and 10% val. Returns the readers and the byte-unigram entropy of the train split in nats.
func bundledByteShards(bytes: Int) throws -> (train: ShardReader, val: ShardReader, unigramEntropy: Double) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["tar", "-xJOf", packageRoot + "/corpora/bundled.tar.xz"]
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = [UInt8](data.prefix(bytes))
    let cut = text.count * 9 / 10
    let dir = temporaryDirectory("bundled")
    let train = try makeShard(dir + "/train.bin", tokens: text[..<cut].map(UInt32.init), vocab: 256)
    let val = try makeShard(dir + "/val.bin", tokens: text[cut...].map(UInt32.init), vocab: 256)
    var counts = [Double](repeating: 0, count: 256)
    for b in text[..<cut] { counts[Int(b)] += 1 }
    let n = Double(cut)
    let entropy = counts.reduce(0) { $1 > 0 ? $0 - $1 / n * log($1 / n) : $0 }
    return (train, val, entropy)
}

/// The same batch every time: for fitting one batch.
final class FixedBatchSource: BatchSource {
    let B: Int, T: Int
    let inputs: [Int32], targets: [Int32]
    var position = DataLoaderState(seed: 0, batches: 0)
    init(B: Int, T: Int, vocab: Int, seed: UInt64) {
        self.B = B
        self.T = T
        var g = SplitMix64(seed: seed)
        let tokens = (0...(B * T)).map { _ in Int32(g.next() % UInt64(vocab)) }
        inputs = Array(tokens[0..<(B * T)])
        targets = Array(tokens[1...(B * T)])
    }
    func next(inputs x: UnsafeMutablePointer<Int32>, targets y: UnsafeMutablePointer<Int32>) {
        inputs.withUnsafeBufferPointer { x.update(from: $0.baseAddress!, count: B * T) }
        targets.withUnsafeBufferPointer { y.update(from: $0.baseAddress!, count: B * T) }
        position.batches += 1
    }
    func seek(to position: DataLoaderState) { self.position = position }
}

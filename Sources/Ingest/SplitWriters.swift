// Shard writers for the train and val splits, rolling over to a new file every `shardTokens`
// tokens (at a document boundary), and the parallel encoder that feeds them in document order.
import BPE
import Basics
import Foundation
import Shards
import Store

final class SplitWriters {
    private let folder: String
    private let tokenizer: Tokenizer
    let tokenizerSHA256: String
    private let shardTokens: Int
    private var open: [ShardSplit: ShardWriter] = [:]
    private var ordinals: [ShardSplit: Int] = [:]
    private var finished: [(split: ShardSplit, ordinal: Int, file: String, header: ShardHeader)] = []

    init(folder: String, tokenizer: Tokenizer, tokenizerSHA256: String, shardTokens: Int) {
        self.folder = folder
        self.tokenizer = tokenizer
        self.tokenizerSHA256 = tokenizerSHA256
        self.shardTokens = shardTokens
    }

    /// Appends one document (already prefixed with <|endoftext|>) to its split.
    func append(_ tokens: UnsafeBufferPointer<UInt32>, split: ShardSplit) throws {
        let w = try writer(for: split)
        try w.append(document: tokens)
        if w.tokenCount >= shardTokens { try close(split) }
    }

    private func writer(for split: ShardSplit) throws -> ShardWriter {
        if let w = open[split] { return w }
        let ordinal = ordinals[split, default: 0]
        let file = String(format: "%@_%06d.bin", split.rawValue, ordinal)
        let sha = stride(from: 0, to: 64, by: 2).map { i -> UInt8 in
            let s = tokenizerSHA256.utf8.dropFirst(i).prefix(2)
            return UInt8(String(decoding: s, as: UTF8.self), radix: 16) ?? 0
        }
        let w = try ShardWriter(
            path: "\(folder)/\(file)", vocabSize: tokenizer.vocabSize, eotId: tokenizer.eotId, tokenizerSHA256: sha)
        open[split] = w
        return w
    }

    private func close(_ split: ShardSplit) throws {
        guard let w = open.removeValue(forKey: split) else { return }
        let header = try w.finish()
        let ordinal = ordinals[split, default: 0]
        finished.append((split, ordinal, URL(fileURLWithPath: w.path).lastPathComponent, header))
        ordinals[split] = ordinal + 1
    }

    func finish() throws {
        for split in ShardSplit.allCases { try close(split) }
    }

    func discard() {
        for w in open.values { w.discard() }
        open.removeAll()
    }

    /// Records of the finished shards, with checksums, paths relative to the workspace.
    func written(relativeTo rel: String) throws -> [ShardRecord] {
        try finished.map { f in
            let path = "\(folder)/\(f.file)"
            let sum = try FileHashing.sha256(path: path)
            return ShardRecord(
                split: f.split.rawValue, ordinal: Int64(f.ordinal), path: "\(rel)/\(f.file)",
                tokens: Int64(f.header.tokenCount), documents: Int64(f.header.documents), size: sum.size,
                sha256: sum.hex)
        }
    }
}

/// Encodes a batch of documents on all threads (one Encoder each, with its own cache) and hands
/// the results to the writers in document order.
final class BatchEncoder {
    private let encoders: [Encoder]
    private let eot: UInt32
    private var outputs: [[UInt32]] = []

    init(tokenizer: Tokenizer, threads: Int) {
        encoders = (0..<max(1, threads)).map { _ in tokenizer.makeEncoder() }
        eot = tokenizer.eotId
    }

    func encode(_ batch: DocumentBatch, into writer: SplitWriters) throws {
        let n = batch.count
        if n == 0 { return }
        if outputs.count < n { outputs += Array(repeating: [], count: n - outputs.count) }
        let threads = encoders.count
        let encoders = UncheckedSendable(self.encoders)
        let eot = self.eot
        try outputs.withUnsafeMutableBufferPointer { outs in
            let outs = UncheckedSendable(outs)
            parallelFor(threads, threads: threads) { w in
                for i in stride(from: w, to: n, by: threads) {
                    outs.value[i].removeAll(keepingCapacity: true)
                    outs.value[i].append(eot)
                    batch.withDocument(i) { encoders.value[w].encode($0, into: &outs.value[i]) }
                }
            }
            for i in 0..<n {
                try outs.value[i].withUnsafeBufferPointer {
                    try writer.append($0, split: batch.isValidation[i] ? .val : .train)
                }
            }
        }
    }
}

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
        let sha = Hex.bytes(tokenizerSHA256) ?? [UInt8](repeating: 0, count: 32)
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

    /// Records of the finished shards, with checksums (one file per thread at a time), paths
    /// relative to the workspace.
    func written(relativeTo rel: String, threads: Int) throws -> [ShardRecord] {
        let sums = ResultSlots<Result<(hex: String, size: Int64), Error>>(count: finished.count)
        let files = finished.map { "\(folder)/\($0.file)" }
        parallelFor(files.count, threads: threads) { i in sums[i] = Result { try FileHashing.sha256(path: files[i]) } }
        return try finished.indices.map { i in
            let f = finished[i]
            let sum = try sums[i]!.get()
            return ShardRecord(
                split: f.split.rawValue, ordinal: Int64(f.ordinal), path: "\(rel)/\(f.file)",
                tokens: Int64(f.header.tokenCount), documents: Int64(f.header.documents), size: sum.size,
                sha256: sum.hex)
        }
    }
}

/// Encodes batches of documents on worker threads (one Encoder each, with its own cache) while
/// the caller reads the next ones, and hands the results to the writers in submission order, so
/// the shards do not depend on the number of threads. Batches and outputs are recycled: the
/// steady state allocates nothing per document or batch. At most `2 * threads` batches wait.
final class BatchEncoder: @unchecked Sendable {
    private let writer: SplitWriters
    private let queue: BoundedQueue<(sequence: Int, batch: DocumentBatch)>
    private let lock = NSLock()
    /// Encoded batches that finished before an earlier one, by sequence number.
    private var ready: [Int: (DocumentBatch, EncodedBatch)] = [:]
    private var nextToWrite = 0
    private var submitted = 0
    private var failure: (any Error)?
    private var spareBatches: [DocumentBatch] = []
    private var spareOutputs: [EncodedBatch] = []
    private var join: (() -> Void)?

    init(tokenizer: Tokenizer, threads: Int, writer: SplitWriters) {
        let workers = max(1, threads)
        self.writer = writer
        queue = BoundedQueue(capacity: 2 * workers)
        let encoders = UncheckedSendable((0..<workers).map { _ in tokenizer.makeEncoder() })
        let eot = tokenizer.eotId
        join = startThreads(workers, name: "encode") { [self] w in
            while let (sequence, batch) = queue.pop() {
                let out = takeOutput()
                if !hasFailed { out.encode(batch, with: encoders.value[w], eot: eot) }
                deliver(sequence, batch, out)
            }
        }
    }

    /// An empty batch to fill (a recycled one when there is one).
    func makeBatch() -> DocumentBatch {
        lock.withLock { spareBatches.popLast() } ?? DocumentBatch()
    }

    /// Queues `batch` for encoding (blocks while enough are waiting); throws a writer's error.
    func submit(_ batch: DocumentBatch) throws {
        if let failure = lock.withLock({ failure }) { throw failure }
        queue.push((submitted, batch))
        submitted += 1
    }

    /// Waits for every submitted batch to be written, then rethrows the first writer error.
    func finish() throws {
        queue.close()
        join?()
        join = nil
        if let failure { throw failure }
    }

    /// Stops encoding what is still queued (the caller failed) and waits for the threads.
    func cancel() {
        lock.withLock { failure = failure ?? CancellationError() }
        try? finish()
    }

    private var hasFailed: Bool { lock.withLock { failure != nil } }

    private func takeOutput() -> EncodedBatch {
        lock.withLock { spareOutputs.popLast() } ?? EncodedBatch()
    }

    /// Parks a finished batch and writes every batch that is now next in order.
    private func deliver(_ sequence: Int, _ batch: DocumentBatch, _ out: EncodedBatch) {
        lock.lock()
        defer { lock.unlock() }
        ready[sequence] = (batch, out)
        while let (batch, out) = ready.removeValue(forKey: nextToWrite) {
            nextToWrite += 1
            if failure == nil {
                do { try out.write(batch, to: writer) } catch { failure = error }
            }
            batch.removeAll()
            spareBatches.append(batch)
            spareOutputs.append(out)
        }
    }
}

/// The ids of one batch's documents, each prefixed with <|endoftext|>, back to back.
final class EncodedBatch {
    private var ids: [UInt32] = []
    private var ends: [Int] = []

    func encode(_ batch: DocumentBatch, with encoder: Encoder, eot: UInt32) {
        ids.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        for i in 0..<batch.count {
            ids.append(eot)
            batch.withDocument(i) { encoder.encode($0, into: &ids) }
            ends.append(ids.count)
        }
    }

    func write(_ batch: DocumentBatch, to writer: SplitWriters) throws {
        try ids.withUnsafeBufferPointer { all in
            for i in 0..<ends.count {
                let start = i == 0 ? 0 : ends[i - 1]
                try writer.append(
                    UnsafeBufferPointer(rebasing: all[start..<ends[i]]), split: batch.isValidation[i] ? .val : .train)
            }
        }
    }
}

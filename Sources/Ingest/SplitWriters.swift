// Shard writers for the train and val splits, rolling over to a new file every `shardTokens`
// tokens (at a document boundary), and the parallel encoder that feeds them in document order.
// A full shard is finished on a thread of its own (`ShardFinisher`: header, fsync, rename, and
// its SHA-256 read back while the file is still in the page cache), so the encoders never wait
// for the disk and the shards are not read again to record their checksums.
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
    private var finished: [(split: ShardSplit, ordinal: Int, file: String, tokens: Int, documents: Int)] = []
    private let finisher = ShardFinisher()

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

    /// Hands the split's open shard to the finisher (throws what an earlier shard's finishing met).
    private func close(_ split: ShardSplit) throws {
        try finisher.throwIfFailed()
        guard let w = open.removeValue(forKey: split) else { return }
        let ordinal = ordinals[split, default: 0]
        finished.append((split, ordinal, URL(fileURLWithPath: w.path).lastPathComponent, w.tokenCount, w.documents))
        ordinals[split] = ordinal + 1
        finisher.submit(w)
    }

    /// Closes the open shards and waits until every shard is finished and checksummed.
    func finish() throws {
        for split in ShardSplit.allCases { try close(split) }
        try finisher.finish()
    }

    func discard() {
        for w in open.values { w.discard() }
        open.removeAll()
        finisher.discard()
    }

    /// Records of the finished shards (after `finish`), with the checksums the finisher took,
    /// paths relative to the workspace.
    func written(relativeTo rel: String) throws -> [ShardRecord] {
        let sums = finisher.checksums
        guard sums.count == finished.count else { throw ShardError.io(.io(path: folder, errno: EIO, action: "finish")) }
        return finished.indices.map { i in
            let f = finished[i]
            return ShardRecord(
                split: f.split.rawValue, ordinal: Int64(f.ordinal), path: "\(rel)/\(f.file)", tokens: Int64(f.tokens),
                documents: Int64(f.documents), size: sums[i].size, sha256: sums[i].hex)
        }
    }
}

/// Finishes shards in the order submitted, on one thread of its own: `ShardWriter.finish`
/// (the rest of the buffer, the header, fsync, rename), then the file's SHA-256. At most two
/// shards wait, so a slow disk still holds the encoders back rather than memory growing.
final class ShardFinisher: @unchecked Sendable {
    private let queue = BoundedQueue<ShardWriter>(capacity: 2)
    private let lock = NSLock()
    private var sums: [(hex: String, size: Int64)] = []
    private var failure: (any Error)?
    private var join: (() -> Void)?

    init() {
        join = startThreads(1, name: "shard-finish") { [self] _ in
            while let w = queue.pop() {
                if lock.withLock({ failure != nil }) {
                    w.discard()
                    continue
                }
                do {
                    try w.finish()
                    let sum = try FileHashing.sha256(path: w.path)
                    lock.withLock { sums.append(sum) }
                } catch {
                    w.discard()
                    lock.withLock { failure = failure ?? error }
                }
            }
        }
    }

    deinit { discard() }

    /// The checksums of the shards finished so far, in submission order.
    var checksums: [(hex: String, size: Int64)] { lock.withLock { sums } }

    func submit(_ w: ShardWriter) { queue.push(w) }

    /// Throws the first failure to finish a shard (a full disk), if any.
    func throwIfFailed() throws {
        if let failure = lock.withLock({ failure }) { throw failure }
    }

    /// Waits for every submitted shard; throws the first failure.
    func finish() throws {
        queue.close()
        join?()
        join = nil
        try throwIfFailed()
    }

    /// Drops the shards still waiting and waits for the thread (the caller failed).
    func discard() {
        lock.withLock { failure = failure ?? CancellationError() }
        try? finish()
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
    /// Spares kept at most: as many as can be in use at once (queued, encoding, being filled);
    /// batches handed over from pass 1's kept documents, beyond these, are freed.
    private let maxSpares: Int
    private var join: (() -> Void)?

    /// `memoryBudget`: the encoders' word caches share half of it (see `cachedWords`).
    init(tokenizer: Tokenizer, threads: Int, memoryBudget: Int, writer: SplitWriters) {
        let workers = max(1, threads)
        self.writer = writer
        queue = BoundedQueue(capacity: 2 * workers)
        maxSpares = 3 * workers + 2
        let slots = Self.cachedWords(memoryBudget: memoryBudget, threads: workers)
        let encoders = UncheckedSendable((0..<workers).map { _ in tokenizer.makeEncoder(cachedWords: slots) })
        let eot = tokenizer.eotId
        join = startThreads(workers, name: "encode") { [self] w in
            while let (sequence, batch) = queue.pop() {
                let out = takeOutput()
                if !hasFailed { out.encode(batch, with: encoders.value[w], eot: eot) }
                deliver(sequence, batch, out)
            }
        }
    }

    /// The most pieces each encoder caches: half the memory budget among the threads, 32 bytes a
    /// piece, rounded down to a power of two, between 64K and 8M (256 MiB). At 10 GB of text
    /// (17 M distinct words) every piece missed costs a merge, about ten times a cached one, and
    /// the pass has the budget to itself (the counts and the trainer are gone).
    static func cachedWords(memoryBudget: Int, threads: Int) -> Int {
        let fit = memoryBudget / 2 / max(1, threads) / 32
        var slots = 1 << 16
        while slots * 2 <= min(fit, 1 << 23) { slots *= 2 }
        return slots
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
            if spareBatches.count < maxSpares {
                batch.removeAll()
                spareBatches.append(batch)
            }
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

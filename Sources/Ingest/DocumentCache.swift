// The documents pass 1 read, kept for pass 2 while they fit in an eighth of the memory budget:
// pass 2 then encodes them from memory instead of reading the sources again. Reading again costs
// a second decompression of an archive (`xz -dc` of the 52 MB of `bench/ingest.sh` takes 0.7 s,
// the folder's whole encode pass 0.4 s) and a second parse, validation and deduplication of every
// document. A corpus past the limit drops the cache the moment it stops
// fitting and is read twice, as before: memory stays within the budget, and the count tables and
// the trainer are told of the bytes held (their budgets give way while the cache lives).
import Foundation

final class DocumentCache {
    /// Bytes the kept batches may take (their arrays' capacities).
    let limit: Int
    private(set) var batches: [DocumentBatch] = []
    private(set) var bytes = 0
    /// The document bytes kept (for the progress of pass 2).
    private(set) var documentBytes: Int64 = 0
    /// The documents did not fit (or the trainer needed the memory): pass 2 reads the sources.
    private(set) var isDropped = false

    /// `limit`: an eighth of the memory budget by default (IngestPipeline): the count tables
    /// have three quarters of it, and at 1 GiB an eighth holds a corpus of some 120 MB.
    init(limit: Int) { self.limit = limit }

    /// Keeps `batch` (which no one changes any more), or drops everything once it would not fit.
    func keep(_ batch: DocumentBatch) {
        guard !isDropped, batch.count > 0 else { return }
        let size = batch.memoryBytes
        if bytes + size > limit {
            drop()
            return
        }
        batches.append(batch)
        bytes += size
        documentBytes += Int64(batch.bytes.count)
    }

    func drop() {
        batches = []
        bytes = 0
        documentBytes = 0
        isDropped = true
    }

    /// The batches in order, handed over once: the cache keeps none of them, so each is freed as
    /// soon as pass 2 has written it.
    func take() -> [DocumentBatch] {
        defer { drop() }
        return batches
    }
}

extension DocumentBatch {
    /// The memory its arrays hold.
    var memoryBytes: Int {
        bytes.capacity + ends.capacity * MemoryLayout<Int>.stride + isValidation.capacity
    }
}

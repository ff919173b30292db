// Counts the GPT-2 pre-token words of documents that stream through it. Memory grows with the
// number of distinct words, never with the corpus: documents are split and dropped at once.
// Counting runs on several cores by giving each thread its own counter and merging them
// (`WordCounter.count`), the map-reduce HF tokenizers does with rayon.
//
// With a `SpillArea`, memory is bounded too: a counter whose table would grow past the area's
// budget writes it to a run file of hash partitions and starts afresh; `combine` then merges the
// runs partition by partition into one file of exact counts, which `forEachWord` streams to the
// trainer (WordSpill.swift). The counts are exactly those of the in-memory path.
import Basics
import Synchronization

/// Distinct pre-token words (raw bytes) with how often each occurred.
public final class WordCounter: @unchecked Sendable {
    private(set) var table = ByteKeyTable(capacity: 1 << 14)
    /// Where this counter spills past its budget; nil: it never spills.
    public let spillArea: SpillArea?
    /// Run files written by this counter, not yet combined.
    private var runs: [WordFile] = []
    /// When combined from spill files: the files of exact counts (each a range of partitions),
    /// and their totals.
    private var combined: (files: [WordFile], unique: Int, total: Int64, bytes: Int)?
    /// The first spill failure; the counter stops counting after it.
    private var failure: Error?
    /// The pieces being counted (`add(document:)`).
    private let group = UnsafeMutablePointer<(start: Int, length: Int, hash: UInt64, prefix: UInt64)>.allocate(
        capacity: WordCounter.groupSize)
    static let groupSize = 32

    public init() { spillArea = nil }

    deinit { group.deallocate() }

    /// A counter that spills to `area` when its table would pass `area.tableLimit` bytes.
    public init(spillingTo area: SpillArea) { spillArea = area }

    /// Splits one document's UTF-8 bytes into pre-tokens and counts them.
    /// Call from one thread at a time per counter.
    public func add(document: UnsafeRawBufferPointer) {
        guard let base = document.baseAddress else { return }
        if spillArea != nil {
            guard failure == nil, combined == nil else { return noteReadOnly() }
        }
        let limit = spillArea?.tableLimit ?? Int.max
        let group = self.group
        var pending = 0
        PreTokenizer.forEachPiece(document) { start, end in
            group[pending] = (start, end - start, 0, 0)
            pending += 1
            if pending == WordCounter.groupSize {
                addGroup(base, pending, limit: limit)
                pending = 0
            }
        }
        addGroup(base, pending, limit: limit)
    }

    /// Counts the `count` pieces of the group: first every piece's hash, with the first slot it
    /// probes prefetched (the table is far larger than the CPU's caches: the misses overlap), then
    /// the arena bytes of the long pieces found there, then each piece, spilling the table first
    /// if it would pass `limit` bytes.
    @inline(__always)
    private func addGroup(_ base: UnsafeRawPointer, _ count: Int, limit: Int) {
        for j in 0..<count {
            let (h, prefix) = hashKey(base + group[j].start, group[j].length)
            group[j].hash = h
            group[j].prefix = prefix
            table.touch(h)
        }
        for j in 0..<count { table.touchKey(group[j].hash, group[j].length) }
        for j in 0..<count {
            let piece = group[j]
            if limit != Int.max && table.bytesAfterInsert(piece.length) > limit { spill() }
            table.add(base + piece.start, piece.length, 1, hash: piece.hash, prefix: piece.prefix)
        }
    }

    /// Counts the words of a string (convenience for tests and tools).
    public func add(text: String) {
        var text = text
        text.withUTF8 { add(document: UnsafeRawBufferPointer($0)) }
    }

    /// Adds `count` occurrences of one already split word.
    public func add(word: UnsafeRawBufferPointer, count: Int64) {
        guard let base = word.baseAddress else { return }
        if let limit = spillArea?.tableLimit {
            guard failure == nil, combined == nil else { return noteReadOnly() }
            if table.bytesAfterInsert(word.count) > limit { spill() }
        }
        table.add(base, word.count, count)
    }

    /// Adds every count of `other` into this counter (`other` is left unchanged).
    public func merge(_ other: WordCounter) {
        other.forEachWord { word, count in add(word: word, count: count) }
    }

    /// Number of distinct words seen.
    public var uniqueWords: Int { combined?.unique ?? table.count }

    /// Total number of words seen.
    public var totalWords: Int64 {
        if let combined { return combined.total }
        var total: Int64 = 0
        table.forEach { total += $1 }
        return total
    }

    /// Bytes of all distinct words together.
    public var wordBytes: Int { combined?.bytes ?? table.arenaCount }

    /// True when the words are read back from a spill file rather than held in memory.
    public var isSpilled: Bool { combined != nil }

    /// Calls `body(word, count)` for every distinct word, in no particular order. A counter
    /// combined from spill files reads them back here; if that fails, it stops early and
    /// `throwIfFailed()` throws why.
    public func forEachWord(_ body: (UnsafeRawBufferPointer, Int64) -> Void) {
        guard let files = combined?.files else { return table.forEach(body) }
        var buffer: [UInt8] = []
        do {
            for file in files {
                for p in file.sections.indices { try file.forEachEntry(p, buffer: &buffer, body) }
            }
        } catch {
            record(error)
        }
    }

    /// Throws the first failure to spill or to read spilled words back, if any.
    public func throwIfFailed() throws {
        if let failure { throw failure }
    }

    /// Counts `documentCount` documents on `threads` threads, one counter per thread, merged at
    /// the end. `withDocument(i, body)` must call `body` with the bytes of document i (it may
    /// read the document from disk and drop it afterwards); it is called from worker threads.
    public static func count(
        documentCount: Int, threads: Int = Parallelism.defaultThreads,
        withDocument: (Int, (UnsafeRawBufferPointer) -> Void) -> Void
    ) -> WordCounter {
        let workers = max(1, min(threads, documentCount))
        let counters = (0..<workers).map { _ in WordCounter() }
        let next = Atomic<Int>(0)
        parallelFor(workers, threads: workers) { worker in
            let counter = counters[worker]
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if i >= documentCount { break }
                withDocument(i) { counter.add(document: $0) }
            }
        }
        let total = counters[0]
        for other in counters.dropFirst() { total.merge(other) }
        return total
    }

    // MARK: - Spilling

    private func record(_ error: Error) {
        if failure == nil { failure = error }
        spillArea?.markFailed()
    }

    private func noteReadOnly() {
        if combined != nil { record(WordSpillError.readOnlyCounter) }
    }

    /// Writes the table to a new run file and empties it, keeping its memory for the next run
    /// when that leaves the next run at least half the limit (not after a word longer than the
    /// budget grew the arena: the next run would spill at every word, one file each).
    /// On failure the words are dropped and the failure recorded: the count cannot be finished.
    private func spill() {
        guard let area = spillArea, table.count > 0 else { return }
        do {
            runs.append(try table.writeRun(to: area))
        } catch {
            record(error)
        }
        table.removeAll(keepingAtMost: area.tableLimit / 2)
    }

    /// Frees the table's memory.
    private func releaseTable() { table = ByteKeyTable(capacity: 16) }

    /// Forgets the words held in memory and frees their table (the trainer's `releasingCounts`,
    /// once it has copied them); a counter read back from spill files keeps its files.
    func releaseWords() {
        guard combined == nil else { return }
        releaseTable()
    }

    /// One counter with the counts of all `counters` (which are emptied). If none spilled and
    /// their tables take at most a quarter of their budget, they are merged in memory; otherwise
    /// every table is spilled and the runs are merged partition by partition, on `threads`
    /// threads (each a range of partitions, into a file of its own), so memory stays within one
    /// table's budget, and the tables' memory is free again for the trainer, which reads the
    /// words back from the files. Throws the first failure of any counter.
    public static func combine(_ counters: [WordCounter], threads: Int = 1) throws -> WordCounter {
        guard let first = counters.first else { return WordCounter() }
        for c in counters { try c.throwIfFailed() }
        guard let area = first.spillArea else {
            for other in counters.dropFirst() { first.merge(other) }
            return first
        }
        let tableBytes = counters.reduce(0) { $0 + $1.table.memoryBytes }
        if counters.allSatisfy({ $0.runs.isEmpty }) && tableBytes * 4 <= area.tableLimit * counters.count {
            for other in counters.dropFirst() {
                other.table.forEach { word, count in first.table.add(word.baseAddress!, word.count, count) }
                other.releaseTable()
            }
            return first
        }
        parallelFor(counters.count, threads: threads) { i in
            counters[i].spill()
            counters[i].releaseTable()
        }
        for c in counters { try c.throwIfFailed() }
        let runs = counters.flatMap(\.runs)
        for c in counters { c.runs = [] }
        defer { for r in runs { r.remove() } }
        let ranges = Self.partitionRanges(area.partitions, max(1, threads))
        let merged = ResultSlots<Result<Merged, Error>>(count: ranges.count)
        parallelFor(ranges.count, threads: ranges.count) { i in
            merged[i] = Result { try mergeRuns(runs, partitions: ranges[i], area: area) }
        }
        let results = merged.values.map { $0! }
        if case .failure(let error) = results.first(where: { if case .failure = $0 { true } else { false } }) {
            for case .success(let part) in results { part.file.remove() }
            throw error
        }
        let parts = results.map { try! $0.get() }
        let result = WordCounter(spillingTo: area)
        result.combined = (
            parts.map(\.file), parts.reduce(0) { $0 + $1.unique }, parts.reduce(0) { $0 &+ $1.total },
            parts.reduce(0) { $0 + $1.bytes }
        )
        return result
    }

    /// `partitions` split into `count` contiguous ranges of nearly equal size.
    static func partitionRanges(_ partitions: Int, _ count: Int) -> [Range<Int>] {
        let n = min(count, partitions)
        return (0..<n).map { i in (i * partitions / n)..<((i + 1) * partitions / n) }
    }

    typealias Merged = (file: WordFile, unique: Int, total: Int64, bytes: Int)

    /// Merges the `partitions` of the run files into one file of exact counts.
    private static func mergeRuns(_ runs: [WordFile], partitions: Range<Int>, area: SpillArea) throws -> Merged {
        let writer = try WordFileWriter(area: area, kind: "merged")
        let table = ByteKeyTable(capacity: 1 << 12)
        var buffer: [UInt8] = []
        var unique = 0
        var total: Int64 = 0
        var bytes = 0
        do {
            for p in partitions {
                table.removeAll()
                for run in runs {
                    try run.forEachEntry(p, buffer: &buffer) { word, count in
                        table.add(word.baseAddress!, word.count, count)
                    }
                }
                writer.beginSection()
                table.forEach { word, count in
                    writer.append(word, count)
                    total &+= count
                    bytes += word.count
                }
                unique += table.count
                try writer.endSection()
            }
            let file = try writer.finish()
            return (file, unique, total, bytes)
        } catch {
            writer.discard()
            area.markFailed()
            throw error
        }
    }
}

extension ByteKeyTable {
    /// Bytes the slots and the word arena take.
    var memoryBytes: Int { capacity * MemoryLayout<Slot>.stride + arenaCapacity }

    /// The most memory the table holds while inserting a new word of `length` bytes: the slots
    /// and arena as they are, or, when the insert makes one of them grow, the old and the new
    /// one together for a moment.
    @inline(__always)
    func bytesAfterInsert(_ length: Int) -> Int {
        var slotBytes = capacity * MemoryLayout<Slot>.stride
        if (count + 1) * 2 > capacity { slotBytes *= 3 }
        var arenaBytes = arenaCapacity
        if arenaCount + length > arenaCapacity { arenaBytes = 3 * max(arenaCapacity, arenaCount + length) }
        return slotBytes + arenaBytes + count * 4
    }

    /// Writes every entry into a new run file of `area`, grouped by hash partition.
    func writeRun(to area: SpillArea) throws -> WordFile {
        let partitions = area.partitions
        let mask = UInt64(partitions - 1)
        // Counting sort of the occupied slots by partition (the high half of the hash, which the
        // slot index does not use).
        var starts = [Int](repeating: 0, count: partitions + 1)
        for i in 0..<capacity where slots[i].meta != 0 { starts[Int((slots[i].meta >> 32) & mask) + 1] += 1 }
        for p in 0..<partitions { starts[p + 1] += starts[p] }
        var order = [Int32](repeating: 0, count: count)
        var next = starts
        for i in 0..<capacity where slots[i].meta != 0 {
            let p = Int((slots[i].meta >> 32) & mask)
            order[next[p]] = Int32(i)
            next[p] += 1
        }
        let writer = try WordFileWriter(area: area, kind: "run")
        for p in 0..<partitions {
            writer.beginSection()
            for k in starts[p]..<starts[p + 1] {
                let s = slots[Int(order[k])]
                let length = Int(truncatingIfNeeded: s.meta & 0x7FFF_FFFF)
                writer.append(UnsafeRawBufferPointer(start: arena + s.offset, count: length), s.value)
            }
            try writer.endSection()
        }
        return try writer.finish()
    }
}

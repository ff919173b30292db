// Encoding: GPT-2 pre-tokenization, then per piece the rank-greedy BPE of HF's `Word::merge_all`
// and tiktoken's `_byte_pair_merge`: repeatedly merge the adjacent pair with the lowest merge
// rank, the leftmost one on ties. Short pieces use an O(n^2) scan over small buffers (fast for
// words); long pieces (runs of one character class can be megabytes) use a linked list and a
// min-heap, O(n log n). Each encoder caches the tokens of the pieces it has seen: pieces of up to
// 16 bytes in a `WordCache` (keyed by the bytes themselves), longer ones in a `ByteKeyTable`.
// Pieces go through in groups: the cache buckets of a whole group are prefetched first, so on text
// with millions of distinct words (a cache far larger than the CPU's) their memory latencies
// overlap instead of adding up. Ids are staged in a buffer of the encoder and appended to the
// caller's array in blocks.
import Basics
import Synchronization

/// Encodes text with one tokenizer; not thread-safe, make one per thread.
public final class Encoder {
    public let tokenizer: Tokenizer
    private let words: WordCache
    private let longWords = ByteKeyTable(capacity: 1 << 8)
    /// Past this many cached long pieces their cache is emptied (bounds memory).
    private let maxLongWords: Int
    private var longTokens: [UInt32] = []
    private(set) var scratch: [UInt32] = []
    /// The rank of the merge of two bytes' base ids, at first byte << 8 | second: the first round
    /// of `mergeByScan` reads it instead of the rank table (128 KB against 16 bytes a merge,
    /// and no hashing). `Encoder.noMerge`: none; `Encoder.largeRank`: in the rank table.
    private let byteRanks: UnsafeMutablePointer<UInt16>
    /// The ids and pair ranks of the piece being merged by `mergeByScan`.
    private let parts: UnsafeMutablePointer<UInt32>
    private let ranks: UnsafeMutablePointer<Int32>
    /// Ids waiting to be appended to the caller's array.
    private let staged: UnsafeMutablePointer<UInt32>
    /// The group of pieces being encoded: bounds, and the cache key and hash of the short ones.
    private let pieceStarts: UnsafeMutablePointer<Int>
    private let pieceEnds: UnsafeMutablePointer<Int>
    private let keys: UnsafeMutablePointer<(lo: UInt64, hi: UInt64, hash: UInt64)>

    /// Pieces longer than this many bytes are not cached; they are rare and would crowd it.
    static let maxCachedPiece = 128
    /// Pieces longer than this many bytes take the heap path.
    static let heapThreshold = 96
    /// Capacity of the staging buffer, in ids.
    static let stagedCapacity = 1 << 14
    /// Pieces per group.
    static let group = 32
    /// `byteRanks` of two bytes that do not merge.
    static let noMerge = UInt16.max
    /// `byteRanks` of two bytes whose rank is this or more (looked up in the rank table).
    static let largeRank = UInt16.max - 1

    /// An encoder whose short-piece cache holds up to `cachedWords` pieces (32 bytes each,
    /// then replacing pieces) and whose long-piece cache empties itself past `cachedLongWords`
    /// pieces (about 200 bytes each). `narrowIds` (tests) overrides how short-piece ids are
    /// stored: 16 bits each when the vocabulary allows.
    init(
        _ tokenizer: Tokenizer, cachedWords: Int = 1 << 21, cachedLongWords: Int = 1 << 16, narrowIds: Bool? = nil
    ) {
        self.tokenizer = tokenizer
        words = WordCache(maxCapacity: cachedWords, narrow: narrowIds ?? (tokenizer.vocabSize <= 1 << 16))
        maxLongWords = cachedLongWords
        byteRanks = Encoder.byteRanks(tokenizer.merges)
        parts = .allocate(capacity: Encoder.heapThreshold)
        ranks = .allocate(capacity: Encoder.heapThreshold)
        staged = .allocate(capacity: Encoder.stagedCapacity)
        pieceStarts = .allocate(capacity: Encoder.group)
        pieceEnds = .allocate(capacity: Encoder.group)
        keys = .allocate(capacity: Encoder.group)
    }

    deinit {
        byteRanks.deallocate()
        parts.deallocate()
        ranks.deallocate()
        staged.deallocate()
        pieceStarts.deallocate()
        pieceEnds.deallocate()
        keys.deallocate()
    }

    /// The table of `byteRanks` for `merges` (merge i has rank i; a pair listed twice keeps its
    /// first rank, as in `RankTable`).
    private static func byteRanks(_ merges: [(UInt32, UInt32)]) -> UnsafeMutablePointer<UInt16> {
        let table = UnsafeMutablePointer<UInt16>.allocate(capacity: 1 << 16)
        table.initialize(repeating: noMerge, count: 1 << 16)
        let byteOfId = ByteLevel.byteOfId
        for (rank, (left, right)) in merges.enumerated() where left < 256 && right < 256 {
            let at = Int(byteOfId[Int(left)]) << 8 | Int(byteOfId[Int(right)])
            if table[at] == noMerge { table[at] = UInt16(min(rank, Int(largeRank))) }
        }
        return table
    }

    /// Appends the ids of `bytes` (plain text: "<|endoftext|>" in it is not special).
    public func encode(_ bytes: UnsafeRawBufferPointer, into ids: inout [UInt32]) {
        guard let base = bytes.baseAddress else { return }
        var k = 0
        var pending = 0
        let (starts, ends) = (pieceStarts, pieceEnds)
        ByteLevel.idOfByte.withUnsafeBufferPointer { idOfByte in
            PreTokenizer.forEachPiece(bytes) { start, end in
                starts[pending] = start
                ends[pending] = end
                pending += 1
                if pending == Encoder.group {
                    encodeGroup(base, bytes.count, pending, idOfByte, &k, &ids)
                    pending = 0
                }
            }
            encodeGroup(base, bytes.count, pending, idOfByte, &k, &ids)
        }
        ids.append(contentsOf: UnsafeBufferPointer(start: staged, count: k))
    }

    /// Encodes the `count` pieces of the group into the staging buffer (`k` ids in it so far):
    /// first every short piece's key, with its cache bucket prefetched, then each piece in order.
    @inline(__always)
    private func encodeGroup(
        _ base: UnsafeRawPointer, _ n: Int, _ count: Int, _ idOfByte: UnsafeBufferPointer<UInt32>, _ k: inout Int,
        _ ids: inout [UInt32]
    ) {
        for j in 0..<count {
            let length = pieceEnds[j] - pieceStarts[j]
            guard length > 1 && length <= WordCache.maxLength else { continue }
            let (lo, hi) = WordCache.key(base + pieceStarts[j], length, available: n - pieceStarts[j])
            let hash = WordCache.hash(lo, hi, length)
            keys[j] = (lo, hi, hash)
            words.touch(hash)
        }
        for j in 0..<count {
            let length = pieceEnds[j] - pieceStarts[j]
            // A piece of `length` bytes has at most `length` ids (plus slack for copyIds).
            if k + length + WordCache.inlineIds > Encoder.stagedCapacity {
                ids.append(contentsOf: UnsafeBufferPointer(start: staged, count: k))
                k = 0
            }
            let p = base + pieceStarts[j]
            if length == 1 {
                staged[k] = idOfByte[Int(p.load(as: UInt8.self))]
                k += 1
            } else if length <= WordCache.maxLength {
                let (lo, hi, hash) = keys[j]
                let found = words.find(lo, hi, length, hash: hash)
                if found >= 0 {
                    k += words.copyIds(found, to: staged + k)
                } else {
                    let count = mergeByScan(p, length, idOfByte)
                    words.insert(lo, hi, length, hash: hash, ids: parts, count)
                    (staged + k).update(from: parts, count: count)
                    k += count
                }
            } else if length <= Encoder.stagedCapacity - WordCache.inlineIds {
                k += encodeLongPiece(p, length, into: staged + k)
            } else {
                ids.append(contentsOf: UnsafeBufferPointer(start: staged, count: k))
                k = 0
                mergePiece(p, length)
                ids.append(contentsOf: scratch)
            }
        }
    }

    /// Writes the ids of a piece longer than `WordCache.maxLength` at `out` (room for `length`
    /// ids), through the long-piece cache; returns how many.
    private func encodeLongPiece(_ p: UnsafeRawPointer, _ length: Int, into out: UnsafeMutablePointer<UInt32>)
        -> Int
    {
        guard length <= Encoder.maxCachedPiece else {
            mergePiece(p, length)
            scratch.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: $0.count) }
            return scratch.count
        }
        let (h, prefix) = hashKey(p, length)
        let found = longWords.probe(p, length, hash: h, prefix: prefix)
        if found >= 0 {
            let value = longWords.slots[found].value
            let offset = Int(value >> 16)
            let count = Int(value & 0xFFFF)
            longTokens.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + offset, count: count) }
            return count
        }
        mergePiece(p, length)
        let value = Int64(longTokens.count) << 16 | Int64(scratch.count)
        if longWords.count >= maxLongWords {
            longWords.removeAll()
            longTokens.removeAll(keepingCapacity: true)
            longWords.add(p, length, Int64(scratch.count))
        } else {
            longWords.insert(p, length, value, hash: h, prefix: prefix, slot: -found - 1)
        }
        longTokens.append(contentsOf: scratch)
        scratch.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: $0.count) }
        return scratch.count
    }

    /// Runs BPE on the bytes of one piece, leaving the ids in `scratch`.
    func mergePiece(_ p: UnsafeRawPointer, _ length: Int, forceHeap: Bool = false) {
        scratch.removeAll(keepingCapacity: true)
        if length <= Encoder.heapThreshold && !forceHeap {
            let count = ByteLevel.idOfByte.withUnsafeBufferPointer { mergeByScan(p, length, $0) }
            scratch.append(contentsOf: UnsafeBufferPointer(start: parts, count: count))
            return
        }
        let idOfByte = ByteLevel.idOfByte
        for i in 0..<length { scratch.append(idOfByte[Int(p.load(fromByteOffset: i, as: UInt8.self))]) }
        mergeWithHeap()
    }

    /// O(n^2) rank-greedy merging of the bytes of a piece of at most `heapThreshold` bytes;
    /// leaves the ids in `parts` and returns how many.
    @inline(__always)
    private func mergeByScan(_ p: UnsafeRawPointer, _ length: Int, _ idOfByte: UnsafeBufferPointer<UInt32>)
        -> Int
    {
        let table = tokenizer.mergeRanks
        let parts = self.parts
        let ranks = self.ranks
        let none = Int32.max
        let bytes = p.assumingMemoryBound(to: UInt8.self)
        for i in 0..<length { parts[i] = idOfByte[Int(bytes[i])] }
        var m = length
        for i in 0..<(m - 1) {
            let r = byteRanks[Int(bytes[i]) << 8 | Int(bytes[i + 1])]
            if r < Encoder.largeRank {
                ranks[i] = Int32(r)
            } else if r == Encoder.noMerge {
                ranks[i] = none
            } else {
                let r = table.rank(parts[i], parts[i + 1])
                ranks[i] = r < 0 ? none : r
            }
        }
        while m > 1 {
            var best = none
            var at = -1
            for i in 0..<(m - 1) where ranks[i] < best {
                best = ranks[i]
                at = i
            }
            if at < 0 { break }
            parts[at] = UInt32(256 + Int(best))
            m -= 1
            for i in (at + 1)..<m { parts[i] = parts[i + 1] }
            for i in at..<(m - 1) { ranks[i] = ranks[i + 1] }
            if at < m - 1 {
                let r = table.rank(parts[at], parts[at + 1])
                ranks[at] = r < 0 ? none : r
            }
            if at > 0 {
                let r = table.rank(parts[at - 1], parts[at])
                ranks[at - 1] = r < 0 ? none : r
            }
        }
        return m
    }

    /// O(n log n) rank-greedy merging of `scratch` with a linked list and a (rank, position)
    /// min-heap; stale heap entries are skipped when popped (HF's `Word::merge_all`).
    private func mergeWithHeap() {
        let table = tokenizer.mergeRanks
        let n = scratch.count
        var next = [Int](1...n)
        var prev = [Int](-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        var heap = MinHeap()
        for i in 0..<(n - 1) {
            let r = table.rank(scratch[i], scratch[i + 1])
            if r >= 0 { heap.push(UInt64(r) << 32 | UInt64(i)) }
        }
        while let top = heap.pop() {
            let rank = Int32(truncatingIfNeeded: top >> 32)
            let i = Int(truncatingIfNeeded: top & 0xFFFF_FFFF)
            let j = next[i]
            guard alive[i], j < n, table.rank(scratch[i], scratch[j]) == rank else {
                continue
            }
            scratch[i] = UInt32(256 + Int(rank))
            alive[j] = false
            next[i] = next[j]
            if next[j] < n { prev[next[j]] = i }
            if prev[i] >= 0 {
                let r = table.rank(scratch[prev[i]], scratch[i])
                if r >= 0 { heap.push(UInt64(r) << 32 | UInt64(prev[i])) }
            }
            if next[i] < n {
                let r = table.rank(scratch[i], scratch[next[i]])
                if r >= 0 { heap.push(UInt64(r) << 32 | UInt64(i)) }
            }
        }
        var write = 0
        for i in 0..<n where alive[i] {
            scratch[write] = scratch[i]
            write += 1
        }
        scratch.removeLast(n - write)
    }
}

extension Tokenizer {
    /// A new encoder whose short-piece cache grows to at most `cachedWords` pieces (32 bytes
    /// each): more than `makeEncoder()`'s 2M for text of many millions of distinct words.
    public func makeEncoder(cachedWords: Int) -> Encoder { Encoder(self, cachedWords: cachedWords) }
}

/// A binary min-heap of packed (rank << 32 | position) keys.
private struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(_ item: UInt64) {
        items.append(item)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i] < items[parent] else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        items[0] = last
        var i = 0
        while true {
            let left = 2 * i + 1
            if left >= items.count { break }
            var best = left
            if left + 1 < items.count && items[left + 1] < items[left] { best = left + 1 }
            guard items[best] < items[i] else { break }
            items.swapAt(i, best)
            i = best
        }
        return top
    }
}

/// Encodes many documents on `threads` threads, as ingest runs the encoder: one encoder and one
/// reused id buffer per thread, so no memory is allocated per document once the buffer has grown.
/// `withDocument(i, body)` must call `body` with document i's bytes; `consume(i, ids)` sees
/// document i's ids on the thread that encoded them (documents in no particular order) and must
/// not keep the buffer.
public func forEachEncodedDocument(
    _ tokenizer: Tokenizer, count: Int, threads: Int = Parallelism.defaultThreads,
    withDocument: (Int, (UnsafeRawBufferPointer) -> Void) -> Void,
    consume: (Int, UnsafeBufferPointer<UInt32>) -> Void
) {
    let workers = max(1, min(threads, count))
    let next = Atomic<Int>(0)
    parallelFor(workers, threads: workers) { _ in
        let encoder = tokenizer.makeEncoder()
        var ids: [UInt32] = []
        while true {
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= count { break }
            ids.removeAll(keepingCapacity: true)
            withDocument(i) { encoder.encode($0, into: &ids) }
            ids.withUnsafeBufferPointer { consume(i, $0) }
        }
    }
}

/// Encodes many documents on `threads` threads, one encoder per thread; `result[i]` holds the
/// ids of document i. `withDocument(i, body)` must call `body` with document i's bytes.
public func encodeDocuments(
    _ tokenizer: Tokenizer, count: Int, threads: Int = Parallelism.defaultThreads,
    withDocument: (Int, (UnsafeRawBufferPointer) -> Void) -> Void
) -> [[UInt32]] {
    let results = ResultSlots<[UInt32]>(count: count)
    forEachEncodedDocument(tokenizer, count: count, threads: threads, withDocument: withDocument) { i, ids in
        results[i] = Array(ids)
    }
    return results.values.map { $0 ?? [] }
}

/// Encodes in-memory documents on `threads` threads, order preserved.
public func encodeDocuments(
    _ tokenizer: Tokenizer, _ documents: [[UInt8]], threads: Int = Parallelism.defaultThreads
) -> [[UInt32]] {
    encodeDocuments(tokenizer, count: documents.count, threads: threads) { i, body in
        documents[i].withUnsafeBytes { body($0) }
    }
}

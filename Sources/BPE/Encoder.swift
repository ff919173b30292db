// Encoding: GPT-2 pre-tokenization, then per piece the rank-greedy BPE of HF's `Word::merge_all`
// and tiktoken's `_byte_pair_merge`: repeatedly merge the adjacent pair with the lowest merge
// rank, the leftmost one on ties. Short pieces use an O(n^2) scan over a small array (fast for
// words); long pieces (runs of one character class can be megabytes) use a linked list and a
// min-heap, O(n log n). Each encoder caches the tokens of the words it has seen.
import Basics
import Synchronization

/// Encodes text with one tokenizer; not thread-safe, make one per thread.
public final class Encoder {
    public let tokenizer: Tokenizer
    private let cache = ByteKeyTable(capacity: 1 << 16)
    private var cachedTokens: [UInt32] = []
    private(set) var scratch: [UInt32] = []
    private var ranks: [Int32] = []

    /// Pieces longer than this many bytes are not cached; they are rare and would crowd it.
    static let maxCachedPiece = 128
    /// Past this many cached words the cache is emptied (bounds memory on endless input).
    static let maxCachedWords = 1 << 20
    /// Pieces longer than this many bytes take the heap path.
    static let heapThreshold = 96

    init(_ tokenizer: Tokenizer) { self.tokenizer = tokenizer }

    /// Appends the ids of `bytes` (plain text: "<|endoftext|>" in it is not special).
    public func encode(_ bytes: UnsafeRawBufferPointer, into ids: inout [UInt32]) {
        guard let base = bytes.baseAddress else { return }
        let idOfByte = ByteLevel.idOfByte
        PreTokenizer.forEachPiece(bytes) { start, end in
            let length = end - start
            if length == 1 {
                ids.append(idOfByte[Int(base.load(fromByteOffset: start, as: UInt8.self))])
            } else {
                encodePiece(base + start, length, into: &ids)
            }
        }
    }

    /// Appends the ids of one pre-token piece, through the cache.
    @inline(__always)
    private func encodePiece(_ p: UnsafeRawPointer, _ length: Int, into ids: inout [UInt32]) {
        guard length <= Encoder.maxCachedPiece else {
            mergePiece(p, length)
            ids.append(contentsOf: scratch)
            return
        }
        let (h, prefix) = hashKey(p, length)
        let found = cache.probe(p, length, hash: h, prefix: prefix)
        if found >= 0 {
            let value = cache.slots[found].value
            let offset = Int(value >> 16)
            let count = Int(value & 0xFFFF)
            cachedTokens.withUnsafeBufferPointer { ids.append(contentsOf: $0[offset..<offset + count]) }
            return
        }
        mergePiece(p, length)
        ids.append(contentsOf: scratch)
        if cache.count >= Encoder.maxCachedWords {
            cache.removeAll()
            cachedTokens.removeAll(keepingCapacity: true)
            cache.add(p, length, Int64(cachedTokens.count) << 16 | Int64(scratch.count))
        } else {
            cache.insert(
                p, length, Int64(cachedTokens.count) << 16 | Int64(scratch.count), hash: h,
                prefix: prefix, slot: -found - 1)
        }
        cachedTokens.append(contentsOf: scratch)
    }

    /// Runs BPE on the bytes of one piece, leaving the ids in `scratch`.
    func mergePiece(_ p: UnsafeRawPointer, _ length: Int, forceHeap: Bool = false) {
        scratch.removeAll(keepingCapacity: true)
        let idOfByte = ByteLevel.idOfByte
        for i in 0..<length { scratch.append(idOfByte[Int(p.load(fromByteOffset: i, as: UInt8.self))]) }
        if length > Encoder.heapThreshold || forceHeap {
            mergeWithHeap()
        } else {
            mergeByScan()
        }
    }

    /// O(n^2) rank-greedy merging of `scratch` in place.
    private func mergeByScan() {
        let table = tokenizer.mergeRanks
        let none = Int32.max
        ranks.removeAll(keepingCapacity: true)
        for i in 0..<(scratch.count - 1) {
            let r = table.get(pairKey(scratch[i], scratch[i + 1]))
            ranks.append(r < 0 ? none : r)
        }
        while true {
            var best = none
            var at = -1
            for i in 0..<ranks.count where ranks[i] < best {
                best = ranks[i]
                at = i
            }
            if at < 0 { return }
            scratch[at] = UInt32(256 + Int(best))
            scratch.remove(at: at + 1)
            ranks.remove(at: at)
            if at < ranks.count {
                let r = table.get(pairKey(scratch[at], scratch[at + 1]))
                ranks[at] = r < 0 ? none : r
            }
            if at > 0 {
                let r = table.get(pairKey(scratch[at - 1], scratch[at]))
                ranks[at - 1] = r < 0 ? none : r
            }
        }
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
            let r = table.get(pairKey(scratch[i], scratch[i + 1]))
            if r >= 0 { heap.push(UInt64(r) << 32 | UInt64(i)) }
        }
        while let top = heap.pop() {
            let rank = Int32(truncatingIfNeeded: top >> 32)
            let i = Int(truncatingIfNeeded: top & 0xFFFF_FFFF)
            let j = next[i]
            guard alive[i], j < n, table.get(pairKey(scratch[i], scratch[j])) == rank else {
                continue
            }
            scratch[i] = UInt32(256 + Int(rank))
            alive[j] = false
            next[i] = next[j]
            if next[j] < n { prev[next[j]] = i }
            if prev[i] >= 0 {
                let r = table.get(pairKey(scratch[prev[i]], scratch[i]))
                if r >= 0 { heap.push(UInt64(r) << 32 | UInt64(prev[i])) }
            }
            if next[i] < n {
                let r = table.get(pairKey(scratch[i], scratch[next[i]]))
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

/// Encodes many documents on `threads` threads, one encoder per thread; `result[i]` holds the
/// ids of document i. `withDocument(i, body)` must call `body` with document i's bytes.
public func encodeDocuments(
    _ tokenizer: Tokenizer, count: Int, threads: Int = Parallelism.defaultThreads,
    withDocument: (Int, (UnsafeRawBufferPointer) -> Void) -> Void
) -> [[UInt32]] {
    let workers = max(1, min(threads, count))
    let results = ResultSlots<[UInt32]>(count: count)
    let next = Atomic<Int>(0)
    parallelFor(workers, threads: workers) { _ in
        let encoder = tokenizer.makeEncoder()
        while true {
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= count { break }
            var ids: [UInt32] = []
            withDocument(i) { encoder.encode($0, into: &ids) }
            results[i] = ids
        }
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

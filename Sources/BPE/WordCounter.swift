// Counts the GPT-2 pre-token words of documents that stream through it. Memory grows with the
// number of distinct words, never with the corpus: documents are split and dropped at once.
// Counting runs on several cores by giving each thread its own counter and merging them
// (`WordCounter.count`), the map-reduce HF tokenizers does with rayon.
import Basics
import Synchronization

/// Distinct pre-token words (raw bytes) with how often each occurred.
public final class WordCounter: @unchecked Sendable {
    let table = ByteKeyTable(capacity: 1 << 14)

    public init() {}

    /// Splits one document's UTF-8 bytes into pre-tokens and counts them.
    /// Call from one thread at a time per counter.
    public func add(document: UnsafeRawBufferPointer) {
        guard let base = document.baseAddress else { return }
        let table = self.table
        PreTokenizer.forEachPiece(document) { start, end in
            table.add(base + start, end - start, 1)
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
        table.add(base, word.count, count)
    }

    /// Adds every count of `other` into this counter (`other` is left unchanged).
    public func merge(_ other: WordCounter) {
        other.table.forEach { word, count in table.add(word.baseAddress!, word.count, count) }
    }

    /// Number of distinct words seen.
    public var uniqueWords: Int { table.count }

    /// Total number of words seen.
    public var totalWords: Int64 {
        var total: Int64 = 0
        table.forEach { total += $1 }
        return total
    }

    /// Calls `body(word, count)` for every distinct word, in no particular order.
    public func forEachWord(_ body: (UnsafeRawBufferPointer, Int64) -> Void) {
        table.forEach(body)
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
}

// The count's hand-off to the trainer: every counted word of two bytes or more, as byte-level
// token ids in one flat buffer, with its count. A counter held in memory is read on all threads,
// each a contiguous range of its table's slots, into places fixed by the sizes of the ranges
// before it: the words come out in slot order, as one thread reading the table lays them out.
// A counter spilled to disk is read back from its file once, on one thread.
import Basics

/// Where each word starts in the trainer's symbol buffer and how often it occurs, side by side
/// (`entries[2w]`, `entries[2w + 1]`; `entries[2n]` ends the last word), so that a merge step
/// reading a word's start, end and count touches one cache line, not three. Counts take 4
/// bytes: a count of `UInt32.max` or more (a word seen 4 billion times) is `UInt32.max` there
/// and kept whole in `large`.
struct WordIndex {
    let entries: UnsafeMutablePointer<UInt32>
    private(set) var large: [Int: Int64] = [:]

    init(words: Int) { entries = .allocate(capacity: 2 * words + 1) }

    @inline(__always) func start(_ w: Int) -> Int { Int(entries[2 &* w]) }
    @inline(__always) func end(_ w: Int) -> Int { Int(entries[2 &* w &+ 2]) }

    @inline(__always)
    func count(_ w: Int) -> Int64 {
        let c = entries[2 &* w &+ 1]
        return c < .max ? Int64(c) : large[w, default: Int64(c)]
    }

    /// Stores the count of word w in `entries` (the small ones) or in `large`; tells which.
    @inline(__always)
    static func store(_ count: Int64, of w: Int, in entries: UnsafeMutablePointer<UInt32>) -> Bool {
        let small = count < Int64(UInt32.max)
        entries[2 &* w &+ 1] = small ? UInt32(count) : .max
        return small
    }

    mutating func setLarge(_ count: Int64, of w: Int) {
        _ = WordIndex.store(count, of: w, in: entries)
        if count >= Int64(UInt32.max) { large[w] = count }
    }
}

extension MergeLearner {
    /// The words of `counter` that hold a pair (two bytes or more, counted at least once), as
    /// byte-level ids in one buffer, with their index, and how many there are.
    static func loadWords(
        _ counter: WordCounter, threads: Int
    ) -> (symbols: UnsafeMutablePointer<Symbol>, words: WordIndex, n: Int) {
        let parts = counter.isSpilled ? 1 : max(1, min(threads, counter.uniqueWords / 65536))
        // Where each part's words go: one part reads once, into room for every counted word;
        // several parts count their words first, so that each knows where its words start.
        var sizes = [(words: Int, bytes: Int)](repeating: (counter.uniqueWords, counter.wordBytes), count: parts)
        if parts > 1 {
            sizes.withUnsafeMutableBufferPointer { sizes in
                parallelFor(parts, threads: parts) { k in
                    sizes[k] = (0, 0)
                    forEachWord(counter, part: k, of: parts) { word, count in
                        if word.count >= 2 && count > 0 { sizes[k] = (sizes[k].words + 1, sizes[k].bytes + word.count) }
                    }
                }
            }
        }
        let total = sizes.reduce(0) { $0 + $1.bytes }
        precondition(total < Int(UInt32.max), "distinct words beyond 4 GB")
        let symbols = UnsafeMutablePointer<Symbol>.allocate(capacity: max(total, 1))
        var words = WordIndex(words: sizes.reduce(0) { $0 + $1.words })
        let entries = words.entries
        entries[0] = 0
        var large = [[(Int, Int64)]](repeating: [], count: parts)
        var loaded = [Int](repeating: 0, count: parts)
        large.withUnsafeMutableBufferPointer { large in
            loaded.withUnsafeMutableBufferPointer { loaded in
                parallelFor(parts, threads: parts) { k in
                    let idOfByte = ByteLevel.idOfByte
                    var w = sizes[..<k].reduce(0) { $0 + $1.words }
                    var at = sizes[..<k].reduce(0) { $0 + $1.bytes }
                    let first = w
                    forEachWord(counter, part: k, of: parts) { word, count in
                        guard word.count >= 2 && count > 0 else { return }  // a one-byte word holds no pair
                        for b in word {
                            symbols[at] = Symbol(truncatingIfNeeded: idOfByte[Int(b)])
                            at += 1
                        }
                        if !WordIndex.store(count, of: w, in: entries) { large[k].append((w, count)) }
                        w += 1
                        entries[2 * w] = UInt32(at)
                    }
                    loaded[k] = w - first
                }
            }
        }
        for (w, count) in large.joined() { words.setLarge(count, of: w) }
        return (symbols, words, loaded.reduce(0, +))
    }

    /// Calls `body` for the words of part `k` of `parts` of the counter: a range of its table's
    /// slots, or, for one part, every word (from the spill file if the counter spilled).
    private static func forEachWord(
        _ counter: WordCounter, part k: Int, of parts: Int, _ body: (UnsafeRawBufferPointer, Int64) -> Void
    ) {
        if parts == 1 { return counter.forEachWord(body) }
        let table = counter.table
        let (slots, arena) = (table.slots, table.arena)
        for i in table.capacity * k / parts..<table.capacity * (k + 1) / parts where slots[i].meta != 0 {
            let s = slots[i]
            let length = Int(truncatingIfNeeded: s.meta & 0x7FFF_FFFF)
            body(UnsafeRawBufferPointer(start: arena + s.offset, count: length), s.value)
        }
    }
}

// A binary max-heap of merge candidates for the trainer's lazy-refresh loop (as in HF tokenizers
// and rustbpe). Order: higher count first; on equal counts the smaller (left, right) pair first.
// Written here rather than taken from swift-collections to keep the module dependency-free.

/// A candidate merge: a pair (packed as `pairKey`), its slot in the trainer, and a count that
/// may be stale (the trainer re-checks it when the candidate reaches the top).
struct MergeCandidate {
    var count: Int64
    var key: UInt64
    var pair: Int32

    /// True if `self` must be merged before `other`.
    @inline(__always)
    func outranks(_ other: MergeCandidate) -> Bool {
        count != other.count ? count > other.count : key < other.key
    }
}

/// Binary heap whose top is the candidate that outranks all others.
struct PairHeap {
    private var items: [MergeCandidate] = []

    init(_ candidates: [MergeCandidate]) {
        items = candidates
        var i = items.count / 2 - 1
        while i >= 0 {
            siftDown(i)
            i -= 1
        }
    }

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }

    mutating func push(_ candidate: MergeCandidate) {
        items.append(candidate)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].outranks(items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> MergeCandidate? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        items[0] = last
        siftDown(0)
        return top
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        let n = items.count
        while true {
            let left = 2 * i + 1
            if left >= n { return }
            var best = left
            if left + 1 < n && items[left + 1].outranks(items[left]) { best = left + 1 }
            guard items[best].outranks(items[i]) else { return }
            items.swapAt(i, best)
            i = best
        }
    }
}

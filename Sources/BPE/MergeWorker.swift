// One thread's share of a merge step: it rewrites its slice of the words that hold the merged
// pair (left, right) -> new, and notes the changes of the pair counts without touching the
// shared tables: per token, the count lost by (token, left) and (right, token), and the count
// and holders gained by (token, new) and (new, token). Dense per-token arrays (cleared through
// the list of touched tokens) make a step cost what it touches. The trainer folds the workers'
// notes into its tables in worker order, so the result is the same for any number of threads.

/// Per-thread scratch state of a merge step.
struct MergeWorker<Symbol: FixedWidthInteger & UnsignedInteger> {
    /// Count lost by (token, left), by (right, token); tokens with a loss, each listed once.
    private(set) var lostBefore: [Int64]
    private(set) var lostAfter: [Int64]
    private(set) var touchedBefore: [UInt32] = []
    private(set) var touchedAfter: [UInt32] = []
    /// 1 + the local index of (token, new), of (new, token); 0: not seen in this step.
    private var newBefore: [Int32]
    private var newAfter: [Int32]
    /// The new pairs seen, in order of first sight: key, count gained, distinct holders.
    private(set) var newKeys: [UInt64] = []
    private(set) var newCounts: [Int64] = []
    private(set) var newHolders: [Int32] = []
    private var newLast: [UInt32] = []
    /// (local index << 32 | word) for each new pair and word holding it, words ascending.
    private(set) var events: [UInt64] = []
    /// Scratch for the trainer: the group of each local new pair.
    var slots: [Int32] = []

    init(tokenCount: Int) {
        lostBefore = [Int64](repeating: 0, count: tokenCount)
        lostAfter = [Int64](repeating: 0, count: tokenCount)
        newBefore = [Int32](repeating: 0, count: tokenCount)
        newAfter = [Int32](repeating: 0, count: tokenCount)
    }

    /// Forgets the last step's notes (only what it touched).
    mutating func reset(newId: UInt32) {
        for t in touchedBefore { lostBefore[Int(t)] = 0 }
        for t in touchedAfter { lostAfter[Int(t)] = 0 }
        touchedBefore.removeAll(keepingCapacity: true)
        touchedAfter.removeAll(keepingCapacity: true)
        for key in newKeys {
            let (a, b) = (UInt32(truncatingIfNeeded: key >> 32), UInt32(truncatingIfNeeded: key))
            if b == newId { newBefore[Int(a)] = 0 } else { newAfter[Int(b)] = 0 }
        }
        newKeys.removeAll(keepingCapacity: true)
        newCounts.removeAll(keepingCapacity: true)
        newHolders.removeAll(keepingCapacity: true)
        newLast.removeAll(keepingCapacity: true)
        events.removeAll(keepingCapacity: true)
    }

    /// Replaces (left, right) by `newId` in each word of `holders`, left to right without
    /// overlaps (HF's `Word::merge`), and notes the changes of the neighbouring pairs.
    /// Word w is `symbols[starts[w] ..< starts[w + 1]]`, ended early by `Symbol.max`.
    mutating func rewrite(
        _ holders: UnsafeBufferPointer<UInt32>, symbols: UnsafeMutablePointer<Symbol>,
        starts: UnsafePointer<UInt32>, counts: WordCounts, left: Symbol, right: Symbol, newId: Symbol
    ) {
        for w in holders {
            let start = Int(starts[Int(w)])
            let end = Int(starts[Int(w) + 1])
            let c = counts[Int(w)]
            var read = start
            var write = start
            while read < end {
                let s = symbols[read]
                if s == Symbol.max { break }
                if s == left && read + 1 < end && symbols[read + 1] == right {
                    if write > start {
                        let before = UInt32(truncatingIfNeeded: symbols[write - 1])
                        if lostBefore[Int(before)] == 0 { touchedBefore.append(before) }
                        lostBefore[Int(before)] += c
                        gain(before: true, before, pairKey(before, UInt32(newId)), c, w)
                    }
                    if read + 2 < end && symbols[read + 2] != Symbol.max {
                        let after = UInt32(truncatingIfNeeded: symbols[read + 2])
                        if lostAfter[Int(after)] == 0 { touchedAfter.append(after) }
                        lostAfter[Int(after)] += c
                        gain(before: false, after, pairKey(UInt32(newId), after), c, w)
                    }
                    symbols[write] = newId
                    read += 2
                } else {
                    symbols[write] = s
                    read += 1
                }
                write += 1
            }
            while write < read {
                symbols[write] = Symbol.max
                write += 1
            }
        }
    }

    @inline(__always)
    private mutating func gain(before: Bool, _ token: UInt32, _ key: UInt64, _ c: Int64, _ w: UInt32) {
        var i = Int(before ? newBefore[Int(token)] : newAfter[Int(token)]) - 1
        if i < 0 {
            i = newKeys.count
            if before { newBefore[Int(token)] = Int32(i + 1) } else { newAfter[Int(token)] = Int32(i + 1) }
            newKeys.append(key)
            newCounts.append(0)
            newHolders.append(0)
            newLast.append(UInt32.max)
        }
        newCounts[i] += c
        if newLast[i] != w {
            newLast[i] = w
            newHolders[i] += 1
            events.append(UInt64(i) << 32 | UInt64(w))
        }
    }
}

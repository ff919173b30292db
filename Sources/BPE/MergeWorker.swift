// One thread's share of a merge step: it rewrites its slice of the words that hold the merged
// pair (left, right) -> new, and notes the changes of the pair counts without touching the
// shared tables: per token, the count lost by (token, left) and (right, token), and the count
// gained by (token, new) and (new, token), with the words that hold each new pair, already
// written as the tail of a holder list (varint deltas after its first word, HolderPool.swift).
// Dense per-token arrays (cleared through the list of touched tokens) make a step cost what it
// touches. The trainer folds the workers' notes into its tables in worker order, so the result
// is the same for any number of threads.

/// Per-thread scratch state of a merge step. Its per-token arrays are its own buffers: each
/// worker is made in place and freed with `deallocate()`, never copied.
struct MergeWorker<Symbol: FixedWidthInteger & UnsignedInteger> {
    /// Count lost by (token, left), by (right, token); tokens with a loss, each listed once.
    let lostBefore: UnsafeMutablePointer<Int64>
    let lostAfter: UnsafeMutablePointer<Int64>
    private(set) var touchedBefore: [UInt32] = []
    private(set) var touchedAfter: [UInt32] = []
    /// After `findLostPairs`: the slot of each pair that lost counts (-1: not tracked, -2:
    /// (new, left), which the step itself may have made: its slot is known after the fold of
    /// the step's new pairs), and the count it lost.
    private(set) var lostSlots: [Int32] = []
    private(set) var lostCounts: [Int64] = []
    /// 1 + the local index of (token, new), of (new, token); 0: not seen in this step.
    private let newBefore: UnsafeMutablePointer<Int32>
    private let newAfter: UnsafeMutablePointer<Int32>
    /// The new pairs seen, in order of first sight: key, count gained, first and last word
    /// holding it, and the bytes of the varint deltas of its later holders.
    private(set) var newKeys: [UInt64] = []
    private(set) var newCounts: [Int64] = []
    private(set) var newFirst: [UInt32] = []
    private(set) var newLast: [UInt32] = []
    private var tailBytes: [Int] = []
    /// (local index << 32 | word) for each new pair and word holding it, words ascending.
    private var events: [UInt64] = []
    /// After `rewrite`: the deltas of new pair i's holders after the first are
    /// `tails[tailStarts[i] ..< tailStarts[i + 1]]`.
    private(set) var tailStarts: [Int] = []
    private(set) var tails: [UInt8] = []
    /// Scratch for the trainer: the group of each local new pair.
    var slots: [Int32] = []
    /// The new token of the last step this worker ran (its notes are cleared at the next).
    private var lastNewId: UInt32?
    /// Where the loads that warm the cache ahead of a rewrite go, so that they are not dropped.
    private(set) var warm: UInt32 = 0

    init(tokenCount: Int) {
        lostBefore = .allocate(capacity: tokenCount)
        lostBefore.initialize(repeating: 0, count: tokenCount)
        lostAfter = .allocate(capacity: tokenCount)
        lostAfter.initialize(repeating: 0, count: tokenCount)
        newBefore = .allocate(capacity: tokenCount)
        newBefore.initialize(repeating: 0, count: tokenCount)
        newAfter = .allocate(capacity: tokenCount)
        newAfter.initialize(repeating: 0, count: tokenCount)
    }

    func deallocate() {
        for p in [lostBefore, lostAfter] { p.deallocate() }
        for p in [newBefore, newAfter] { p.deallocate() }
    }

    /// Forgets the last step's notes (only what it touched); `newId` is that step's new token.
    private mutating func reset(newId: UInt32) {
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
        newFirst.removeAll(keepingCapacity: true)
        newLast.removeAll(keepingCapacity: true)
        tailBytes.removeAll(keepingCapacity: true)
        events.removeAll(keepingCapacity: true)
    }

    /// Replaces (left, right) by `newId` in each word of `holders`, left to right without
    /// overlaps (HF's `Word::merge`), notes the changes of the neighbouring pairs, and writes
    /// the holder list tails of the new pairs.
    /// Word w is `symbols[words.start(w) ..< words.end(w)]`, ended early by `Symbol.max`.
    mutating func rewrite(
        _ holders: UnsafeBufferPointer<UInt32>, symbols: UnsafeMutablePointer<Symbol>, words: WordIndex,
        left: Symbol, right: Symbol, newId: Symbol
    ) {
        if let lastNewId { reset(newId: lastNewId) }
        lastNewId = UInt32(newId)
        // The words lie all over memory: load the index entries, then the first symbols, of 8
        // words at a time before rewriting them, so that their cache misses overlap.
        var touched: UInt32 = 0
        var k = 0
        while k < holders.count {
            let batch = k..<min(k + 8, holders.count)
            for j in batch { touched |= words.entries[2 &* Int(holders[j])] }
            for j in batch { touched |= UInt32(truncatingIfNeeded: symbols[words.start(Int(holders[j]))]) }
            for j in batch { rewrite(word: holders[j], symbols, words, left, right, newId) }
            k = batch.upperBound
        }
        warm = touched
        writeTails()
    }

    @inline(__always)
    private mutating func rewrite(
        word w: UInt32, _ symbols: UnsafeMutablePointer<Symbol>, _ words: WordIndex, _ left: Symbol,
        _ right: Symbol, _ newId: Symbol
    ) {
        let start = words.start(Int(w))
        let end = words.end(Int(w))
        let c = words.count(Int(w))
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

    /// Looks up the slots of the pairs that lost counts in the last `rewrite` (on the worker's
    /// thread, so that the fold only adds them up).
    mutating func findLostPairs(_ index: PairMap, left: UInt32, right: UInt32) {
        lostSlots.removeAll(keepingCapacity: true)
        lostCounts.removeAll(keepingCapacity: true)
        for token in touchedBefore {
            lostSlots.append(token == lastNewId ? -2 : index.get(pairKey(token, left)))
            lostCounts.append(lostBefore[Int(token)])
        }
        for token in touchedAfter {
            lostSlots.append(index.get(pairKey(right, token)))
            lostCounts.append(lostAfter[Int(token)])
        }
    }

    /// Bytes of the tail of new pair i.
    @inline(__always)
    func tailLength(_ i: Int) -> Int { tailStarts[i + 1] - tailStarts[i] }

    /// Copies the tail of new pair i to `p` and returns its length.
    @inline(__always)
    func copyTail(_ i: Int, to p: UnsafeMutablePointer<UInt8>) -> Int {
        let n = tailLength(i)
        if n > 0 { tails.withUnsafeBufferPointer { p.update(from: $0.baseAddress! + tailStarts[i], count: n) } }
        return n
    }

    /// Writes each new pair's holders after its first as varint deltas into `tails`.
    private mutating func writeTails() {
        tailStarts.removeAll(keepingCapacity: true)
        var total = 0
        for i in newKeys.indices {
            tailStarts.append(total)
            total += tailBytes[i]
            newLast[i] = newFirst[i]
        }
        tailStarts.append(total)
        guard total > 0 else { return }
        var out: [UInt8] = []
        swap(&out, &tails)  // written through a pointer while the other notes are read
        if out.count < total { out = [UInt8](repeating: 0, count: max(total, 2 * out.count)) }
        out.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            for event in events {
                let i = Int(event >> 32)
                let w = UInt32(truncatingIfNeeded: event)
                if w == newFirst[i] { continue }
                tailStarts[i] += HolderPool.put(w - newLast[i], at: base + tailStarts[i])
                newLast[i] = w
            }
        }
        swap(&out, &tails)
        for i in newKeys.indices { tailStarts[i] -= tailBytes[i] }
    }

    @inline(__always)
    private mutating func gain(before: Bool, _ token: UInt32, _ key: UInt64, _ c: Int64, _ w: UInt32) {
        var i = Int(before ? newBefore[Int(token)] : newAfter[Int(token)]) - 1
        if i < 0 {
            i = newKeys.count
            if before { newBefore[Int(token)] = Int32(i + 1) } else { newAfter[Int(token)] = Int32(i + 1) }
            newKeys.append(key)
            newCounts.append(0)
            newFirst.append(w)
            newLast.append(w)
            tailBytes.append(0)
            events.append(UInt64(i) << 32 | UInt64(w))
        } else if newLast[i] != w {
            tailBytes[i] += HolderPool.size(w - newLast[i])
            newLast[i] = w
            events.append(UInt64(i) << 32 | UInt64(w))
        }
        newCounts[i] += c
    }
}

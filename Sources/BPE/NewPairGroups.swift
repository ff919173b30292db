// The fold of a merge step's new pairs: the pairs (token, new) and (new, token) that the workers
// saw, gathered across workers into one group per pair (found by token in dense arrays), with
// the group's total count and, when tracked, its slot; then each tracked group's holder list,
// written into the pool as the workers' parts in worker order (HolderPool.swift). A value the
// trainer takes out of itself for the fold, so the many small updates run on a local value.

/// The new pairs of one merge step, gathered from all workers.
struct NewPairGroups {
    /// 1 + the group of (token, new), of (new, token); 0: none yet.
    private var before: [Int32]
    private var after: [Int32]
    /// Per group: the pair, its count over all workers, its slot (-1: not tracked), and while
    /// its list is written, the last word written and where its next byte goes.
    private(set) var keys: [UInt64] = []
    var counts: [Int64] = []
    var slots: [Int] = []
    private var last: [UInt32] = []
    var cursor: [Int] = []

    init(tokenCount: Int) {
        before = [Int32](repeating: 0, count: tokenCount)
        after = [Int32](repeating: 0, count: tokenCount)
    }

    /// The group of a pair holding the new token, created if new: (a, new) by a, else (new, b) by b.
    @inline(__always)
    mutating func group(_ key: UInt64, _ newId: UInt32) -> Int {
        let (a, b) = (UInt32(truncatingIfNeeded: key >> 32), UInt32(truncatingIfNeeded: key))
        let isBefore = b == newId
        let g = Int(isBefore ? before[Int(a)] : after[Int(b)]) - 1
        if g >= 0 { return g }
        keys.append(key)
        counts.append(0)
        slots.append(-1)
        last.append(0)
        cursor.append(0)
        if isBefore { before[Int(a)] = Int32(keys.count) } else { after[Int(b)] = Int32(keys.count) }
        return keys.count - 1
    }

    /// Goes through the tracked parts of the workers' new pairs in worker order. Without
    /// `pool`: adds each part's size to its list's byte count in `listBytes`; with it: writes
    /// each part at its group's cursor (the first word as the delta from the part before's last,
    /// then the worker's tail).
    mutating func layParts<Symbol>(
        _ workers: UnsafeMutableBufferPointer<MergeWorker<Symbol>>, listBytes: UnsafeMutableBufferPointer<UInt32>,
        pool: UnsafeMutablePointer<UInt8>?
    ) {
        for g in keys.indices { last[g] = 0 }
        for t in workers.indices {
            for i in 0..<workers[t].newKeys.count {
                let g = Int(workers[t].slots[i])
                if slots[g] < 0 { continue }
                let delta = workers[t].newFirst[i] - last[g]
                if let pool {
                    cursor[g] += HolderPool.put(delta, at: pool + cursor[g])
                    cursor[g] += workers[t].copyTail(i, to: pool + cursor[g])
                } else {
                    listBytes[slots[g]] += UInt32(HolderPool.size(delta) + workers[t].tailLength(i))
                }
                last[g] = workers[t].newLast[i]
            }
        }
    }

    /// Forgets every group; `newId` is the step's new token.
    mutating func removeAll(newId: UInt32) {
        for key in keys {
            let (a, b) = (UInt32(truncatingIfNeeded: key >> 32), UInt32(truncatingIfNeeded: key))
            if b == newId { before[Int(a)] = 0 } else { after[Int(b)] = 0 }
        }
        keys.removeAll(keepingCapacity: true)
        counts.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        last.removeAll(keepingCapacity: true)
        cursor.removeAll(keepingCapacity: true)
    }
}

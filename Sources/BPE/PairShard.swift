// The trainer's first count, on all threads: each thread counts the pairs of one contiguous
// shard of the words (pass 1), the trainer adds the shards up in order and lays out every
// pair's holder list in the pool, and each thread then writes its part of every list (pass 2)
// in place. A list's part from shard s starts with the delta from the last holder in the
// shards before s, so the lists are exactly those a single thread would write.

import Basics

/// One shard's pairs: key, count, first and last holder, and the varint bytes of the holder
/// deltas after the first; then, for pass 2, where its part of each list goes.
struct PairShard {
    var index = PairMap(minimumCapacity: 1 << 10)
    var keys: [UInt64] = []
    var counts: [Int64] = []
    var first: [UInt32] = []
    var last: [UInt32] = []
    var tailBytes: [Int] = []
    /// Pass 2: the holder each list part's first delta is from, and where the next byte goes
    /// (-1: the pair is not tracked).
    var previous: [UInt32] = []
    var cursor: [Int] = []

    /// Pass 1: counts the pairs of the words in `range`.
    mutating func count<Symbol: FixedWidthInteger & UnsignedInteger>(
        _ range: Range<Int>, symbols: UnsafePointer<Symbol>, words: WordIndex
    ) {
        for w in range {
            let c = words.count(w)
            let id = UInt32(w)
            let end = words.end(w)
            var j = words.start(w)
            while j + 1 < end && symbols[j + 1] != Symbol.max {
                let key = pairKey(UInt32(symbols[j]), UInt32(symbols[j + 1]))
                j += 1
                let next = Int32(keys.count)
                let (value, inserted) = index.getOrInsert(key) { next }
                let i = Int(value)
                if inserted {
                    keys.append(key)
                    counts.append(c)
                    first.append(id)
                    last.append(id)
                    tailBytes.append(0)
                } else {
                    counts[i] += c
                    if last[i] != id {
                        tailBytes[i] += HolderPool.size(id - last[i])
                        last[i] = id
                    }
                }
            }
        }
    }

    /// Pass 2: writes the shard's part of each pair's list (`previous` and `cursor` set).
    mutating func write<Symbol: FixedWidthInteger & UnsignedInteger>(
        _ range: Range<Int>, symbols: UnsafePointer<Symbol>, words: WordIndex, pool: UnsafeMutablePointer<UInt8>
    ) {
        for i in 0..<last.count { last[i] = UInt32.max }
        for w in range {
            let id = UInt32(w)
            let end = words.end(w)
            var j = words.start(w)
            while j + 1 < end && symbols[j + 1] != Symbol.max {
                let i = Int(index.get(pairKey(UInt32(symbols[j]), UInt32(symbols[j + 1]))))
                j += 1
                if last[i] == id || cursor[i] < 0 { continue }
                last[i] = id
                cursor[i] += HolderPool.put(id &- previous[i], at: pool + cursor[i])
                previous[i] = id
            }
        }
    }
}

extension MergeLearner {
    /// Counts every adjacent pair of every word and writes each pair's holder list.
    func countPairs() {
        let shardCount = max(1, min(threads, wordCount / 4096))
        var shards = [PairShard](repeating: PairShard(), count: shardCount)
        let n = wordCount
        let (symbols, words) = (UnsafePointer(self.symbols), self.words)
        shards.withUnsafeMutableBufferPointer { shard in
            parallelFor(shardCount, threads: shardCount) { s in
                shard[s].count(
                    n * s / shardCount..<n * (s + 1) / shardCount, symbols: symbols, words: words)
            }
        }
        layOutLists(&shards)
        let pool = self.pool.bytes
        shards.withUnsafeMutableBufferPointer { shard in
            parallelFor(shardCount, threads: shardCount) { s in
                shard[s].write(
                    n * s / shardCount..<n * (s + 1) / shardCount, symbols: symbols, words: words, pool: pool)
            }
        }
    }

    /// Adds the shards' counts up, creates the pairs seen `threshold` times or more, sizes
    /// their lists, claims the pool, and tells each shard where its part of each list goes
    /// and which holder its first delta is from.
    private func layOutLists(_ shards: inout [PairShard]) {
        // The first shard's pairs, in its order, start the totals (its index already maps them).
        var totalIndex = shards[0].index
        var totals = shards[0].counts
        var totalKeys = shards[0].keys
        var parts: [[Int32]] = [shards[0].keys.indices.map { Int32($0) }]
        for s in shards.indices.dropFirst() {
            parts.append(
                shards[s].keys.indices.map { i in
                    let next = Int32(totals.count)
                    let (t, inserted) = totalIndex.getOrInsert(shards[s].keys[i]) { next }
                    if inserted {
                        totals.append(0)
                        totalKeys.append(shards[s].keys[i])
                    }
                    totals[Int(t)] += shards[s].counts[i]
                    return t
                })
        }
        let slotOf = totals.indices.map { t in totals[t] >= threshold ? Int32(pairSlot(totalKeys[t])) : -1 }
        for t in totals.indices where slotOf[t] >= 0 { pairCounts[Int(slotOf[t])] = totals[t] }
        var lastHolder = [UInt32](repeating: 0, count: pairKeys.count)
        var partBytes: [[Int]] = []
        for s in shards.indices {
            shards[s].previous = [UInt32](repeating: 0, count: shards[s].keys.count)
            partBytes.append(
                shards[s].keys.indices.map { i in
                    let slot = Int(slotOf[Int(parts[s][i])])
                    if slot < 0 { return -1 }
                    let base = listBytes[slot] == 0 ? 0 : lastHolder[slot]
                    shards[s].previous[i] = base
                    let size = HolderPool.size(shards[s].first[i] - base) + shards[s].tailBytes[i]
                    listBytes[slot] += UInt32(size)
                    lastHolder[slot] = shards[s].last[i]
                    return size
                })
        }
        var total = 0
        for slot in 0..<pairKeys.count {
            listOffsets[slot] = total
            total += Int(listBytes[slot])
        }
        pool.deallocate()
        pool = HolderPool(capacity: total)
        _ = pool.claim(total)
        var next = listOffsets
        for s in shards.indices {
            shards[s].cursor = shards[s].keys.indices.map { i in
                let slot = Int(slotOf[Int(parts[s][i])])
                if slot < 0 { return -1 }
                next[slot] += partBytes[s][i]
                return next[slot] - partBytes[s][i]
            }
        }
    }
}

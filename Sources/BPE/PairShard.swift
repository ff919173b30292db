// The trainer's first count (and its recounts), on all threads: the pairs are split among the
// threads by a hash of the pair, and each thread reads every word but counts only its own pairs
// (pass 1), so that no pair is counted on two threads and nothing has to be added up across
// them; the trainer then creates the pairs seen `threshold` times or more and lays out their
// holder lists in the pool, and each thread writes the whole lists of its own pairs, words
// ascending (pass 2): exactly the lists one thread would write.

import Basics

/// One thread's pairs (those whose hash falls in its part): key, count, last holder, and the
/// varint bytes of each list; then, for pass 2, where the next byte of its list goes.
struct PairShard {
    var index = PairMap(minimumCapacity: 1 << 10)
    var keys: [UInt64] = []
    var counts: [Int64] = []
    var last: [UInt32] = []
    var listBytes: [Int] = []
    /// Pass 2: where the next byte of each list goes (-1: the pair is not tracked).
    var cursor: [Int] = []

    /// The part of `parts` that counts pair `key`.
    @inline(__always)
    static func part(_ key: UInt64, of parts: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 40) % parts
    }

    /// Pass 1: counts the pairs of part `part` of `parts` in the first `wordCount` words.
    mutating func count<Symbol: FixedWidthInteger & UnsignedInteger>(
        part: Int, of parts: Int, symbols: UnsafePointer<Symbol>, words: WordIndex, wordCount: Int
    ) {
        for w in 0..<wordCount {
            let c = words.count(w)
            let id = UInt32(w)
            let end = words.end(w)
            var j = words.start(w)
            while j + 1 < end && symbols[j + 1] != Symbol.max {
                let key = pairKey(UInt32(symbols[j]), UInt32(symbols[j + 1]))
                j += 1
                if parts > 1 && PairShard.part(key, of: parts) != part { continue }
                let next = Int32(keys.count)
                let (value, inserted) = index.getOrInsert(key) { next }
                let i = Int(value)
                if inserted {
                    keys.append(key)
                    counts.append(c)
                    last.append(id)
                    listBytes.append(HolderPool.size(id))
                } else {
                    counts[i] += c
                    if last[i] != id {
                        listBytes[i] += HolderPool.size(id - last[i])
                        last[i] = id
                    }
                }
            }
        }
    }

    /// Pass 2: writes the lists of the part's tracked pairs (`cursor` set) into `pool`.
    mutating func write<Symbol: FixedWidthInteger & UnsignedInteger>(
        part: Int, of parts: Int, symbols: UnsafePointer<Symbol>, words: WordIndex, wordCount: Int,
        pool: UnsafeMutablePointer<UInt8>
    ) {
        // `last` now holds the last holder written, UInt32.max before the first (a delta from 0).
        for i in 0..<last.count { last[i] = UInt32.max }
        for w in 0..<wordCount {
            let id = UInt32(w)
            let end = words.end(w)
            var j = words.start(w)
            while j + 1 < end && symbols[j + 1] != Symbol.max {
                let key = pairKey(UInt32(symbols[j]), UInt32(symbols[j + 1]))
                j += 1
                if parts > 1 && PairShard.part(key, of: parts) != part { continue }
                let i = Int(index.get(key))
                if last[i] == id || cursor[i] < 0 { continue }
                cursor[i] += HolderPool.put(last[i] == UInt32.max ? id : id - last[i], at: pool + cursor[i])
                last[i] = id
            }
        }
    }
}

extension MergeLearner {
    /// Counts every adjacent pair of every word and writes each tracked pair's holder list.
    func countPairs() {
        let parts = max(1, min(threads, wordCount / 4096))
        var shards = [PairShard](repeating: PairShard(), count: parts)
        let (symbols, words, n) = (UnsafePointer(self.symbols), self.words, wordCount)
        shards.withUnsafeMutableBufferPointer { shard in
            parallelFor(parts, threads: parts) { s in
                shard[s].count(part: s, of: parts, symbols: symbols, words: words, wordCount: n)
            }
        }
        layOutLists(&shards)
        let pool = self.pool.bytes
        shards.withUnsafeMutableBufferPointer { shard in
            parallelFor(parts, threads: parts) { s in
                shard[s].write(part: s, of: parts, symbols: symbols, words: words, wordCount: n, pool: pool)
            }
        }
    }

    /// Creates the pairs seen `threshold` times or more (part by part, each in its order), sizes
    /// their lists, claims the pool, and tells each part where each of its lists goes.
    private func layOutLists(_ shards: inout [PairShard]) {
        var total = 0
        for s in shards.indices {
            shards[s].cursor = [Int](repeating: -1, count: shards[s].keys.count)
            for i in shards[s].keys.indices where shards[s].counts[i] >= threshold {
                let slot = pairSlot(shards[s].keys[i])
                pairCounts[slot] = shards[s].counts[i]
                listBytes[slot] = UInt32(shards[s].listBytes[i])
                listOffsets[slot] = total
                shards[s].cursor[i] = total
                total += shards[s].listBytes[i]
            }
        }
        pool.deallocate()
        pool = HolderPool(capacity: total)
        _ = pool.claim(total)
    }
}

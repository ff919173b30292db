// The training state of `BPETrainer` and its merge loop: every distinct word as a run of token
// ids (UInt16 when the vocabulary allows, else UInt32; a merged word keeps its slot and ends
// early at `Symbol.max`), and per pair its count and the list of words that may hold it (a
// superset: words lose pairs, lists are not pruned) in a `HolderPool`. Only pairs seen
// `threshold` times or more are tracked: a pair's count never grows after it appears (only
// pairs holding a new token gain), so an untracked pair can never become the best while a
// tracked one reaches the threshold; when none does, the pairs are recounted from the words
// with an 8 times lower threshold (down to `floor`). Most distinct pairs occur a few times
// only, so this saves most of the pair table and lists without changing a merge. A merge step rewrites
// the holders on all threads when there are many (`MergeWorker`), then folds the workers'
// notes in worker order: the merges are the same for any number of threads.
import Basics

final class MergeLearner<Symbol: FixedWidthInteger & UnsignedInteger> {
    /// Word w is `symbols[starts[w] ..< starts[w + 1]]`, ended early by `Symbol.max`.
    let symbols: UnsafeMutablePointer<Symbol>
    let starts: UnsafeMutablePointer<UInt32>
    /// How often each word occurs.
    let counts: WordCounts
    let wordCount: Int
    let threads: Int
    /// Fewest holders for which a step runs on several threads.
    let parallelMinimum: Int
    /// Fewest occurrences of a tracked pair, and the least it may be lowered to.
    private(set) var threshold: Int64
    let floor: Int64

    /// Per pair (its slot): key, total count, and its holder list in `pool` (0 bytes: none).
    var pairIndex = PairMap(minimumCapacity: 1 << 16)
    var pairKeys: [UInt64] = []
    var pairCounts: [Int64] = []
    var listOffsets: [Int] = []
    var listBytes: [UInt32] = []
    var pool = HolderPool(capacity: 0)

    let workers: UnsafeMutablePointer<MergeWorker<Symbol>>
    /// Scratch of a step: the holders of the merged pair, the holders of the new pairs grouped
    /// by pair, and where each group ends.
    private var holders: [UInt32] = []
    private var grouped: [UInt32] = []
    private var groupEnds: [Int] = []
    /// Scratch of a step: the new pairs of all workers as groups (1 + group of (token, new), of
    /// (new, token)), each group's key, count, holders, and its slot if tracked.
    private var groupBefore: [Int32]
    private var groupAfter: [Int32]
    private var groupKeys: [UInt64] = []
    private var groupCounts: [Int64] = []
    private var groupHolders: [Int] = []
    private var groupSlots: [Int] = []

    /// Takes the words of `counter` with two bytes or more; `tokenCount` bounds the token ids.
    /// Pairs seen under `threshold` times are not tracked until no tracked pair is left, and
    /// none seen under `floor` times is ever merged.
    init(
        _ counter: WordCounter, tokenCount: Int, threads: Int, parallelMinimum: Int, threshold: Int64,
        floor: Int64
    ) {
        precondition(tokenCount < Int(Symbol.max), "token ids must stay below Symbol.max")
        var n = 0
        var total = 0
        counter.forEachWord { word, count in
            if word.count >= 2 && count > 0 {
                n += 1
                total += word.count
            }
        }
        precondition(total < Int(UInt32.max), "distinct words beyond 4 GB")
        let symbols = UnsafeMutablePointer<Symbol>.allocate(capacity: max(total, 1))
        let starts = UnsafeMutablePointer<UInt32>.allocate(capacity: n + 1)
        var counts = WordCounts(capacity: n)
        self.threads = max(1, threads)
        self.parallelMinimum = parallelMinimum
        self.floor = max(1, floor)
        self.threshold = max(self.floor, threshold)
        groupBefore = [Int32](repeating: 0, count: tokenCount)
        groupAfter = [Int32](repeating: 0, count: tokenCount)
        workers = .allocate(capacity: self.threads)
        workers.initialize(repeating: MergeWorker(tokenCount: tokenCount), count: self.threads)
        let idOfByte = ByteLevel.idOfByte
        var w = 0
        var at = 0
        starts[0] = 0
        counter.forEachWord { word, count in
            guard word.count >= 2 && count > 0 else { return }  // a one-byte word holds no pair
            for b in word {
                symbols[at] = Symbol(truncatingIfNeeded: idOfByte[Int(b)])
                at += 1
            }
            counts.set(w, count)
            w += 1
            starts[w] = UInt32(at)
        }
        self.symbols = symbols
        self.starts = starts
        self.counts = counts
        wordCount = n
        countPairs()
    }

    deinit {
        symbols.deallocate()
        starts.deallocate()
        counts.small.deallocate()
        workers.deinitialize(count: threads)
        workers.deallocate()
        pool.deallocate()
    }

    /// The slot of a pair, created with count 0 and no list if new.
    @inline(__always)
    func pairSlot(_ key: UInt64) -> Int {
        let next = Int32(pairKeys.count)
        let (slot, inserted) = pairIndex.getOrInsert(key) { next }
        if inserted {
            pairKeys.append(key)
            pairCounts.append(0)
            listOffsets.append(0)
            listBytes.append(0)
        }
        return Int(slot)
    }

    /// Runs up to `target` merges, stopping early when no pair occurs `floor` times or more
    /// (HF's `min_frequency`), and returns them as (left, right) id pairs.
    func learn(_ target: Int, progress: ((Int, Int) -> Void)?) -> [(UInt32, UInt32)] {
        var heap = trackedHeap()
        var merges: [(UInt32, UInt32)] = []
        merges.reserveCapacity(max(0, target))
        let every = max(1, target / 100)
        while merges.count < target {
            guard let top = heap.pop() else {
                if threshold == floor { break }
                recount(threshold: max(floor, threshold / 8))  // untracked pairs may remain
                heap = trackedHeap()
                continue
            }
            let p = Int(top.pair)
            let current = pairCounts[p]
            if current != top.count {
                // Stale: the count fell since the push. Re-queue with today's count.
                if current > 0 { heap.push(MergeCandidate(count: current, key: top.key, pair: top.pair)) }
                continue
            }
            if current < threshold {
                // The best tracked pair is under the threshold: an untracked one may be better.
                if threshold == floor { break }  // HF: `min_frequency > top.count` ends training
                recount(threshold: max(floor, threshold / 8))
                heap = trackedHeap()
                continue
            }
            let left = UInt32(truncatingIfNeeded: top.key >> 32)
            let right = UInt32(truncatingIfNeeded: top.key)
            let firstNewPair = pairKeys.count
            merge(p, left, right, UInt32(256 + merges.count))
            merges.append((left, right))
            // Every pair with a positive change holds the new token, so it is new in this step.
            for q in firstNewPair..<pairKeys.count where pairCounts[q] > 0 {
                heap.push(MergeCandidate(count: pairCounts[q], key: pairKeys[q], pair: Int32(q)))
            }
            if pool.garbage > 1 << 16 && pool.garbage > pool.used / 2 {
                pool.compact(offsets: &listOffsets, counts: listBytes)
            }
            if let progress, merges.count % every == 0 { progress(merges.count, target) }
        }
        progress?(merges.count, target)
        return merges
    }

    /// A heap of every tracked pair that occurs.
    private func trackedHeap() -> PairHeap {
        var candidates: [MergeCandidate] = []
        for p in 0..<pairKeys.count where pairCounts[p] > 0 {
            candidates.append(MergeCandidate(count: pairCounts[p], key: pairKeys[p], pair: Int32(p)))
        }
        return PairHeap(candidates)
    }

    /// Forgets the pairs and counts them again from the words, tracking those seen `threshold`
    /// times or more.
    private func recount(threshold: Int64) {
        self.threshold = threshold
        pairIndex = PairMap(minimumCapacity: 1 << 16)
        pairKeys = []
        pairCounts = []
        listOffsets = []
        listBytes = []
        countPairs()
    }

    /// Merges pair `p` = (left, right) into `newId` in every word that holds it.
    private func merge(_ p: Int, _ left: UInt32, _ right: UInt32, _ newId: UInt32) {
        pool.decode(offset: listOffsets[p], count: Int(listBytes[p]), into: &holders)
        pool.drop(Int(listBytes[p]))
        listBytes[p] = 0
        let n = holders.count
        let chunks = threads > 1 && n >= parallelMinimum ? threads : 1
        let (symbols, starts, counts, workers) = (self.symbols, self.starts, self.counts, self.workers)
        let (l, r, id) = (Symbol(left), Symbol(right), Symbol(newId))
        holders.withUnsafeBufferPointer { h in
            parallelFor(chunks, threads: chunks) { t in
                let slice = UnsafeBufferPointer(rebasing: h[n * t / chunks..<n * (t + 1) / chunks])
                workers[t].rewrite(
                    slice, symbols: symbols, starts: starts, counts: counts, left: l, right: r, newId: id)
            }
        }
        absorbNewPairs(chunks, newId)
        absorbLosses(chunks, left, right)
        pairCounts[p] = 0
        for t in 0..<chunks { workers[t].reset(newId: newId) }
    }

    /// Adds up the pairs the workers saw gain (in worker order), creates those seen
    /// `threshold` times or more, and writes their holder lists: each worker's words come after
    /// the previous worker's, so a pair's holders, concatenated in worker order, are ascending.
    private func absorbNewPairs(_ chunks: Int, _ newId: UInt32) {
        for t in 0..<chunks {
            workers[t].slots.removeAll(keepingCapacity: true)
            for i in 0..<workers[t].newKeys.count {
                let g = group(workers[t].newKeys[i], newId)
                groupCounts[g] += workers[t].newCounts[i]
                groupHolders[g] += Int(workers[t].newHolders[i])
                workers[t].slots.append(Int32(g))
            }
        }
        // Tracked groups become pairs in group order; groupEnds holds where each list starts.
        let firstNew = pairKeys.count
        var total = 0
        groupEnds.removeAll(keepingCapacity: true)
        for g in groupKeys.indices where groupCounts[g] >= threshold {
            groupSlots[g] = pairSlot(groupKeys[g])
            pairCounts[groupSlots[g]] = groupCounts[g]
            groupEnds.append(total)
            total += groupHolders[g]
        }
        if grouped.count < total { grouped = [UInt32](repeating: 0, count: total) }
        for t in 0..<chunks {
            for event in workers[t].events {
                let slot = groupSlots[Int(workers[t].slots[Int(event >> 32)])]
                if slot < 0 { continue }
                grouped[groupEnds[slot - firstNew]] = UInt32(truncatingIfNeeded: event)
                groupEnds[slot - firstNew] += 1
            }
        }
        grouped.withUnsafeBufferPointer { all in
            var start = 0
            for k in groupEnds.indices {
                let (offset, size) = pool.append(UnsafeBufferPointer(rebasing: all[start..<groupEnds[k]]))
                listOffsets[firstNew + k] = offset
                listBytes[firstNew + k] = UInt32(size)
                start = groupEnds[k]
            }
        }
        for key in groupKeys {
            let (a, b) = (UInt32(truncatingIfNeeded: key >> 32), UInt32(truncatingIfNeeded: key))
            if b == newId { groupBefore[Int(a)] = 0 } else { groupAfter[Int(b)] = 0 }
        }
        groupKeys.removeAll(keepingCapacity: true)
        groupCounts.removeAll(keepingCapacity: true)
        groupHolders.removeAll(keepingCapacity: true)
        groupSlots.removeAll(keepingCapacity: true)
    }

    /// The group of a pair holding the new token, created if new: (a, new) by a, else (new, b) by b.
    @inline(__always)
    private func group(_ key: UInt64, _ newId: UInt32) -> Int {
        let (a, b) = (UInt32(truncatingIfNeeded: key >> 32), UInt32(truncatingIfNeeded: key))
        let before = b == newId
        let g = Int(before ? groupBefore[Int(a)] : groupAfter[Int(b)]) - 1
        if g >= 0 { return g }
        groupKeys.append(key)
        groupCounts.append(0)
        groupHolders.append(0)
        groupSlots.append(-1)
        if before { groupBefore[Int(a)] = Int32(groupKeys.count) } else { groupAfter[Int(b)] = Int32(groupKeys.count) }
        return groupKeys.count - 1
    }

    /// Takes away the counts (token, left) and (right, token) lost, and drops the lists of
    /// pairs that no longer occur.
    private func absorbLosses(_ chunks: Int, _ left: UInt32, _ right: UInt32) {
        for t in 0..<chunks {
            for token in workers[t].touchedBefore {
                lose(pairKey(token, left), workers[t].lostBefore[Int(token)])
            }
            for token in workers[t].touchedAfter {
                lose(pairKey(right, token), workers[t].lostAfter[Int(token)])
            }
        }
    }

    @inline(__always)
    private func lose(_ key: UInt64, _ count: Int64) {
        let slot = Int(pairIndex.get(key))
        if slot < 0 { return }  // not tracked
        pairCounts[slot] -= count
        if pairCounts[slot] == 0 && listBytes[slot] > 0 {
            pool.drop(Int(listBytes[slot]))
            listBytes[slot] = 0
        }
    }
}

/// Each word's count in 4 bytes: counts of `UInt32.max` or more (a word seen 4 billion times)
/// are `UInt32.max` there and kept whole in `large`.
struct WordCounts {
    let small: UnsafeMutablePointer<UInt32>
    private(set) var large: [Int: Int64] = [:]

    init(capacity: Int) { small = .allocate(capacity: max(capacity, 1)) }

    mutating func set(_ w: Int, _ count: Int64) {
        if count < Int64(UInt32.max) {
            small[w] = UInt32(count)
        } else {
            small[w] = .max
            large[w] = count
        }
    }

    @inline(__always)
    subscript(w: Int) -> Int64 {
        let c = small[w]
        return c < .max ? Int64(c) : large[w, default: Int64(c)]
    }
}

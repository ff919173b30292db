// The training state of `BPETrainer` and its merge loop: every distinct word as a run of token
// ids (UInt16 when the vocabulary allows, else UInt32; a merged word keeps its slot and ends
// early at `Symbol.max`), and per pair its count and the list of words that may hold it (a
// superset: words lose pairs, lists are not pruned) in a `HolderPool`. Only pairs seen
// `threshold` times or more are tracked: a pair's count never grows after it appears (only
// pairs holding a new token gain), so an untracked pair can never become the best while a
// tracked one reaches the threshold; when none does, the pairs are recounted from the words
// with an 8 times lower threshold (down to `floor`). Most distinct pairs occur a few times
// only, so this saves most of the pair table and lists without changing a merge. A merge step
// rewrites the holders on all threads when there are many (`MergeWorker`, on a `MergeTeam`
// that stays awake through the loop), then folds the workers' notes in worker order: the
// merges are the same for any number of threads.
import Basics

final class MergeLearner<Symbol: FixedWidthInteger & UnsignedInteger> {
    /// Word w is `symbols[words.start(w) ..< words.end(w)]`, ended early by `Symbol.max`, and
    /// occurs `words.count(w)` times.
    let symbols: UnsafeMutablePointer<Symbol>
    let words: WordIndex
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
    /// The threads of the merge steps, awake while `learn` runs.
    private var team = MergeTeam(threads: 1)
    /// Scratch of a step: the holders of the merged pair.
    private var holders: [UInt32] = []
    /// Scratch of a step: its new pairs, gathered from the workers.
    private var groups: NewPairGroups

    /// Takes the words of `counter` with two bytes or more; `tokenCount` bounds the token ids.
    /// Pairs seen under `threshold` times are not tracked until no tracked pair is left, and
    /// none seen under `floor` times is ever merged. `releasingCounts` empties `counter` once
    /// its words are loaded.
    init(
        _ counter: WordCounter, tokenCount: Int, threads: Int, parallelMinimum: Int, threshold: Int64,
        floor: Int64, releasingCounts: Bool = false
    ) {
        precondition(tokenCount < Int(Symbol.max), "token ids must stay below Symbol.max")
        self.threads = max(1, threads)
        self.parallelMinimum = parallelMinimum
        self.floor = max(1, floor)
        self.threshold = max(self.floor, threshold)
        groups = NewPairGroups(tokenCount: tokenCount)
        workers = .allocate(capacity: self.threads)
        for t in 0..<self.threads { (workers + t).initialize(to: MergeWorker(tokenCount: tokenCount)) }
        (symbols, words, wordCount) = Self.loadWords(counter, threads: self.threads)
        if releasingCounts { counter.releaseWords() }
        countPairs()
    }

    deinit {
        symbols.deallocate()
        words.entries.deallocate()
        for t in 0..<threads { workers[t].deallocate() }
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
        team = MergeTeam(threads: threads)
        defer {
            team.finish()
            team = MergeTeam(threads: 1)
        }
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
            if pool.garbage > 1 << 16 && pool.garbage > pool.used / 4 {
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
        let (symbols, words, workers) = (self.symbols, self.words, self.workers)
        let (l, r, id) = (Symbol(left), Symbol(right), Symbol(newId))
        holders.withUnsafeBufferPointer { h in
            team.run(chunks) { t in
                let slice = UnsafeBufferPointer(rebasing: h[n * t / chunks..<n * (t + 1) / chunks])
                workers[t].rewrite(
                    slice, symbols: symbols, words: words, left: l, right: r, newId: id)
            }
        }
        absorbNewPairs(chunks, newId)
        absorbLosses(chunks, left, right)
        pairCounts[p] = 0
    }

    /// Adds up the pairs the workers saw gain (in worker order), creates those seen
    /// `threshold` times or more, and writes their holder lists: each worker's words come after
    /// the previous worker's, so a pair's list is the workers' parts in worker order.
    private func absorbNewPairs(_ chunks: Int, _ newId: UInt32) {
        var groups = NewPairGroups(tokenCount: 0)
        swap(&groups, &self.groups)
        defer { swap(&groups, &self.groups) }
        for t in 0..<chunks {
            workers[t].slots.removeAll(keepingCapacity: true)
            for i in 0..<workers[t].newKeys.count {
                let g = groups.group(workers[t].newKeys[i], newId)
                groups.counts[g] += workers[t].newCounts[i]
                workers[t].slots.append(Int32(g))
            }
        }
        // Tracked groups become pairs in group order, their lists in the pool in that order.
        for g in groups.keys.indices where groups.counts[g] >= threshold {
            groups.slots[g] = pairSlot(groups.keys[g])
            pairCounts[groups.slots[g]] = groups.counts[g]
        }
        listBytes.withUnsafeMutableBufferPointer { listBytes in
            groups.layParts(workers, chunks, listBytes: listBytes, pool: nil)
            var total = 0
            for g in groups.keys.indices where groups.slots[g] >= 0 {
                listOffsets[groups.slots[g]] = total
                groups.cursor[g] = total
                total += Int(listBytes[groups.slots[g]])
            }
            let base = pool.claim(total)
            for g in groups.keys.indices where groups.slots[g] >= 0 {
                listOffsets[groups.slots[g]] += base
                groups.cursor[g] += base
            }
            groups.layParts(workers, chunks, listBytes: listBytes, pool: pool.bytes)
        }
        groups.removeAll(newId: newId)
    }

    /// Takes away the counts (token, left) and (right, token) lost, and drops the lists of
    /// pairs that no longer occur.
    private func absorbLosses(_ chunks: Int, _ left: UInt32, _ right: UInt32) {
        let index = pairIndex
        var dropped = 0
        pairCounts.withUnsafeMutableBufferPointer { counts in
            listBytes.withUnsafeMutableBufferPointer { bytes in
                @inline(__always) func lose(_ key: UInt64, _ count: Int64) {
                    let slot = Int(index.get(key))
                    if slot < 0 { return }  // not tracked
                    counts[slot] -= count
                    if counts[slot] == 0 && bytes[slot] > 0 {
                        dropped += Int(bytes[slot])
                        bytes[slot] = 0
                    }
                }
                for t in 0..<chunks {
                    for token in workers[t].touchedBefore {
                        lose(pairKey(token, left), workers[t].lostBefore[Int(token)])
                    }
                    for token in workers[t].touchedAfter {
                        lose(pairKey(right, token), workers[t].lostAfter[Int(token)])
                    }
                }
            }
        }
        pool.drop(dropped)
    }
}

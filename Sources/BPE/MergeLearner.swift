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

    /// The workers of the steps: `threads` for a step run on all threads, and with helpers one
    /// more, so that a step run ahead never shares a worker with the step before it.
    let workers: UnsafeMutablePointer<MergeWorker<Symbol>>
    let workerCount: Int
    /// The threads of the merge steps, ready while `learn` runs.
    private var team = MergeTeam(threads: 1)
    /// Scratch of a step: the holders of the merged pair (room for `holderRoom`).
    private var holders = UnsafeMutablePointer<UInt32>.allocate(capacity: 1024)
    private var holderRoom = 1024
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
        workerCount = self.threads > 1 ? self.threads + 1 : 1
        workers = .allocate(capacity: workerCount)
        for t in 0..<workerCount { (workers + t).initialize(to: MergeWorker(tokenCount: tokenCount)) }
        (symbols, words, wordCount) = Self.loadWords(counter, threads: self.threads)
        if releasingCounts { counter.releaseWords() }
        countPairs()
    }

    deinit {
        symbols.deallocate()
        words.entries.deallocate()
        for t in 0..<workerCount { workers[t].deallocate() }
        workers.deinitialize(count: workerCount)
        workers.deallocate()
        holders.deallocate()
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

    /// A merge step: its pair, and the workers that hold its notes. A step run ahead (on a
    /// helper, while the step before was folded) still has to look up the pairs it lowered.
    private struct Step {
        var pair: Int
        var key: UInt64
        var workers: Range<Int>
        var ranAhead: Bool
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
        var ahead: Step?
        while merges.count < target {
            let newId = UInt32(256 + merges.count)
            let step: Step
            if let next = ahead {
                team.wait()
                step = next
                ahead = nil
            } else {
                guard let top = nextPair(&heap) else { break }
                step = rewrite(top, newId)
            }
            let firstNewPair = pairKeys.count
            let bestNew = gatherNewPairs(step, newId)
            if threads > 1 && merges.count + 1 < target {
                ahead = runAhead(&heap, after: step, bestNew: bestNew, newId: newId + 1)
            }
            fold(step, newId)
            merges.append((UInt32(truncatingIfNeeded: step.key >> 32), UInt32(truncatingIfNeeded: step.key)))
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

    /// The best pair to merge next (stale candidates re-queued with today's count), recounting
    /// the pairs with a lower threshold when none tracked reaches it; nil when training ends.
    private func nextPair(_ heap: inout PairHeap) -> MergeCandidate? {
        while true {
            guard let top = heap.pop() else {
                if threshold == floor { return nil }
                recount(threshold: max(floor, threshold / 8))  // untracked pairs may remain
                heap = trackedHeap()
                continue
            }
            let current = pairCounts[Int(top.pair)]
            if current != top.count {
                // Stale: the count fell since the push. Re-queue with today's count.
                if current > 0 { heap.push(MergeCandidate(count: current, key: top.key, pair: top.pair)) }
                continue
            }
            if current < threshold {
                // The best tracked pair is under the threshold: an untracked one may be better.
                if threshold == floor { return nil }  // HF: `min_frequency > top.count` ends training
                recount(threshold: max(floor, threshold / 8))
                heap = trackedHeap()
                continue
            }
            return top
        }
    }

    /// Decodes the holders of pair `p` into `holders`, drops its list, and returns how many.
    private func takeHolders(_ p: Int) -> Int {
        let bytes = Int(listBytes[p])
        if bytes > holderRoom {
            holders.deallocate()
            holderRoom = max(bytes, 2 * holderRoom)
            holders = .allocate(capacity: holderRoom)
        }
        let n = pool.decode(offset: listOffsets[p], count: bytes, into: holders)
        pool.drop(bytes)
        listBytes[p] = 0
        return n
    }

    /// Merges pair `top` into `newId` in every word that holds it, on all threads when there
    /// are many; the workers also look up the pairs that lost counts.
    private func rewrite(_ top: MergeCandidate, _ newId: UInt32) -> Step {
        let n = takeHolders(Int(top.pair))
        let chunks = threads > 1 && n >= parallelMinimum ? threads : 1
        let (symbols, words, workers, index, holders) = (
            self.symbols, self.words, self.workers, pairIndex, self.holders
        )
        let (left, right) = (UInt32(truncatingIfNeeded: top.key >> 32), UInt32(truncatingIfNeeded: top.key))
        let (l, r, id) = (Symbol(left), Symbol(right), Symbol(newId))
        team.run(chunks) { t in
            let slice = UnsafeBufferPointer(
                start: holders + n * t / chunks, count: n * (t + 1) / chunks - n * t / chunks)
            workers[t].rewrite(slice, symbols: symbols, words: words, left: l, right: r, newId: id)
            workers[t].findLostPairs(index, left: left, right: right)
        }
        return Step(pair: Int(top.pair), key: top.key, workers: 0..<chunks, ranAhead: false)
    }

    /// Starts the step after `step` on a helper, to run while `step` is folded, when its pair is
    /// sure to be the next one: the heap's best (stale candidates re-queued), unless the fold
    /// may lower its count (a pair ending in the merged left token or starting with the right
    /// one), a new pair of `step` outranks it, it is under the threshold, or its list is long
    /// enough for all threads (`parallelMinimum`). Counts only fall, so no other pair can pass it.
    private func runAhead(_ heap: inout PairHeap, after step: Step, bestNew: MergeCandidate?, newId: UInt32) -> Step? {
        let (left, right) = (UInt32(truncatingIfNeeded: step.key >> 32), UInt32(truncatingIfNeeded: step.key))
        while let top = heap.pop() {
            let (a, b) = (UInt32(truncatingIfNeeded: top.key >> 32), UInt32(truncatingIfNeeded: top.key))
            let current = pairCounts[Int(top.pair)]
            if b != left && a != right && current != top.count {
                if current > 0 { heap.push(MergeCandidate(count: current, key: top.key, pair: top.pair)) }
                continue
            }
            if b == left || a == right || current < threshold || Int(listBytes[Int(top.pair)]) >= parallelMinimum
                || bestNew?.outranks(top) == true
            {
                heap.push(top)
                return nil
            }
            let n = takeHolders(Int(top.pair))
            let w = step.workers.upperBound % workerCount
            let (symbols, words, workers, holders) = (self.symbols, self.words, self.workers, self.holders)
            let (l, r, id) = (Symbol(a), Symbol(b), Symbol(newId))
            team.start { _ in
                workers[w].rewrite(
                    UnsafeBufferPointer(start: holders, count: n), symbols: symbols, words: words, left: l, right: r,
                    newId: id)
            }
            return Step(pair: Int(top.pair), key: top.key, workers: w..<w + 1, ranAhead: true)
        }
        return nil
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

    /// Folds the notes of `step`'s workers into the tables (its new pairs gathered already).
    private func fold(_ step: Step, _ newId: UInt32) {
        let stepWorkers = UnsafeMutableBufferPointer(
            start: workers + step.workers.lowerBound, count: step.workers.count)
        if step.ranAhead {
            let (left, right) = (UInt32(truncatingIfNeeded: step.key >> 32), UInt32(truncatingIfNeeded: step.key))
            stepWorkers[0].findLostPairs(pairIndex, left: left, right: right)
        }
        absorbNewPairs(stepWorkers, newId)
        absorbLosses(stepWorkers, pairKey(newId, UInt32(truncatingIfNeeded: step.key >> 32)))
        pairCounts[step.pair] = 0
    }

    /// Adds up the pairs the workers of `step` saw gain, in worker order, into `groups`, and
    /// returns the best of those seen `threshold` times or more.
    private func gatherNewPairs(_ step: Step, _ newId: UInt32) -> MergeCandidate? {
        var groups = NewPairGroups(tokenCount: 0)
        swap(&groups, &self.groups)
        defer { swap(&groups, &self.groups) }
        for t in step.workers {
            workers[t].slots.removeAll(keepingCapacity: true)
            for i in 0..<workers[t].newKeys.count {
                let g = groups.group(workers[t].newKeys[i], newId)
                groups.counts[g] += workers[t].newCounts[i]
                workers[t].slots.append(Int32(g))
            }
        }
        var best: MergeCandidate?
        for g in groups.keys.indices where groups.counts[g] >= threshold {
            let candidate = MergeCandidate(count: groups.counts[g], key: groups.keys[g], pair: -1)
            if best.map({ candidate.outranks($0) }) ?? true { best = candidate }
        }
        return best
    }

    /// Creates the gathered new pairs seen `threshold` times or more and writes their holder
    /// lists: each worker's words come after the previous worker's, so a pair's list is the
    /// workers' parts in worker order.
    private func absorbNewPairs(_ stepWorkers: UnsafeMutableBufferPointer<MergeWorker<Symbol>>, _ newId: UInt32) {
        var groups = NewPairGroups(tokenCount: 0)
        swap(&groups, &self.groups)
        defer { swap(&groups, &self.groups) }
        // Tracked groups become pairs in group order, their lists in the pool in that order.
        for g in groups.keys.indices where groups.counts[g] >= threshold {
            groups.slots[g] = pairSlot(groups.keys[g])
            pairCounts[groups.slots[g]] = groups.counts[g]
        }
        listBytes.withUnsafeMutableBufferPointer { listBytes in
            groups.layParts(stepWorkers, listBytes: listBytes, pool: nil)
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
            groups.layParts(stepWorkers, listBytes: listBytes, pool: pool.bytes)
        }
        groups.removeAll(newId: newId)
    }

    /// Takes away the counts (token, left) and (right, token) lost (the workers found their
    /// slots), and drops the lists of pairs that no longer occur.
    private func absorbLosses(_ stepWorkers: UnsafeMutableBufferPointer<MergeWorker<Symbol>>, _ newLeft: UInt64) {
        let newLeftSlot = pairIndex.get(newLeft)
        var dropped = 0
        pairCounts.withUnsafeMutableBufferPointer { counts in
            listBytes.withUnsafeMutableBufferPointer { bytes in
                for t in stepWorkers.indices {
                    for k in stepWorkers[t].lostSlots.indices where stepWorkers[t].lostSlots[k] != -1 {
                        let s = Int(stepWorkers[t].lostSlots[k] == -2 ? newLeftSlot : stepWorkers[t].lostSlots[k])
                        if s < 0 { continue }
                        counts[s] -= stepWorkers[t].lostCounts[k]
                        if counts[s] == 0 && bytes[s] > 0 {
                            dropped += Int(bytes[s])
                            bytes[s] = 0
                        }
                    }
                }
            }
        }
        pool.drop(dropped)
    }
}

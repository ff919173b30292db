// The fast BPE trainer: incremental merges over unique words with a lazy-refresh max-heap, the
// algorithm of HF tokenizers' `BpeTrainer::do_train` and karpathy/rustbpe. Its merges equal the
// naive recount-everything trainer in Tests/BPETests/ReferenceTrainer.swift, merge for merge,
// and HF's on the same documents (Tests/BPETests/HuggingFaceParityTests.swift).

/// Learns byte-level BPE merges from counted pre-token words.
///
/// Each step merges the adjacent token pair with the highest total count, where a word that
/// occurs c times and holds the pair k times (overlaps included: "aaa" holds (a, a) twice)
/// adds k·c. **Tie-break rule: the highest count wins; among equal counts, the smallest
/// (left id, right id) pair, compared left id first.** This is HF tokenizers' `Merge` order,
/// and with HF's base id order (`ByteLevel.idOfByte`) it gives HF's merges. A merge rewrites
/// each word left to right without overlaps ("aaa" with (a, a) becomes "aa a"). Merge i makes
/// token 256 + i; special tokens take the last ids. Training stops early when no pair is left.
public struct BPETrainer: Sendable {
    /// The requested vocabulary size V: 256 bytes + merges + special tokens.
    public let vocabSize: Int
    /// Special tokens, given ids V - specialTokens.count ..< V in this order.
    public let specialTokens: [String]
    /// HF's `min_frequency`: no merge of a pair that occurs fewer times (0 or 1: no limit).
    public let minFrequency: Int

    /// The largest vocabulary the trainer accepts (2^20; GPT-4's is about 100,000).
    public static let maxVocabSize = 1 << 20

    /// Number of merges a full training run learns.
    public var mergeTarget: Int { vocabSize - 256 - specialTokens.count }

    public init(vocabSize: Int, specialTokens: [String] = ["<|endoftext|>"], minFrequency: Int = 0) throws {
        let minimum = 256 + specialTokens.count
        guard vocabSize >= minimum else {
            throw BPEError.vocabularyTooSmall(requested: vocabSize, minimum: minimum)
        }
        guard vocabSize <= Self.maxVocabSize else {
            throw BPEError.vocabularyTooLarge(requested: vocabSize, maximum: Self.maxVocabSize)
        }
        guard minFrequency >= 0 else { throw BPEError.invalidMinFrequency(minFrequency) }
        var seen = Set<String>()
        for token in specialTokens where token.isEmpty || !seen.insert(token).inserted {
            throw BPEError.invalidSpecialToken(token)
        }
        self.vocabSize = vocabSize
        self.specialTokens = specialTokens
        self.minFrequency = minFrequency
    }

    /// Learns the merges from `counts` and returns the tokenizer they define.
    /// `progress(mergesDone, mergesTotal)` is called now and then, and once at the end.
    public func train(_ counts: WordCounter, progress: ((Int, Int) -> Void)? = nil) -> Tokenizer {
        var learner = MergeLearner(counts)
        learner.minFrequency = Int64(minFrequency)
        let merges = learner.learn(mergeTarget, progress: progress)
        return Tokenizer(validMerges: merges, specialTokens: specialTokens)
    }
}

/// The training state: every distinct word as a run of token ids, and per pair its count and
/// the words that may hold it (a superset: words lose pairs, lists are never pruned).
struct MergeLearner {
    /// Where a word's ids start in `symbols`, how many it has now, and how often it occurs;
    /// kept in one 16-byte record because visiting a word is a cache miss (the merge loop is
    /// memory-bound: one record and one run of symbols per visit).
    struct Word {
        var start: UInt32
        var length: UInt32
        var count: Int64
    }

    var symbols: [UInt32] = []
    var words: [Word] = []
    /// Training stops when the best pair's count is below this (BPETrainer.minFrequency).
    var minFrequency: Int64 = 0

    var pairIndex = PairMap(minimumCapacity: 1 << 16)
    var pairKeys: [UInt64] = []
    var pairCounts: [Int64] = []
    var pairWords: [[UInt32]] = []

    init(_ counter: WordCounter) {
        symbols.reserveCapacity(counter.wordBytes)
        let idOfByte = ByteLevel.idOfByte
        counter.forEachWord { word, count in
            guard word.count >= 2 else { return }  // a one-byte word holds no pair
            precondition(symbols.count + word.count < Int(UInt32.max), "word table beyond 4 GB")
            words.append(Word(start: UInt32(symbols.count), length: UInt32(word.count), count: count))
            for b in word { symbols.append(idOfByte[Int(b)]) }
        }
        countPairs()
    }

    /// Counts every adjacent pair of every word and records which words hold it.
    private mutating func countPairs() {
        for w in 0..<words.count {
            let start = Int(words[w].start)
            let c = words[w].count
            for j in start..<(start + Int(words[w].length) - 1) {
                let p = pairSlot(pairKey(symbols[j], symbols[j + 1]))
                pairCounts[p] += c
                if pairWords[p].last != UInt32(w) { pairWords[p].append(UInt32(w)) }
            }
        }
    }

    /// The slot of a pair, created with count 0 if new.
    @inline(__always)
    private mutating func pairSlot(_ key: UInt64) -> Int {
        let next = Int32(pairKeys.count)
        let (slot, inserted) = pairIndex.getOrInsert(key) { next }
        if inserted {
            pairKeys.append(key)
            pairCounts.append(0)
            pairWords.append([])
        }
        return Int(slot)
    }

    /// Runs up to `target` merges and returns them as (left, right) id pairs.
    mutating func learn(_ target: Int, progress: ((Int, Int) -> Void)?) -> [(UInt32, UInt32)] {
        var candidates: [MergeCandidate] = []
        for p in 0..<pairKeys.count where pairCounts[p] > 0 {
            candidates.append(MergeCandidate(count: pairCounts[p], key: pairKeys[p], pair: Int32(p)))
        }
        var heap = PairHeap(candidates)
        var merges: [(UInt32, UInt32)] = []
        merges.reserveCapacity(max(0, target))
        let every = max(1, target / 100)
        while merges.count < target, let top = heap.pop() {
            let p = Int(top.pair)
            let current = pairCounts[p]
            if current != top.count {
                // Stale: the count fell since the push. Re-queue with today's count.
                if current > 0 {
                    heap.push(MergeCandidate(count: current, key: top.key, pair: top.pair))
                }
                continue
            }
            if current < minFrequency { break }
            let left = UInt32(truncatingIfNeeded: top.key >> 32)
            let right = UInt32(truncatingIfNeeded: top.key)
            let newId = UInt32(256 + merges.count)
            merges.append((left, right))
            let firstNewPair = pairKeys.count
            let holders = pairWords[p]
            pairWords[p] = []
            for w in holders { mergeWord(Int(w), left, right, newId) }
            pairCounts[p] = 0
            // Every pair with a positive change holds the new token, so it is new in this step.
            for q in firstNewPair..<pairKeys.count where pairCounts[q] > 0 {
                heap.push(MergeCandidate(count: pairCounts[q], key: pairKeys[q], pair: Int32(q)))
            }
            if let progress, merges.count % every == 0 { progress(merges.count, target) }
        }
        progress?(merges.count, target)
        return merges
    }

    /// Replaces (left, right) by `newId` in word `w`, left to right without overlaps, and
    /// moves the counts of the neighbouring pairs (HF's `Word::merge` changes).
    @inline(__always)
    private mutating func mergeWord(_ w: Int, _ left: UInt32, _ right: UInt32, _ newId: UInt32) {
        let word = words[w]
        let start = Int(word.start)
        let n = Int(word.length)
        let c = word.count
        var read = 0
        var write = 0
        while read < n {
            let s = symbols[start + read]
            if s == left && read + 1 < n && symbols[start + read + 1] == right {
                if write > 0 {
                    let before = symbols[start + write - 1]
                    pairCounts[existingSlot(pairKey(before, left))] -= c
                    addOccurrence(pairKey(before, newId), c, w)
                }
                if read + 2 < n {
                    let after = symbols[start + read + 2]
                    pairCounts[existingSlot(pairKey(right, after))] -= c
                    addOccurrence(pairKey(newId, after), c, w)
                }
                symbols[start + write] = newId
                read += 2
            } else {
                symbols[start + write] = s
                read += 1
            }
            write += 1
        }
        words[w].length = UInt32(write)
    }

    @inline(__always)
    private func existingSlot(_ key: UInt64) -> Int {
        let slot = pairIndex.get(key)
        assert(slot >= 0, "a pair that occurs must have been counted")
        return Int(slot)
    }

    @inline(__always)
    private mutating func addOccurrence(_ key: UInt64, _ c: Int64, _ w: Int) {
        let p = pairSlot(key)
        pairCounts[p] += c
        if pairWords[p].last != UInt32(w) { pairWords[p].append(UInt32(w)) }
    }
}

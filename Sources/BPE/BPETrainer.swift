// The fast BPE trainer: incremental merges over unique words with a lazy-refresh max-heap, the
// algorithm of HF tokenizers' `BpeTrainer::do_train` and karpathy/rustbpe, on all cores
// (MergeLearner.swift) and in little memory per distinct word (HolderPool.swift). Its merges
// equal the naive recount-everything trainer in Tests/BPETests/ReferenceTrainer.swift, merge
// for merge, and HF's on the same documents (Tests/BPETests/HuggingFaceParityTests.swift).
import Basics

/// Learns byte-level BPE merges from counted pre-token words.
///
/// Each step merges the adjacent token pair with the highest total count, where a word that
/// occurs c times and holds the pair k times (overlaps included: "aaa" holds (a, a) twice)
/// adds k·c. **Tie-break rule: the highest count wins; among equal counts, the smallest
/// (left id, right id) pair, compared left id first.** This is HF tokenizers' `Merge` order,
/// and with HF's base id order (`ByteLevel.idOfByte`) it gives HF's merges. A merge rewrites
/// each word left to right without overlaps ("aaa" with (a, a) becomes "aa a"). Merge i makes
/// token 256 + i; special tokens take the last ids. Training stops early when no pair is left,
/// or, with `minFrequency`, when the best pair occurs fewer times (HF's `min_frequency`).
/// The merges are the same for any number of threads.
public struct BPETrainer: Sendable {
    /// The requested vocabulary size V: 256 bytes + merges + special tokens.
    public let vocabSize: Int
    /// Special tokens, given ids V - specialTokens.count ..< V in this order.
    public let specialTokens: [String]
    /// HF's `min_frequency`: no merge of a pair that occurs fewer times (0 or 1: no limit).
    public let minFrequency: Int

    /// The largest vocabulary the trainer accepts (2^20; GPT-4's is about 100,000).
    public static let maxVocabSize = 1 << 20

    /// Fewest holders of a pair for which a merge step runs on several threads (below that,
    /// handing work to the merge loop's waiting helpers costs more than it saves). Tests lower it.
    var parallelMinimumHolders = 256

    /// Fewest occurrences of a pair the trainer tracks at first (see MergeLearner.swift); the
    /// merges do not depend on it. Tests raise it.
    var trackingThreshold: Int64 = 64

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

    /// About how much memory training on `uniqueWords` distinct words of `wordBytes` bytes in all
    /// takes: each word's token ids (2 bytes per byte below 65,535 tokens, else 4), its start
    /// and count (8 bytes), and the lists of words holding each pair (1-3 bytes per pair in a
    /// word, with room for the lists the merges add before the pool is compacted, and a merge
    /// step's scratch). Measured at 17.3 M words of about 8.8 bytes (10 GB of Zipfian text): 53
    /// bytes per word, where this gives 61.
    public func estimatedMemoryBytes(uniqueWords: Int, wordBytes: Int) -> Int {
        let symbolBytes = 256 + mergeTarget < Int(UInt16.max) ? 2 : 4
        return wordBytes * (symbolBytes + 4) + uniqueWords * 8
    }

    /// Learns the merges from `counts` on `threads` threads and returns the tokenizer they
    /// define. `progress(mergesDone, mergesTotal)` is called now and then, and once at the end.
    /// With `releasingCounts`, `counts` is emptied (its table freed) as soon as the trainer has
    /// copied its words, so the counter's table and the trainer's words are never held together.
    public func train(
        _ counts: WordCounter, threads: Int = Parallelism.defaultThreads, releasingCounts: Bool = false,
        progress: ((Int, Int) -> Void)? = nil
    ) -> Tokenizer {
        let tokenCount = 256 + mergeTarget
        let merges =
            tokenCount < Int(UInt16.max)
            ? learn(MergeLearner<UInt16>.self, counts, tokenCount, threads, releasingCounts, progress)
            : learn(MergeLearner<UInt32>.self, counts, tokenCount, threads, releasingCounts, progress)
        return Tokenizer(validMerges: merges, specialTokens: specialTokens)
    }

    private func learn<Symbol>(
        _: MergeLearner<Symbol>.Type, _ counts: WordCounter, _ tokenCount: Int, _ threads: Int,
        _ releasingCounts: Bool, _ progress: ((Int, Int) -> Void)?
    ) -> [(UInt32, UInt32)] {
        let learner = MergeLearner<Symbol>(
            counts, tokenCount: tokenCount, threads: threads, parallelMinimum: parallelMinimumHolders,
            threshold: trackingThreshold, floor: Int64(minFrequency), releasingCounts: releasingCounts)
        return learner.learn(mergeTarget, progress: progress)
    }
}

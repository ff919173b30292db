// The merge ranks the encoder looks up, (left, right) -> rank, as one flat open-addressing
// array of UInt64: each slot packs the pair (20 bits each) and its rank (24 bits), so a lookup
// reads one word and touches one cache line. (`PairMap`, keys and values in two arrays, serves
// the trainer, which also updates its values.) Ids must be below 2^20, as the trainer's are.

/// Merge pair -> rank, read-only, for vocabularies of at most `RankTable.maxVocabSize` tokens.
struct RankTable: Sendable {
    /// The largest vocabulary whose ids fit the 20-bit fields.
    static let maxVocabSize = 1 << 20
    private static let empty = UInt64.max
    private let slots: [UInt64]
    private let mask: Int

    /// The ranks of `merges` (merge i has rank i); a pair listed twice keeps its first rank.
    init(_ merges: [(UInt32, UInt32)]) {
        precondition(256 + merges.count <= RankTable.maxVocabSize, "too many merges for RankTable")
        var c = 16
        while c < merges.count * 2 { c <<= 1 }
        mask = c - 1
        var slots = [UInt64](repeating: RankTable.empty, count: c)
        for (rank, (left, right)) in merges.enumerated() {
            let key = UInt64(left) << 20 | UInt64(right)
            var i = RankTable.slot(key, mask)
            while slots[i] != RankTable.empty && slots[i] >> 24 != key { i = (i + 1) & mask }
            if slots[i] == RankTable.empty { slots[i] = key << 24 | UInt64(rank) }
        }
        self.slots = slots
    }

    @inline(__always)
    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 24) & mask
    }

    /// The rank of the merge of `left` and `right`, or -1 if they do not merge.
    @inline(__always)
    func rank(_ left: UInt32, _ right: UInt32) -> Int32 {
        let key = UInt64(left) << 20 | UInt64(right)
        return slots.withUnsafeBufferPointer { s in
            var i = RankTable.slot(key, mask)
            while true {
                let entry = s[i]
                if entry == RankTable.empty { return -1 }
                if entry >> 24 == key { return Int32(truncatingIfNeeded: entry & 0xFF_FFFF) }
                i = (i + 1) & mask
            }
        }
    }
}

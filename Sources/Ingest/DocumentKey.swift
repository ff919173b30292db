// A document's identity: the first 16 bytes of its SHA-256. Exact duplicates share a key, and the
// train/val split is a pure function of the key, so the split never depends on document order.
import Basics

struct DocumentKey: Hashable, Comparable {
    let hi: UInt64
    let lo: UInt64

    init(_ bytes: UnsafeRawBufferPointer) {
        var h = SHA256()
        h.update(bytes)
        let d = h.finalizeWords()
        hi = UInt64(d.0) << 32 | UInt64(d.1)
        lo = UInt64(d.2) << 32 | UInt64(d.3)
    }

    init(hi: UInt64, lo: UInt64) {
        self.hi = hi
        self.lo = lo
    }

    /// True when the document belongs to the validation split: its hash, read as a fraction of
    /// 2^64, is below `fraction`.
    func isValidation(fraction: Double) -> Bool {
        guard fraction > 0 else { return false }
        return Double(hi) / 18_446_744_073_709_551_616.0 < fraction
    }

    static func < (a: DocumentKey, b: DocumentKey) -> Bool { (a.hi, a.lo) < (b.hi, b.lo) }
}

/// The keys of the documents kept so far, to drop exact duplicates: open addressing over the
/// 16-byte keys themselves (already uniform hashes), at most 3/4 full, so its memory is known
/// exactly (`bytes`: 21-43 bytes per document). The all-zero key marks an empty slot and is
/// kept aside.
struct DocumentKeySet {
    private var slots = [DocumentKey](repeating: DocumentKey(hi: 0, lo: 0), count: 1 << 10)
    private(set) var count = 0
    private var hasZero = false

    /// Bytes the slots take.
    var bytes: Int { slots.count * MemoryLayout<DocumentKey>.stride }

    /// Adds `key`; false when it was there already.
    mutating func insert(_ key: DocumentKey) -> Bool {
        if key.hi == 0 && key.lo == 0 {
            guard !hasZero else { return false }
            hasZero = true
            count += 1
            return true
        }
        if (count + 1) * 4 > slots.count * 3 { grow() }
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: key.lo) & mask
        while true {
            let s = slots[i]
            if s == key { return false }
            if s.hi == 0 && s.lo == 0 {
                slots[i] = key
                count += 1
                return true
            }
            i = (i + 1) & mask
        }
    }

    private mutating func grow() {
        let old = slots
        slots = [DocumentKey](repeating: DocumentKey(hi: 0, lo: 0), count: old.count * 2)
        let mask = slots.count - 1
        for key in old where key.hi != 0 || key.lo != 0 {
            var i = Int(truncatingIfNeeded: key.lo) & mask
            while slots[i].hi != 0 || slots[i].lo != 0 { i = (i + 1) & mask }
            slots[i] = key
        }
    }
}

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

    /// True when the document belongs to the validation split: its hash, read as a fraction of
    /// 2^64, is below `fraction`.
    func isValidation(fraction: Double) -> Bool {
        guard fraction > 0 else { return false }
        return Double(hi) / 18_446_744_073_709_551_616.0 < fraction
    }

    static func < (a: DocumentKey, b: DocumentKey) -> Bool { (a.hi, a.lo) < (b.hi, b.lo) }
}

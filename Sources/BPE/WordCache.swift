// The encoder's cache of short pieces (up to 16 bytes, 99.8% of the pieces of English text):
// the key is the piece's bytes themselves, as two zero-padded little-endian words and the
// length, so a lookup is two loads, one multiply-hash and one compare, without touching any
// arena. Up to six ids sit in the slot when the vocabulary fits 16 bits (three otherwise),
// longer results in `overflow`. Longer pieces go through a `ByteKeyTable` in the encoder.
//
// Slots come in buckets of four (128 bytes, two cache lines) and a piece lives only in its
// bucket. The table grows up to `maxCapacity` slots; from then on a new piece takes the front
// of its full bucket and the last one drops out, and a hit moves a piece one place forward, so
// the frequent pieces stay while the cache keeps holding as many as it has room for (emptying
// it whole, as before, kept it half full on average: on text with millions of distinct words
// most of the misses). `touch` prefetches a bucket ahead of its lookup, so that the encoder can
// start the cache misses of many pieces at once.

#if canImport(Glibc)
    import Glibc
#endif

/// Asks the kernel to back the whole 2 MiB pages inside `[p, p + bytes)` with huge pages
/// (transparent huge pages, whose usual mode applies them only where asked): a table of
/// hundreds of MB probed at random otherwise misses the TLB on nearly every lookup, and the
/// profile of a 1 GB ingest has half of counting's and encoding's time on the first load of a
/// probe. Call before the memory is first written; small regions are left alone.
func adviseHugePages(_ p: UnsafeMutableRawPointer, bytes: Int) {
    #if canImport(Glibc)
        let huge = 2 << 20
        let start = (Int(bitPattern: p) + huge - 1) & ~(huge - 1)
        let end = (Int(bitPattern: p) + bytes) & ~(huge - 1)
        guard end - start >= huge else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, Int32(MADV_HUGEPAGE))
    #endif
}

/// Short piece -> ids, 4-way buckets of 32-byte slots.
final class WordCache {
    struct Slot {
        var lo: UInt64
        var hi: UInt64
        /// length | count << 8; 0 marks an empty slot (pieces are never empty).
        var tag: UInt32
        /// Up to three 32-bit ids, or six 16-bit ids (`narrow`, id k in bits 16 (k % 2) of word
        /// k / 2), or where the ids start in `overflow`.
        var a: UInt32
        var b: UInt32
        var c: UInt32
    }

    /// The longest piece the cache holds, in bytes.
    static let maxLength = 16
    /// The most ids a slot holds itself (with 16-bit ids); callers leave this much room.
    static let inlineIds = 6
    /// Slots per bucket.
    static let ways = 4

    private(set) var slots: UnsafeMutablePointer<Slot>
    /// Slots in all, a power of two, at least `ways`.
    private(set) var capacity: Int
    /// The bucket of a hash is its top bits: hash >> shift.
    private var shift: UInt64
    private(set) var count = 0
    /// The table stops growing at this many slots, and then replaces pieces.
    let maxCapacity: Int
    /// Ids are below 2^16: six fit in a slot.
    let narrow: Bool
    private let inlineCount: Int
    /// The ids of pieces that have more than fit in a slot.
    private var overflow: [UInt32] = []

    /// A cache of at most `maxCapacity` slots (rounded up to a power of two, 32 bytes each).
    init(capacity: Int = 1 << 10, maxCapacity: Int = 1 << 21, narrow: Bool) {
        var m = WordCache.ways
        while m < maxCapacity { m <<= 1 }
        var c = WordCache.ways
        while c < min(capacity, m) { c <<= 1 }
        self.capacity = c
        self.maxCapacity = m
        self.narrow = narrow
        inlineCount = narrow ? 6 : 3
        shift = UInt64(64 - (c / WordCache.ways).trailingZeroBitCount)
        slots = WordCache.allocate(c)
    }

    deinit {
        slots.deallocate()
    }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Slot> {
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: count * MemoryLayout<Slot>.stride, alignment: WordCache.ways * MemoryLayout<Slot>.stride)
        adviseHugePages(raw, bytes: count * MemoryLayout<Slot>.stride)
        let slots = raw.bindMemory(to: Slot.self, capacity: count)
        slots.initialize(repeating: Slot(lo: 0, hi: 0, tag: 0, a: 0, b: 0, c: 0), count: count)
        return slots
    }

    /// The key of the `length` (1...16) bytes at `p`, of which `available` may be read.
    @inline(__always)
    static func key(_ p: UnsafeRawPointer, _ length: Int, available: Int) -> (lo: UInt64, hi: UInt64) {
        if available >= 16 {
            let w0 = UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
            if length <= 8 { return (w0 & (UInt64.max >> UInt64(64 - 8 * length)), 0) }
            let w1 = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            return (w0, w1 & (UInt64.max >> UInt64(128 - 8 * length)))
        }
        var lo: UInt64 = 0
        var hi: UInt64 = 0
        for i in 0..<length {
            let b = UInt64(p.load(fromByteOffset: i, as: UInt8.self))
            if i < 8 { lo |= b << UInt64(8 * i) } else { hi |= b << UInt64(8 * (i - 8)) }
        }
        return (lo, hi)
    }

    /// The hash of a key; its top bits choose the bucket.
    @inline(__always)
    static func hash(_ lo: UInt64, _ hi: UInt64, _ length: Int) -> UInt64 {
        // Each top bit of a product depends on every bit of the factor.
        ((lo ^ UInt64(truncatingIfNeeded: length) << 59) &* 0x9E37_79B9_7F4A_7C15)
            ^ (hi &* 0xC2B2_AE3D_27D4_EB4F)
    }

    @inline(__always)
    private func bucket(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: hash >> shift) &* WordCache.ways
    }

    /// Prefetches both cache lines of the hash's bucket: issued for many pieces before their
    /// lookups, the misses overlap instead of waiting one by one.
    @inline(__always)
    func touch(_ hash: UInt64) {
        let s = slots + bucket(hash)
        prefetch(s)
        prefetch(s + 2)
    }

    /// The slot of the key, or -1. A hit past the front of its bucket trades places with the
    /// piece before it (which is why a lookup may move slots).
    @inline(__always)
    func find(_ lo: UInt64, _ hi: UInt64, _ length: Int, hash: UInt64) -> Int {
        let first = bucket(hash)
        let tagLength = UInt32(truncatingIfNeeded: length)
        for i in first..<(first + WordCache.ways) {
            let tag = slots[i].tag
            if tag == 0 { return -1 }
            if tag & 0xFF == tagLength && slots[i].lo == lo && slots[i].hi == hi {
                guard i > first else { return i }
                let found = slots[i]
                slots[i] = slots[i - 1]
                slots[i - 1] = found
                return i - 1
            }
        }
        return -1
    }

    /// Writes the ids of the slot `slot` at `out` and returns how many; `out` needs room for
    /// at least `inlineIds` ids (all inline ids are copied, used or not).
    @inline(__always)
    func copyIds(_ slot: Int, to out: UnsafeMutablePointer<UInt32>) -> Int {
        let s = slots[slot]
        let n = Int(s.tag >> 8)
        if n > inlineCount {
            overflow.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + Int(s.a), count: n) }
        } else if narrow {
            out[0] = s.a & 0xFFFF
            out[1] = s.a >> 16
            out[2] = s.b & 0xFFFF
            out[3] = s.b >> 16
            out[4] = s.c & 0xFFFF
            out[5] = s.c >> 16
        } else {
            out[0] = s.a
            out[1] = s.b
            out[2] = s.c
        }
        return n
    }

    /// Stores the `n` ids at `ids` for a key that `find` did not find.
    func insert(_ lo: UInt64, _ hi: UInt64, _ length: Int, hash: UInt64, ids: UnsafePointer<UInt32>, _ n: Int) {
        if count * 4 >= capacity * 3 && capacity < maxCapacity { grow() }
        if overflow.count > 4 * capacity { removeAll() }
        var s = Slot(lo: lo, hi: hi, tag: UInt32(length) | UInt32(n) << 8, a: 0, b: 0, c: 0)
        if n > inlineCount {
            s.a = UInt32(overflow.count)
            overflow.append(contentsOf: UnsafeBufferPointer(start: ids, count: n))
        } else {
            var words: (UInt32, UInt32, UInt32) = (0, 0, 0)
            withUnsafeMutableBytes(of: &words) { raw in
                if narrow {
                    for k in 0..<n {
                        raw.storeBytes(of: UInt16(truncatingIfNeeded: ids[k]), toByteOffset: 2 * k, as: UInt16.self)
                    }
                } else {
                    for k in 0..<n { raw.storeBytes(of: ids[k], toByteOffset: 4 * k, as: UInt32.self) }
                }
            }
            (s.a, s.b, s.c) = words
        }
        place(s, bucket(hash))
    }

    /// Puts `s` into the first empty slot of the bucket starting at `first`; in a full bucket,
    /// at the front, the last piece dropping out.
    @inline(__always)
    private func place(_ s: Slot, _ first: Int) {
        for i in first..<(first + WordCache.ways) where slots[i].tag == 0 {
            slots[i] = s
            count += 1
            return
        }
        for i in stride(from: first + WordCache.ways - 1, to: first, by: -1) { slots[i] = slots[i - 1] }
        slots[first] = s
    }

    /// Forgets every piece but keeps the memory.
    func removeAll() {
        slots.update(repeating: Slot(lo: 0, hi: 0, tag: 0, a: 0, b: 0, c: 0), count: capacity)
        count = 0
        overflow.removeAll(keepingCapacity: true)
    }

    private func grow() {
        let old = slots
        let oldCapacity = capacity
        capacity *= 2
        shift -= 1
        slots = WordCache.allocate(capacity)
        count = 0
        for j in 0..<oldCapacity where old[j].tag != 0 {
            let s = old[j]
            place(s, bucket(WordCache.hash(s.lo, s.hi, Int(s.tag & 0xFF))))
        }
        old.deallocate()
    }
}

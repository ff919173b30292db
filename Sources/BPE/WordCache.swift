// The encoder's cache of short pieces (up to 16 bytes, 99.8% of the pieces of English text):
// the key is the piece's bytes themselves, as two zero-padded little-endian words and the
// length, so a lookup is two loads, one multiply-hash and one compare, without touching any
// arena; up to three ids sit in the slot (nearly every word), longer results in `overflow`.
// Longer pieces go through a `ByteKeyTable` in the encoder.
/// Short piece -> ids, open addressing with linear probing, 32-byte slots.
final class WordCache {
    struct Slot {
        var lo: UInt64
        var hi: UInt64
        /// length | count << 8; 0 marks an empty slot (pieces are never empty).
        var tag: UInt32
        /// The ids if there are at most three, else `a` is where they start in `overflow`.
        var a: UInt32
        var b: UInt32
        var c: UInt32
    }

    /// The longest piece the cache holds, in bytes.
    static let maxLength = 16
    /// Results of more ids than this go to `overflow`.
    static let inlineIds = 3

    private(set) var slots: UnsafeMutablePointer<Slot>
    private(set) var capacity: Int
    private var shift: UInt64
    private(set) var count = 0
    /// Past this many words the cache is emptied (bounds memory on endless input).
    let maxCount: Int
    private(set) var overflow: UnsafeMutablePointer<UInt32>
    private var overflowCapacity: Int
    private var overflowCount = 0

    init(capacity: Int = 1 << 10, maxCount: Int = 1 << 19) {
        var c = 16
        while c < capacity { c <<= 1 }
        self.capacity = c
        self.maxCount = maxCount
        shift = UInt64(64 - c.trailingZeroBitCount)
        slots = .allocate(capacity: c)
        slots.initialize(repeating: Slot(lo: 0, hi: 0, tag: 0, a: 0, b: 0, c: 0), count: c)
        overflowCapacity = c
        overflow = .allocate(capacity: overflowCapacity)
    }

    deinit {
        slots.deallocate()
        overflow.deallocate()
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

    @inline(__always)
    static func hash(_ lo: UInt64, _ hi: UInt64, _ length: Int) -> UInt64 {
        // The slot index is the top bits: each depends on every bit of lo and hi.
        ((lo ^ UInt64(truncatingIfNeeded: length) << 59) &* 0x9E37_79B9_7F4A_7C15)
            ^ (hi &* 0xC2B2_AE3D_27D4_EB4F)
    }

    /// The slot of the key if present, else `-(slot + 1)` for the empty slot to fill.
    @inline(__always)
    func probe(_ lo: UInt64, _ hi: UInt64, _ length: Int) -> Int {
        let mask = capacity - 1
        var i = Int(truncatingIfNeeded: WordCache.hash(lo, hi, length) >> shift)
        let tagLength = UInt32(truncatingIfNeeded: length)
        while true {
            let s = slots + i
            let tag = s.pointee.tag
            if tag == 0 { return -(i + 1) }
            if tag & 0xFF == tagLength && s.pointee.lo == lo && s.pointee.hi == hi { return i }
            i = (i + 1) & mask
        }
    }

    /// Writes the ids of the slot `slot` at `out` and returns how many.
    @inline(__always)
    func copyIds(_ slot: Int, to out: UnsafeMutablePointer<UInt32>) -> Int {
        let s = slots[slot]
        let n = Int(s.tag >> 8)
        if n <= WordCache.inlineIds {
            out[0] = s.a
            out[1] = s.b
            out[2] = s.c
        } else {
            out.update(from: overflow + Int(s.a), count: n)
        }
        return n
    }

    /// Stores the `n` ids at `ids` for a key known to be absent, at the empty slot `slot`
    /// that `probe` returned. The out buffer of `copyIds` needs room for three ids.
    func insert(
        _ lo: UInt64, _ hi: UInt64, _ length: Int, slot: Int, ids: UnsafePointer<UInt32>, _ n: Int
    ) {
        if count >= maxCount {
            removeAll()
            insert(lo, hi, length, slot: -probe(lo, hi, length) - 1, ids: ids, n)
            return
        }
        var s = Slot(lo: lo, hi: hi, tag: UInt32(length) | UInt32(n) << 8, a: 0, b: 0, c: 0)
        if n <= WordCache.inlineIds {
            s.a = ids[0]
            if n > 1 { s.b = ids[1] }
            if n > 2 { s.c = ids[2] }
        } else {
            if overflowCount + n > overflowCapacity { growOverflow(overflowCount + n) }
            (overflow + overflowCount).update(from: ids, count: n)
            s.a = UInt32(overflowCount)
            overflowCount += n
        }
        slots[slot] = s
        count += 1
        if count * 2 > capacity { rehash(capacity * 2) }
    }

    /// Forgets every piece but keeps the memory.
    func removeAll() {
        slots.update(repeating: Slot(lo: 0, hi: 0, tag: 0, a: 0, b: 0, c: 0), count: capacity)
        count = 0
        overflowCount = 0
    }

    private func growOverflow(_ minimum: Int) {
        var c = overflowCapacity * 2
        while c < minimum { c *= 2 }
        let bigger = UnsafeMutablePointer<UInt32>.allocate(capacity: c)
        bigger.update(from: overflow, count: overflowCount)
        overflow.deallocate()
        overflow = bigger
        overflowCapacity = c
    }

    private func rehash(_ newCapacity: Int) {
        let old = slots
        let oldCapacity = capacity
        capacity = newCapacity
        shift = UInt64(64 - newCapacity.trailingZeroBitCount)
        slots = .allocate(capacity: newCapacity)
        slots.initialize(repeating: Slot(lo: 0, hi: 0, tag: 0, a: 0, b: 0, c: 0), count: newCapacity)
        for j in 0..<oldCapacity where old[j].tag != 0 {
            let s = old[j]
            slots[-probe(s.lo, s.hi, Int(s.tag & 0xFF)) - 1] = s
        }
        old.deallocate()
    }
}

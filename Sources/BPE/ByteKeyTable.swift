// An open-addressing hash table from byte strings to an Int64, with the keys copied into one
// arena. It backs the word counter (word -> count) and the encoder's cache (word -> tokens).
// Why not `[String: Int]` or `[[UInt8]: Int]`: each key there is its own allocation and hashing
// goes through the generic Hasher; with tens of millions of lookups that dominates training.
// Each slot holds the key's first 8 bytes, so a lookup of a word of up to 8 bytes (most words)
// touches one cache line and never the arena.
/// LLVM's prefetch intrinsic: (address, 0 = read, locality 0...3, 1 = data cache).
@_silgen_name("llvm.prefetch.p0")
private func llvmPrefetch(_ p: UnsafeRawPointer, _ write: Int32, _ locality: Int32, _ data: Int32)

/// Asks the CPU to bring the cache line at `p` into all cache levels, without waiting for it.
/// Unlike a load, whose miss holds up the instructions behind it once the reorder buffer is
/// full, a prefetch retires at once: issued for a group of keys before their lookups, every
/// miss of the group is in flight together.
@inline(__always)
func prefetch(_ p: UnsafeRawPointer) {
    llvmPrefetch(p, 0, 3, 1)
}

/// Hash and first-8-bytes prefix (little-endian, zero padded) of `count` bytes at `p`.
@inline(__always)
func hashKey(_ p: UnsafeRawPointer, _ count: Int) -> (hash: UInt64, prefix: UInt64) {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(truncatingIfNeeded: count &+ 1)
    var prefix: UInt64 = 0
    var i = 0
    while i + 8 <= count {
        let w = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        if i == 0 { prefix = w }
        h = (h ^ w) &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 29
        i += 8
    }
    if i < count {
        var w: UInt64 = 0
        var shift: UInt64 = 0
        while i < count {
            w |= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << shift
            shift += 8
            i += 1
        }
        if count < 8 { prefix = w }
        h = (h ^ w) &* 0xC4CE_B9FE_1A85_EC53
    }
    h ^= h >> 32
    h = h &* 0xD6E8_FEB8_6659_FD93
    h ^= h >> 32
    return (h, prefix)
}

/// Byte-string keys (stored in an arena) mapped to Int64 values, in open-addressed slots.
final class ByteKeyTable {
    struct Slot {
        /// The key's first 8 bytes.
        var prefix: UInt64
        /// (hash high 32 bits) << 32 | key length; 0 marks an empty slot.
        var meta: UInt64
        /// Where the key's bytes start in the arena.
        var offset: Int
        var value: Int64
    }

    private(set) var slots: UnsafeMutablePointer<Slot>
    private(set) var capacity: Int
    private(set) var count = 0
    private(set) var arena: UnsafeMutablePointer<UInt8>
    private(set) var arenaCapacity: Int
    private(set) var arenaCount = 0
    /// The arena's size when the table was made, which `removeAll(keepingAtMost:)` goes back to.
    private let firstArenaCapacity: Int

    init(capacity: Int = 1 << 12) {
        var c = 16
        while c < capacity { c <<= 1 }
        self.capacity = c
        slots = .allocate(capacity: c)
        adviseHugePages(UnsafeMutableRawPointer(slots), bytes: c * MemoryLayout<Slot>.stride)
        slots.initialize(repeating: Slot(prefix: 0, meta: 0, offset: 0, value: 0), count: c)
        arenaCapacity = c * 4
        firstArenaCapacity = arenaCapacity
        arena = .allocate(capacity: arenaCapacity)
    }

    deinit {
        slots.deallocate()
        arena.deallocate()
    }

    /// Forgets every key but keeps the memory, except an arena that leaves the slots and arena
    /// together over `maxBytes`: it goes back to its first size. (One key longer than a spilling
    /// counter's budget grows the arena past the budget; kept, every later insert would find the
    /// table over its limit and spill a run of one word.)
    func removeAll(keepingAtMost maxBytes: Int = .max) {
        slots.update(repeating: Slot(prefix: 0, meta: 0, offset: 0, value: 0), count: capacity)
        count = 0
        arenaCount = 0
        if capacity * MemoryLayout<Slot>.stride + arenaCapacity > maxBytes && arenaCapacity > firstArenaCapacity {
            arena.deallocate()
            arenaCapacity = firstArenaCapacity
            arena = .allocate(capacity: arenaCapacity)
        }
    }

    @inline(__always)
    static func meta(_ hash: UInt64, _ length: Int) -> UInt64 {
        (hash & 0xFFFF_FFFF_0000_0000) | UInt64(truncatingIfNeeded: length) | 1 << 31
    }

    /// The slot index of the key if present, else `-(slot + 1)` for the empty slot to fill.
    @inline(__always)
    func probe(_ p: UnsafeRawPointer, _ length: Int, hash h: UInt64, prefix: UInt64) -> Int {
        let meta = ByteKeyTable.meta(h, length)
        var i = Int(truncatingIfNeeded: h) & (capacity - 1)
        while true {
            let s = slots[i]
            if s.meta == meta && s.prefix == prefix && (length <= 8 || sameTail(arena + s.offset, p, length)) {
                return i
            }
            if s.meta == 0 { return -(i + 1) }
            i = (i + 1) & (capacity - 1)
        }
    }

    /// Adds `delta` to the key's value, inserting the key with value `delta` if absent.
    @inline(__always)
    func add(_ p: UnsafeRawPointer, _ length: Int, _ delta: Int64) {
        let (h, prefix) = hashKey(p, length)
        add(p, length, delta, hash: h, prefix: prefix)
    }

    /// `add` with the key's `hashKey` already computed.
    @inline(__always)
    func add(_ p: UnsafeRawPointer, _ length: Int, _ delta: Int64, hash h: UInt64, prefix: UInt64) {
        let found = probe(p, length, hash: h, prefix: prefix)
        if found >= 0 {
            slots[found].value &+= delta
        } else {
            insert(p, length, delta, hash: h, prefix: prefix, slot: -found - 1)
        }
    }

    /// Whether the `length` (more than 8) bytes at `a` and `b` agree past their first 8, compared
    /// a word at a time (the last word may overlap the one before it) instead of calling `memcmp`:
    /// most keys are short, and the call cost more than the compare.
    @inline(__always)
    private func sameTail(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ length: Int) -> Bool {
        var i = 8
        while i + 8 < length {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                != b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            {
                return false
            }
            i += 8
        }
        return a.loadUnaligned(fromByteOffset: length - 8, as: UInt64.self)
            == b.loadUnaligned(fromByteOffset: length - 8, as: UInt64.self)
    }

    /// Prefetches the first slot a key of hash `h` probes: issued for many keys before their
    /// lookups, the cache misses overlap instead of waiting one by one.
    @inline(__always)
    func touch(_ h: UInt64) {
        prefetch(slots + (Int(truncatingIfNeeded: h) & (capacity - 1)))
    }

    /// After `touch(h)` (and once its slot has had time to arrive): for a key of more than 8
    /// bytes, whose rest is compared in the arena, prefetches that rest when the first slot it
    /// probes has its hash and length (the arena is a second miss, as large as the slots).
    @inline(__always)
    func touchKey(_ h: UInt64, _ length: Int) {
        guard length > 8 else { return }
        let s = slots[Int(truncatingIfNeeded: h) & (capacity - 1)]
        if s.meta == ByteKeyTable.meta(h, length) { prefetch(arena + s.offset + 8) }
    }

    /// Inserts a key known to be absent at the empty slot `slot` that `probe` returned.
    func insert(
        _ p: UnsafeRawPointer, _ length: Int, _ value: Int64, hash h: UInt64, prefix: UInt64,
        slot: Int
    ) {
        if arenaCount + length > arenaCapacity { growArena(minimum: arenaCount + length) }
        (arena + arenaCount).update(from: p.assumingMemoryBound(to: UInt8.self), count: length)
        slots[slot] = Slot(
            prefix: prefix, meta: ByteKeyTable.meta(h, length), offset: arenaCount, value: value)
        arenaCount += length
        count += 1
        if count * 2 > capacity { rehash(capacity * 2) }
    }

    /// Calls `body(key, value)` for every entry, in slot order.
    func forEach(_ body: (UnsafeRawBufferPointer, Int64) -> Void) {
        for i in 0..<capacity where slots[i].meta != 0 {
            let s = slots[i]
            let length = Int(truncatingIfNeeded: s.meta & 0x7FFF_FFFF)
            body(UnsafeRawBufferPointer(start: arena + s.offset, count: length), s.value)
        }
    }

    private func growArena(minimum: Int) {
        var c = arenaCapacity * 2
        while c < minimum { c *= 2 }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
        bigger.update(from: arena, count: arenaCount)
        arena.deallocate()
        arena = bigger
        arenaCapacity = c
    }

    private func rehash(_ newCapacity: Int) {
        let old = slots
        let oldCapacity = capacity
        capacity = newCapacity
        slots = .allocate(capacity: newCapacity)
        adviseHugePages(UnsafeMutableRawPointer(slots), bytes: newCapacity * MemoryLayout<Slot>.stride)
        slots.initialize(repeating: Slot(prefix: 0, meta: 0, offset: 0, value: 0), count: newCapacity)
        for j in 0..<oldCapacity where old[j].meta != 0 {
            let s = old[j]
            let length = Int(truncatingIfNeeded: s.meta & 0x7FFF_FFFF)
            let h = hashKey(arena + s.offset, length).hash
            var i = Int(truncatingIfNeeded: h) & (capacity - 1)
            while slots[i].meta != 0 { i = (i + 1) & (capacity - 1) }
            slots[i] = s
        }
        old.deallocate()
    }
}

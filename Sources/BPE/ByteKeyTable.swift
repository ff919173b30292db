// An open-addressing hash table from byte strings to an Int64, with the keys copied into one
// arena. It backs the word counter (word -> count) and the encoder's cache (word -> tokens).
// Why not `[String: Int]` or `[[UInt8]: Int]`: each key there is its own allocation and hashing
// goes through the generic Hasher; with tens of millions of lookups that dominates training.
#if canImport(Glibc)
    import Glibc
#endif

/// Hashes `count` bytes at `p` (8 bytes per step, multiply-xorshift mixing).
@inline(__always)
func hashBytes(_ p: UnsafeRawPointer, _ count: Int) -> UInt64 {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(truncatingIfNeeded: count &+ 1)
    var i = 0
    while i + 8 <= count {
        let w = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
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
        h = (h ^ w) &* 0xC4CE_B9FE_1A85_EC53
    }
    h ^= h >> 32
    h = h &* 0xD6E8_FEB8_6659_FD93
    h ^= h >> 32
    return h
}

/// Byte-string keys (stored in an arena) mapped to Int64 values; entries keep insertion order.
final class ByteKeyTable {
    struct Entry {
        var offset: Int
        var length: Int
        var value: Int64
    }

    /// slot = (hash tag << 32) | (entry index + 1); 0 is empty.
    private(set) var slots: UnsafeMutablePointer<UInt64>
    private(set) var capacity: Int
    private(set) var entries: UnsafeMutablePointer<Entry>
    private var entryCapacity: Int
    private(set) var count = 0
    private(set) var arena: UnsafeMutablePointer<UInt8>
    private var arenaCapacity: Int
    private(set) var arenaCount = 0

    init(capacity: Int = 1 << 12) {
        var c = 16
        while c < capacity { c <<= 1 }
        self.capacity = c
        slots = .allocate(capacity: c)
        slots.initialize(repeating: 0, count: c)
        entryCapacity = c / 2
        entries = .allocate(capacity: entryCapacity)
        arenaCapacity = c * 8
        arena = .allocate(capacity: arenaCapacity)
    }

    deinit {
        slots.deallocate()
        entries.deallocate()
        arena.deallocate()
    }

    /// Forgets every key but keeps the memory.
    func removeAll() {
        slots.update(repeating: 0, count: capacity)
        count = 0
        arenaCount = 0
    }

    /// The bytes of entry `e`.
    @inline(__always)
    func key(_ e: Entry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: arena + e.offset, count: e.length)
    }

    /// The entry index of the key if present, else `-(slot + 1)` for the empty slot to insert at.
    @inline(__always)
    func probe(_ p: UnsafeRawPointer, _ length: Int, hash h: UInt64) -> Int {
        let tag = h >> 32
        var i = Int(truncatingIfNeeded: h) & (capacity - 1)
        while true {
            let s = slots[i]
            if s == 0 { return -(i + 1) }
            if s >> 32 == tag {
                let index = Int(truncatingIfNeeded: s & 0xFFFF_FFFF) - 1
                let e = entries[index]
                if e.length == length && memcmp(arena + e.offset, p, length) == 0 { return index }
            }
            i = (i + 1) & (capacity - 1)
        }
    }

    /// Adds `delta` to the key's value (inserting it with `delta`); returns the entry index.
    @inline(__always)
    @discardableResult
    func add(_ p: UnsafeRawPointer, _ length: Int, _ delta: Int64) -> Int {
        let h = hashBytes(p, length)
        let found = probe(p, length, hash: h)
        if found >= 0 {
            entries[found].value &+= delta
            return found
        }
        return insert(p, length, delta, hash: h, slot: -found - 1)
    }

    /// Inserts a key known to be absent at the empty slot `slot` found for hash `h`.
    @discardableResult
    func insert(_ p: UnsafeRawPointer, _ length: Int, _ value: Int64, hash h: UInt64, slot: Int)
        -> Int
    {
        if arenaCount + length > arenaCapacity { growArena(minimum: arenaCount + length) }
        (arena + arenaCount).update(from: p.assumingMemoryBound(to: UInt8.self), count: length)
        if count == entryCapacity { growEntries() }
        entries[count] = Entry(offset: arenaCount, length: length, value: value)
        arenaCount += length
        slots[slot] = (h >> 32) << 32 | UInt64(count + 1)
        count += 1
        if count * 2 > capacity { rehash(capacity * 2) }
        return count - 1
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

    private func growEntries() {
        let c = entryCapacity * 2
        let bigger = UnsafeMutablePointer<Entry>.allocate(capacity: c)
        bigger.moveInitialize(from: entries, count: count)
        entries.deallocate()
        entries = bigger
        entryCapacity = c
    }

    private func rehash(_ newCapacity: Int) {
        slots.deallocate()
        capacity = newCapacity
        slots = .allocate(capacity: newCapacity)
        slots.initialize(repeating: 0, count: newCapacity)
        for index in 0..<count {
            let e = entries[index]
            let h = hashBytes(arena + e.offset, e.length)
            var i = Int(truncatingIfNeeded: h) & (capacity - 1)
            while slots[i] != 0 { i = (i + 1) & (capacity - 1) }
            slots[i] = (h >> 32) << 32 | UInt64(index + 1)
        }
    }
}

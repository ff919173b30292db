// The trainer's lists of which words hold each pair, compact: each list is a run of ascending
// word ids stored as LEB128 varint deltas (1 byte for gaps under 128, which most are), and all
// lists live in one byte pool. A list is written once, whole, when its pair appears (the
// initial count, or the merge step that creates the pair's new token), and read once, when the
// pair is merged; so no list ever grows in place. Dropped lists leave garbage that
// `compact(_:)` squeezes out in place, because lists lie in the pool in the order of their pairs
// (the trainer compacts once dropped lists are a quarter of the pool, so the pool stays within
// about 1.4 times its live lists).
import Glibc

/// A byte pool of varint-delta word lists, addressed by (offset, byte count).
struct HolderPool {
    private(set) var bytes: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    /// Bytes written so far, garbage included.
    private(set) var used = 0
    /// Bytes of dropped lists not yet squeezed out.
    private(set) var garbage = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 64)
        bytes = HolderPool.resize(nil, self.capacity)
    }

    func deallocate() { free(bytes) }

    /// `realloc`: a large pool grows in place or by remapping its pages, so growing never holds
    /// the old and the new pool at once.
    private static func resize(_ p: UnsafeMutablePointer<UInt8>?, _ capacity: Int) -> UnsafeMutablePointer<UInt8> {
        guard let raw = realloc(p, capacity) else { fatalError("out of memory for \(capacity) bytes of word lists") }
        return raw.bindMemory(to: UInt8.self, capacity: capacity)
    }

    /// Bytes the varint of `value` takes.
    @inline(__always)
    static func size(_ value: UInt32) -> Int {
        value < 1 << 7 ? 1 : value < 1 << 14 ? 2 : value < 1 << 21 ? 3 : value < 1 << 28 ? 4 : 5
    }

    /// Writes the varint of `value` at `p` and returns the bytes written.
    @inline(__always)
    static func put(_ value: UInt32, at p: UnsafeMutablePointer<UInt8>) -> Int {
        var v = value
        var i = 0
        while v >= 0x80 {
            p[i] = UInt8(truncatingIfNeeded: v) | 0x80
            v >>= 7
            i += 1
        }
        p[i] = UInt8(truncatingIfNeeded: v)
        return i + 1
    }

    /// Reserves `count` bytes at the end and returns their offset (the pool may move; it grows
    /// by an eighth).
    mutating func claim(_ count: Int) -> Int {
        if used + count > capacity {
            var c = capacity + capacity / 8
            while c < used + count { c += c / 8 }
            bytes = HolderPool.resize(bytes, c)
            capacity = c
        }
        used += count
        return used - count
    }

    /// Writes the ids of the list of `count` bytes at `offset` to `ids` (room for `count` ids:
    /// each takes a byte at least) and returns how many there are.
    func decode(offset: Int, count: Int, into ids: UnsafeMutablePointer<UInt32>) -> Int {
        var p = bytes + offset
        let end = p + count
        var id: UInt32 = 0
        var n = 0
        while p < end {
            var v = UInt32(p.pointee & 0x7F)
            var shift: UInt32 = 7
            while p.pointee & 0x80 != 0 {
                p += 1
                v |= UInt32(p.pointee & 0x7F) << shift
                shift += 7
            }
            p += 1
            id &+= v
            ids[n] = id
            n += 1
        }
        return n
    }

    /// Marks a list of `count` bytes as dropped.
    mutating func drop(_ count: Int) { garbage += count }

    /// Moves the live lists together (`offsets` in pool order, `counts` 0 for dropped lists).
    mutating func compact(offsets: inout [Int], counts: [UInt32]) {
        var write = 0
        for q in 0..<offsets.count where counts[q] > 0 {
            let n = Int(counts[q])
            if offsets[q] != write { memmove(bytes + write, bytes + offsets[q], n) }
            offsets[q] = write
            write += n
        }
        used = write
        garbage = 0
        // Hand the room freed back (a large pool shrinks in place, its tail pages unmapped).
        if capacity > used + used / 4 + (1 << 20) {
            capacity = max(64, used + used / 16)
            bytes = HolderPool.resize(bytes, capacity)
        }
    }
}

// An open-addressing hash map from a token pair, packed as (left << 32 | right), to an Int32.
// The trainer maps pairs to their slot in its pair arrays, the tokenizer maps pairs to merge
// ranks. A value type over plain arrays, so a `Tokenizer` holding one stays `Sendable`.

/// Packs a token pair into one key; keys compare like (left, right) tuples.
@inline(__always)
func pairKey(_ left: UInt32, _ right: UInt32) -> UInt64 { UInt64(left) << 32 | UInt64(right) }

/// Pair key -> Int32, linear probing; `UInt64.max` marks an empty slot (no token has id 2^32-1).
struct PairMap: Sendable {
    private static let empty = UInt64.max
    private(set) var keys: [UInt64]
    private(set) var values: [Int32]
    private(set) var count = 0
    private var mask: Int

    init(minimumCapacity: Int = 16) {
        var c = 16
        while c < minimumCapacity * 2 { c <<= 1 }
        keys = [UInt64](repeating: PairMap.empty, count: c)
        values = [Int32](repeating: 0, count: c)
        mask = c - 1
    }

    @inline(__always)
    static func slot(_ key: UInt64, _ mask: Int) -> Int {
        var h = key &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 31
        return Int(truncatingIfNeeded: h) & mask
    }

    /// The value stored for `key`, or -1.
    @inline(__always)
    func get(_ key: UInt64) -> Int32 {
        keys.withUnsafeBufferPointer { k in
            var i = PairMap.slot(key, mask)
            while true {
                let stored = k[i]
                if stored == key { return values[i] }
                if stored == PairMap.empty { return -1 }
                i = (i + 1) & mask
            }
        }
    }

    /// The value for `key`; if absent, stores `make()` first. `inserted` tells which happened.
    @inline(__always)
    mutating func getOrInsert(_ key: UInt64, _ make: () -> Int32) -> (value: Int32, inserted: Bool) {
        var i = PairMap.slot(key, mask)
        while true {
            let stored = keys[i]
            if stored == key { return (values[i], false) }
            if stored == PairMap.empty { break }
            i = (i + 1) & mask
        }
        let value = make()
        keys[i] = key
        values[i] = value
        count += 1
        if count * 2 > keys.count { grow() }
        return (value, true)
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldValues = values
        let c = oldKeys.count * 2
        keys = [UInt64](repeating: PairMap.empty, count: c)
        values = [Int32](repeating: 0, count: c)
        mask = c - 1
        for (j, key) in oldKeys.enumerated() where key != PairMap.empty {
            var i = PairMap.slot(key, mask)
            while keys[i] != PairMap.empty { i = (i + 1) & mask }
            keys[i] = key
            values[i] = oldValues[j]
        }
    }
}

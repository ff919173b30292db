// Seeded mutation of byte strings for the fuzz tests of the readers of outside input (archives,
// shards, tokenizer.json, ...): the edits AFL and libFuzzer start with (bit flips, interesting
// values, truncation, insertion, deletion, duplication), a few per input, all from one seed, so a
// failure names its seed and input number and replays exactly.
import Basics

public struct ByteMutator {
    public var rng: SplitMix64

    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    /// A uniformly drawn integer in 0..<n (n > 0).
    public mutating func below(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }

    /// Values that sit on the edges of the usual integer widths, little-endian as 4 bytes.
    public static let interestingInt32: [Int32] = [
        0, 1, -1, 2, 7, 16, 255, 256, 1023, 1024, 65_535, 65_536, Int32.max, Int32.min, Int32.max - 1, 1 << 30,
        -(1 << 30), 20_240_520,
    ]
    public static let interestingBytes: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0x20, 0x0A, 0x22, 0x5C]

    /// `input` with 1 to `maxEdits` random edits; positions inside `focus` (when given) are
    /// chosen half of the time, so a header can be hit as often as a much larger body.
    public mutating func mutate(_ input: [UInt8], maxEdits: Int = 4, focus: Range<Int>? = nil) -> [UInt8] {
        var out = input
        for _ in 0..<(1 + below(maxEdits)) {
            func position(_ count: Int) -> Int {
                if let focus, !focus.isEmpty, focus.upperBound <= count, below(2) == 0 {
                    return focus.lowerBound + below(focus.count)
                }
                return below(max(count, 1))
            }
            switch below(9) {
            case 0 where !out.isEmpty:
                let i = position(out.count)
                out[i] ^= UInt8(1) << UInt8(below(8))
            case 1 where !out.isEmpty:
                out[position(out.count)] = UInt8(truncatingIfNeeded: rng.next())
            case 2 where !out.isEmpty:
                out[position(out.count)] = Self.interestingBytes[below(Self.interestingBytes.count)]
            case 3 where out.count >= 4:
                let i = min(position(out.count) & ~3, out.count - 4)
                let v = Self.interestingInt32[below(Self.interestingInt32.count)]
                withUnsafeBytes(of: v.littleEndian) { for k in 0..<4 { out[i + k] = $0[k] } }
            case 4:
                out.removeSubrange(below(out.count + 1)...)
            case 5:
                let i = below(out.count + 1)
                out.insert(contentsOf: (0..<(1 + below(16))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: i)
            case 6 where !out.isEmpty:
                let i = below(out.count)
                out.removeSubrange(i..<min(out.count, i + 1 + below(64)))
            case 7 where !out.isEmpty:
                let i = below(out.count)
                let chunk = out[i..<min(out.count, i + 1 + below(64))]
                out.insert(contentsOf: chunk, at: below(out.count + 1))
            default:
                if !out.isEmpty { out[below(out.count)] = 0 }
            }
        }
        return out
    }
}

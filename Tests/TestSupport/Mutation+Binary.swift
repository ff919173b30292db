// Mutation of binary formats (shard headers, archive and compression headers): besides Mutator's
// generic edits, edits aimed at a header range, and little-endian int32 fields set to the edges
// of the usual integer widths, where counts, sizes and offsets overflow.
import Basics

extension Mutator {
    /// Int32 values at the edges: zero, -1, the sign bit, powers of two around 16 and 32 bits.
    public static let edgeInt32: [Int32] = [
        0, 1, -1, 2, 7, 255, 256, 1023, 1024, 65_535, 65_536, Int32.max, Int32.min, Int32.max - 1, 1 << 30, -(1 << 30),
    ]

    /// `input` with 1 to `maxEdits` edits, a third of them on `focus` (a header, say: hit as often
    /// as a much larger body): an int32 field set to an edge value, or a bit flipped.
    public mutating func mutate(_ input: [UInt8], maxEdits: Int = 4, focus: Range<Int>) -> [UInt8] {
        var b = input
        let focus = focus.clamped(to: 0..<b.count)
        for _ in 0..<(1 + int(maxEdits)) {
            switch int(3) {
            case 0 where focus.count >= 4:
                let i = focus.lowerBound + int(focus.count - 3)
                let v = Self.edgeInt32[int(Self.edgeInt32.count)]
                withUnsafeBytes(of: v.littleEndian) { for k in 0..<4 where i + k < b.count { b[i + k] = $0[k] } }
            case 1 where !focus.isEmpty && focus.upperBound <= b.count:
                b[focus.lowerBound + int(focus.count)] ^= UInt8(1) << UInt8(int(8))
            default:
                edit(&b)
            }
        }
        return b
    }
}

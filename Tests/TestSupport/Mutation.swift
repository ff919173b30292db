// Seeded mutation for the fuzz tests of every reader of outside input (the --where language,
// import files, checkpoints, run and experiment configs): start from a valid input and apply a few
// random edits of the kinds that break parsers: flipped bits, random bytes, deleted and repeated
// ranges, truncation, and tokens that stress numbers and nesting (huge and negative integers,
// 1e400, NaN, deep brackets). The same seed gives the same inputs, so a failure is reproducible
// from the seed printed by the test.
import Basics

public struct Mutator {
    public var rng: SplitMix64
    /// Text spliced in by `insertToken`: numbers at the edges of every integer type, non-finite
    /// and non-integral values, syntax that opens and closes structures, odd Unicode.
    public var tokens: [String] = [
        "0", "-1", "-0", "2147483648", "4294967295", "9223372036854775807", "9223372036854775808",
        "18446744073709551615", "-9223372036854775809", "1e400", "-1e400", "1e-400", "20.5", "NaN", "nan", "inf",
        "-inf", "null", "true", "false", "\"\"", "\"x\"", "{", "}", "[", "]", "[[[[[[[[", "]]]]]]]]", "{{{{", ",",
        ":", "=", "\"", "'", "\\", "\\u0000", "\u{0}", "\n", "\r", "\t", " ", "#", "é", "\u{FFFD}", "😀", "\u{202E}",
    ]

    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    public mutating func int(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }

    /// `input` with 1 to `maxEdits` random edits applied.
    public mutating func mutate(_ input: [UInt8], maxEdits: Int = 4) -> [UInt8] {
        var b = input
        for _ in 0..<(1 + int(maxEdits)) { edit(&b) }
        return b
    }

    public mutating func mutate(_ text: String, maxEdits: Int = 4) -> String {
        String(decoding: mutate(Array(text.utf8), maxEdits: maxEdits), as: UTF8.self)
    }

    mutating func edit(_ b: inout [UInt8]) {
        let at = int(b.count + 1)
        switch int(9) {
        case 0 where !b.isEmpty:  // flip one bit
            let i = int(b.count)
            b[i] ^= UInt8(1) << UInt8(int(8))
        case 1 where !b.isEmpty:  // a random byte
            b[int(b.count)] = UInt8(truncatingIfNeeded: rng.next())
        case 2 where !b.isEmpty:  // delete a range
            let end = min(b.count, at + 1 + int(16))
            if at < end { b.removeSubrange(at..<end) }
        case 3:  // truncate
            b.removeSubrange(at..<b.count)
        case 4 where !b.isEmpty:  // repeat a range
            let start = int(b.count)
            let end = min(b.count, start + 1 + int(32))
            b.insert(contentsOf: b[start..<end], at: int(b.count + 1))
        case 5, 6:  // an interesting token
            b.insert(contentsOf: Array(tokens[int(tokens.count)].utf8), at: at)
        case 7 where !b.isEmpty:  // replace a run of digits (the first from a random place) with a number
            guard let k = (0..<b.count).first(where: { isDigit(b[($0 + at) % b.count]) }) else { break }
            var start = (k + at) % b.count
            var end = start
            while start > 0, isDigit(b[start - 1]) { start -= 1 }
            while end < b.count, isDigit(b[end]) { end += 1 }
            b.replaceSubrange(start..<end, with: Array(tokens[int(13)].utf8))
        default:  // a random byte inserted
            b.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
        }
    }

    func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
}

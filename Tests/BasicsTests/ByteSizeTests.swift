// Sizes typed on the command line (--memory-budget): units, decimals, and everything else refused.
import Basics
import Testing

struct ByteSizeTests {
    @Test func unitsAreBinary() {
        #expect(ByteSize.parse("65536") == 65536)
        #expect(ByteSize.parse("512M") == 512 << 20)
        #expect(ByteSize.parse("1G") == 1 << 30)
        #expect(ByteSize.parse("1g") == 1 << 30)
        #expect(ByteSize.parse("2GiB") == 2 << 30)
        #expect(ByteSize.parse("2GB") == 2 << 30)
        #expect(ByteSize.parse("1.5G") == 3 << 29)
        #expect(ByteSize.parse("4k") == 4096)
        #expect(ByteSize.parse(" 1T ") == 1 << 40)
        #expect(ByteSize.parse("10B") == 10)
    }

    @Test func nonSizesAreRefused() {
        for text in ["", "G", "-1G", "1X", "1GG", "1..5M", ".", "1e9", "nan", "inf", "0x10", "1 G", "١G", "9999999T"] {
            #expect(ByteSize.parse(text) == nil, "\(text)")
        }
    }

    /// Random edits of valid sizes never trap, and whatever parses is a non-negative size.
    @Test func fuzz() {
        var rng = SplitMix64(seed: 16)
        let seeds = ["512M", "1G", "1.5GiB", "65536", "2T", "0"]
        let alphabet = Array("0123456789.kKmMgGtTiIbB -+eE\u{0}é".unicodeScalars)
        for i in 0..<2000 {
            var s = Array(seeds[i % seeds.count].unicodeScalars)
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                let at = Int(rng.next() % UInt64(s.count + 1))
                switch rng.next() % 3 {
                case 0: s.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
                case 1: if at < s.count { s.remove(at: at) }
                default: if at < s.count { s[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))] }
                }
            }
            let text = String(String.UnicodeScalarView(s))
            if let bytes = ByteSize.parse(text) { #expect(bytes >= 0, "\(text)") }
        }
    }
}

// GPT-2 pre-tokenization as a hand-written scanner over UTF-8 bytes. It splits text exactly as
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// does (openai/gpt-2 `encoder.py`, HF tokenizers' ByteLevel `use_regex`), without a regex engine:
// Swift `Regex` runs at well under 1 MB/s here, this scanner at hundreds of MB/s.
// Classes: L = Lu/Ll/Lt/Lm/Lo, N = Nd/Nl/No, whitespace = White_Space. A byte that is not part of
// valid UTF-8 counts as "other" on its own, so every byte lands in exactly one piece.

/// The GPT-2 pre-tokenization pattern that `PreTokenizer` implements.
public let gpt2SplitPattern =
    #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

/// The scalar classes the pattern distinguishes.
enum ScalarClass {
    static let other: UInt8 = 0
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let space: UInt8 = 3

    /// The class of any scalar, from its Unicode properties.
    static func of(_ value: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(value) else { return other }
        let properties = scalar.properties
        if properties.isWhitespace { return space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return number
        default:
            return other
        }
    }

    /// The class of every BMP code point (surrogates are "other"), computed once.
    static let bmp: [UInt8] = (0..<0x10000).map { of(UInt32($0)) }
}

/// Splits UTF-8 text into GPT-2 pre-tokens.
public enum PreTokenizer {
    /// Calls `body(start, end)` for each piece of `bytes`, in order; the pieces tile the input.
    @inline(__always)
    public static func forEachPiece(
        _ bytes: UnsafeRawBufferPointer, _ body: (_ start: Int, _ end: Int) -> Void
    ) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let p = base.assumingMemoryBound(to: UInt8.self)
        let n = bytes.count
        ScalarClass.bmp.withUnsafeBufferPointer { table in
            let t = table.baseAddress!
            var i = 0
            while i < n {
                let start = i
                let b = p[i]
                if b == 0x27 {
                    let len = contractionLength(p, i, n)
                    if len > 0 {
                        i += len
                        body(start, i)
                        continue
                    }
                }
                var (cls, len) = classify(p, i, n, t)
                if b == 0x20 && i + 1 < n {
                    // " ?X+": a single ASCII space joins a following run of letters, numbers or others.
                    let (next, nextLen) = classify(p, i + 1, n, t)
                    if next != ScalarClass.space {
                        cls = next
                        len = 1 + nextLen
                    }
                }
                i += len
                if cls == ScalarClass.space {
                    // "\s+(?!\S)|\s+": a run followed by non-space leaves its last scalar behind.
                    var last = start
                    while i < n {
                        let (c, l) = classify(p, i, n, t)
                        if c != ScalarClass.space { break }
                        last = i
                        i += l
                    }
                    if i < n && last > start { i = last }
                } else {
                    while i < n {
                        if cls == ScalarClass.letter {
                            i = asciiLetterRun(p, i, n)
                            if i == n { break }
                        }
                        let (c, l) = classify(p, i, n, t)
                        if c != cls { break }
                        i += l
                    }
                }
                body(start, i)
            }
        }
    }

    /// The pieces of `text` as strings (for tests and tools; the hot paths use `forEachPiece`).
    public static func pieces(_ text: String) -> [String] {
        let utf8 = Array(text.utf8)
        var out: [String] = []
        utf8.withUnsafeBytes { bytes in
            forEachPiece(bytes) { start, end in
                out.append(String(decoding: bytes[start..<end], as: UTF8.self))
            }
        }
        return out
    }

    /// Length of the contraction ('s 't 'm 'd 're 've 'll) at an apostrophe at `i`, or 0.
    @inline(__always)
    static func contractionLength(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> Int {
        guard i + 1 < n else { return 0 }
        let c1 = p[i + 1]
        if c1 == 0x73 || c1 == 0x74 || c1 == 0x6D || c1 == 0x64 { return 2 }  // s t m d
        guard i + 2 < n else { return 0 }
        let c2 = p[i + 2]
        if (c1 == 0x72 || c1 == 0x76) && c2 == 0x65 { return 3 }  // re ve
        if c1 == 0x6C && c2 == 0x6C { return 3 }  // ll
        return 0
    }

    /// The end of the run of ASCII letters at `start`, found 8 bytes at a time while 8 remain (a
    /// letter run past it, or one that goes on in non-ASCII letters, is for the caller to
    /// continue): most pieces are ASCII words, and a word in one step beats a byte per step.
    @inline(__always)
    static func asciiLetterRun(_ p: UnsafePointer<UInt8>, _ start: Int, _ n: Int) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high = 0x80 &* ones
        var i = start
        while i + 8 <= n {
            let w = UInt64(littleEndian: UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self))
            // Per byte, without carries between bytes: y = the byte lower-cased, 7 bits; its top
            // bit after + 0x1F says y >= 'a', after + 0x05 that y > 'z'. Non-ASCII bytes stop.
            let y = (w | 0x20 &* ones) & ~high
            let letters = (y &+ 0x1F &* ones) & ~(y &+ 0x05 &* ones) & ~w & high
            let stops = letters ^ high
            if stops != 0 { return i + stops.trailingZeroBitCount >> 3 }
            i += 8
        }
        return i
    }

    /// The class and byte length of the scalar at `i`; invalid UTF-8 is one "other" byte.
    @inline(__always)
    static func classify(
        _ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int, _ table: UnsafePointer<UInt8>
    ) -> (UInt8, Int) {
        let b0 = UInt32(p[i])
        if b0 < 0x80 { return (table[Int(b0)], 1) }
        if b0 < 0xE0 {
            guard b0 >= 0xC2, i + 1 < n else { return (ScalarClass.other, 1) }
            let b1 = UInt32(p[i + 1])
            guard b1 & 0xC0 == 0x80 else { return (ScalarClass.other, 1) }
            return (table[Int((b0 & 0x1F) << 6 | (b1 & 0x3F))], 2)
        }
        if b0 < 0xF0 {
            guard i + 2 < n else { return (ScalarClass.other, 1) }
            let b1 = UInt32(p[i + 1])
            let b2 = UInt32(p[i + 2])
            guard b1 & 0xC0 == 0x80, b2 & 0xC0 == 0x80,
                b0 != 0xE0 || b1 >= 0xA0, b0 != 0xED || b1 < 0xA0
            else { return (ScalarClass.other, 1) }
            return (table[Int((b0 & 0x0F) << 12 | (b1 & 0x3F) << 6 | (b2 & 0x3F))], 3)
        }
        guard b0 < 0xF5, i + 3 < n else { return (ScalarClass.other, 1) }
        let b1 = UInt32(p[i + 1])
        let b2 = UInt32(p[i + 2])
        let b3 = UInt32(p[i + 3])
        guard b1 & 0xC0 == 0x80, b2 & 0xC0 == 0x80, b3 & 0xC0 == 0x80,
            b0 != 0xF0 || b1 >= 0x90, b0 != 0xF4 || b1 < 0x90
        else { return (ScalarClass.other, 1) }
        let value = (b0 & 0x07) << 18 | (b1 & 0x3F) << 12 | (b2 & 0x3F) << 6 | (b3 & 0x3F)
        return (ScalarClass.of(value), 4)
    }
}

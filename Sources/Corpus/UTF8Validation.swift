// UTF-8 validation with an ASCII fast path (16 bytes per step), and repair that replaces each
// maximal invalid subpart with U+FFFD (Unicode's recommended practice, the same as Swift's
// `String(decoding:as:)`).

enum UTF8Validation {
    /// True when `bytes` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        firstInvalid(bytes) == nil
    }

    /// Offset of the first invalid sequence, or nil when the buffer is valid.
    static func firstInvalid(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        let n = bytes.count
        var i = 0
        while i < n {
            while i + 16 <= n {
                let a = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                let b = base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
                if (a | b) & 0x8080_8080_8080_8080 != 0 { break }
                i += 16
            }
            guard i < n else { return nil }
            if base.load(fromByteOffset: i, as: UInt8.self) < 0x80 {
                i += 1
                continue
            }
            let (valid, length) = sequence(base, n, i)
            if !valid { return i }
            i += length
        }
        return nil
    }

    /// Appends `bytes` to `out` with every maximal invalid subpart replaced by U+FFFD.
    static func repair(_ bytes: UnsafeRawBufferPointer, into out: ByteBuffer) {
        guard let base = bytes.baseAddress else { return }
        let n = bytes.count
        let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]
        var i = 0
        var runStart = 0
        while i < n {
            guard let bad = firstInvalid(UnsafeRawBufferPointer(start: base + i, count: n - i)) else { break }
            i += bad
            out.append(UnsafeRawBufferPointer(start: base + runStart, count: i - runStart))
            replacement.withUnsafeBytes { out.append($0) }
            i += sequence(base, n, i).length
            runStart = i
        }
        out.append(UnsafeRawBufferPointer(start: base + runStart, count: n - runStart))
    }

    /// Decodes the sequence whose lead byte (>= 0x80) is at `i` (Unicode Table 3-7). Returns its
    /// length when valid, else the length of the maximal subpart to replace (at least 1).
    @inline(__always)
    private static func sequence(_ base: UnsafeRawPointer, _ n: Int, _ i: Int) -> (valid: Bool, length: Int) {
        let lead = base.load(fromByteOffset: i, as: UInt8.self)
        var need = 0
        var lo: UInt8 = 0x80
        var hi: UInt8 = 0xBF
        switch lead {
        case 0x00...0x7F: return (true, 1)
        case 0xC2...0xDF: need = 1
        case 0xE0:
            need = 2
            lo = 0xA0
        case 0xE1...0xEC, 0xEE, 0xEF: need = 2
        case 0xED:
            need = 2
            hi = 0x9F
        case 0xF0:
            need = 3
            lo = 0x90
        case 0xF1...0xF3: need = 3
        case 0xF4:
            need = 3
            hi = 0x8F
        default: return (false, 1)
        }
        var j = 1
        while j <= need {
            guard i + j < n else { return (false, j) }
            let b = base.load(fromByteOffset: i + j, as: UInt8.self)
            if b < lo || b > hi { return (false, j) }
            lo = 0x80
            hi = 0xBF
            j += 1
        }
        return (true, need + 1)
    }
}

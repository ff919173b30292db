// Pulls the string "text" field out of one JSONL line without building a JSON tree: a small
// scanner that decodes that one string (escapes, \u surrogate pairs) and skips every other value.

enum JSONLText {
    enum Failure: Error, Equatable {
        case notAnObject, noTextField, malformed
        var reason: String {
            switch self {
            case .notAnObject: return "not a JSON object"
            case .noTextField: return "no string \"text\" field"
            case .malformed: return "malformed JSON"
            }
        }
    }

    /// Decodes the "text" string of the JSON object in `line` into `out` (cleared first).
    static func extract(_ line: UnsafeRawBufferPointer, into out: ByteBuffer) throws(Failure) {
        out.count = 0
        var s = Scanner(p: line, i: 0)
        s.skipSpace()
        guard s.peek == UInt8(ascii: "{") else { throw .notAnObject }
        s.i += 1
        var found = false
        s.skipSpace()
        if s.peek == UInt8(ascii: "}") { throw .noTextField }
        while true {
            s.skipSpace()
            guard s.peek == UInt8(ascii: "\"") else { throw .malformed }
            let isText = try s.keyIsText()
            s.skipSpace()
            guard s.peek == UInt8(ascii: ":") else { throw .malformed }
            s.i += 1
            s.skipSpace()
            if isText && !found && s.peek == UInt8(ascii: "\"") {
                try s.decodeString(into: out)
                found = true
            } else {
                try s.skipValue()
            }
            s.skipSpace()
            if s.peek == UInt8(ascii: ",") {
                s.i += 1
                continue
            }
            guard s.peek == UInt8(ascii: "}") else { throw .malformed }
            break
        }
        guard found else { throw .noTextField }
    }

    private struct Scanner {
        let p: UnsafeRawBufferPointer
        var i: Int

        var peek: UInt8 { i < p.count ? p[i] : 0 }

        mutating func skipSpace() {
            while i < p.count, p[i] == 0x20 || p[i] == 0x09 || p[i] == 0x0A || p[i] == 0x0D { i += 1 }
        }

        /// Reads a key at `"`; true when it is exactly `text`.
        mutating func keyIsText() throws(Failure) -> Bool {
            let start = i + 1
            try skipString()
            let raw = UnsafeRawBufferPointer(rebasing: p[start..<(i - 1)])
            if !raw.contains(UInt8(ascii: "\\")) { return raw.elementsEqual("text".utf8) }
            let key = ByteBuffer(capacity: raw.count)
            var k = Scanner(p: p, i: start - 1)
            try k.decodeString(into: key)
            return key.bytes.elementsEqual("text".utf8)
        }

        /// Skips a string starting at `"`, leaving `i` after the closing quote.
        mutating func skipString() throws(Failure) {
            i += 1
            while i < p.count {
                switch p[i] {
                case UInt8(ascii: "\""):
                    i += 1
                    return
                case UInt8(ascii: "\\"): i += 2
                default: i += 1
                }
            }
            throw .malformed
        }

        /// Skips any value: string, number, literal, or a nested object/array.
        mutating func skipValue() throws(Failure) {
            switch peek {
            case UInt8(ascii: "\""):
                try skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while i < p.count {
                    switch p[i] {
                    case UInt8(ascii: "\""):
                        try skipString()
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            i += 1
                            return
                        }
                    default: break
                    }
                    i += 1
                }
                throw .malformed
            default:
                let start = i
                while i < p.count {
                    let c = p[i]
                    if c == UInt8(ascii: ",") || c == UInt8(ascii: "}") || c == UInt8(ascii: "]") || c == 0x20
                        || c == 0x09 || c == 0x0A || c == 0x0D
                    {
                        break
                    }
                    i += 1
                }
                if i == start { throw .malformed }
            }
        }

        /// Decodes a string starting at `"` into `out`, copying unescaped runs in bulk.
        mutating func decodeString(into out: ByteBuffer) throws(Failure) {
            i += 1
            var run = i
            while i < p.count {
                let c = p[i]
                if c != UInt8(ascii: "\"") && c != UInt8(ascii: "\\") {
                    i += 1
                    continue
                }
                out.append(UnsafeRawBufferPointer(rebasing: p[run..<i]))
                if c == UInt8(ascii: "\"") {
                    i += 1
                    return
                }
                guard i + 1 < p.count else { throw .malformed }
                let e = p[i + 1]
                i += 2
                switch e {
                case UInt8(ascii: "n"): out.append(byte: 0x0A)
                case UInt8(ascii: "t"): out.append(byte: 0x09)
                case UInt8(ascii: "r"): out.append(byte: 0x0D)
                case UInt8(ascii: "b"): out.append(byte: 0x08)
                case UInt8(ascii: "f"): out.append(byte: 0x0C)
                case UInt8(ascii: "u"): try appendEscapedScalar(into: out)
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(byte: e)
                default: throw .malformed
                }
                run = i
            }
            throw .malformed
        }

        /// After `\u`: reads 4 hex digits (and a low surrogate when needed) and appends UTF-8.
        /// A lone surrogate becomes U+FFFD.
        mutating func appendEscapedScalar(into out: ByteBuffer) throws(Failure) {
            var value = try hex4()
            if (0xD800...0xDBFF).contains(value) {
                if i + 1 < p.count && p[i] == UInt8(ascii: "\\") && p[i + 1] == UInt8(ascii: "u") {
                    let save = i
                    i += 2
                    let low = try hex4()
                    if (0xDC00...0xDFFF).contains(low) {
                        value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        i = save
                        value = 0xFFFD
                    }
                } else {
                    value = 0xFFFD
                }
            } else if (0xDC00...0xDFFF).contains(value) {
                value = 0xFFFD
            }
            for byte in UTF8.encode(Unicode.Scalar(value)!)! { out.append(byte: byte) }
        }

        mutating func hex4() throws(Failure) -> UInt32 {
            guard i + 4 <= p.count else { throw .malformed }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = p[i]
                let d: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
                default: throw .malformed
                }
                v = v << 4 | UInt32(d)
                i += 1
            }
            return v
        }
    }
}

// Reading TOML files (run configs, experiments) through TOMLKit, with one guard in front: toml++
// (TOMLKit's parser) asserts, instead of reporting, that a table header starts with a key, so
// `[é]`, `[+]` or a lone `[` abort the process in a debug build (and are undefined behaviour in a
// release build, where the assertion becomes an assumption). Table headers are found here with a
// small scanner that skips strings, comments and multi-line values, and a bad first character is
// a clear error before toml++ sees the text. The same holds for a '}' where an array expects a
// value (`x = [1, }]`), also refused here.
import Foundation

public enum TOMLText {
    /// What the scanner refuses, with the line it is on.
    public struct Refused: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads a TOML file as UTF-8 text.
    static func read(path: String, what: String, hint: String) throws -> String {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SessionError.unreadable(path: path, what: what, reason: error.localizedDescription, hint: hint)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SessionError.unreadable(
                path: path, what: what, reason: "it is not UTF-8 text", hint: "save the \(what) as UTF-8")
        }
        return text
    }

    /// Throws at the first control character TOML forbids (U+0000-U+0008, U+000A-U+001F but
    /// line feed and carriage return, U+007F: the spec refuses them in strings and comments too),
    /// naming its line and column. toml++ reads its input as a C string, so a NUL silently ended
    /// the file there (the rest, with any error in it, was never seen, and a file of one NUL was
    /// an empty config: the default run); the others get the same message here.
    public static func checkControlCharacters(_ text: String) throws {
        var line = 1
        var column = 1
        for c in text.unicodeScalars {
            if c == "\n" {
                line += 1
                column = 1
                continue
            }
            if (c.value < 0x20 && c != "\t" && c != "\r") || c.value == 0x7F {
                let hex = String(c.value, radix: 16, uppercase: true)
                let code = "U+" + String(repeating: "0", count: 4 - hex.count) + hex
                throw Refused(
                    description: "line \(line), column \(column): control character \(code) (TOML "
                        + "allows only tab and line breaks; in a string, write it as an escape, e.g. \"\\u0000\")")
            }
            column += 1
        }
    }

    /// Throws when a table header (`[name]` or `[[name]]` at the start of a line, outside any
    /// value) does not start with a bare key character, a quote or `]`.
    public static func checkTableHeaders(_ text: String) throws {
        let s = Array(text.unicodeScalars)
        var i = 0
        var line = 1
        var open: [Unicode.Scalar] = []  // the [ and { of the values being read
        var expectValue = false  // right after an array's [ or one of its commas
        var lineStart = true
        func at(_ k: Int) -> Unicode.Scalar? { k < s.count ? s[k] : nil }
        while i < s.count {
            let c = s[i]
            if c == "\n" {
                line += 1
                lineStart = true
                i += 1
                continue
            }
            if c == " " || c == "\t" || c == "\r" || c == "\u{FEFF}" {
                i += 1
                continue
            }
            if lineStart && open.isEmpty && c == "[" {
                var j = i + 1
                if at(j) == "[" { j += 1 }
                while at(j) == " " || at(j) == "\t" { j += 1 }
                let first = at(j)
                let ok =
                    first.map {
                        $0 == "]" || $0 == "\"" || $0 == "'" || $0 == "_" || $0 == "-"
                            || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)))
                    } ?? false
                if !ok {
                    let shown = first.map { $0.value < 0x20 || $0.value == 0x7F ? "a control character" : "'\($0)'" }
                    throw Refused(
                        description:
                            "not valid TOML: line \(line): a table header starts with a name (ASCII letters, digits, '_', '-', or a quoted name), not \(shown ?? "the end of the file")"
                    )
                }
                while let d = at(i), d != "\n" { i += 1 }  // a header and its comment end the line
                continue
            }
            lineStart = false
            if c == "}" && expectValue {
                throw Refused(description: "not valid TOML: line \(line): '}' where the array expects a value or ']'")
            }
            if c != "#" { expectValue = false }
            switch c {
            case "#":
                while let d = at(i), d != "\n" { i += 1 }
                continue
            case "[", "{":
                open.append(c)
                expectValue = c == "["
            case "]", "}": _ = open.popLast()
            case "," where open.last == "[": expectValue = true
            case "\"", "'":
                let triple = at(i + 1) == c && at(i + 2) == c
                i += triple ? 3 : 1
                while let d = at(i) {
                    if c == "\"" && d == "\\" {
                        i += 2
                        continue
                    }
                    if d == "\n" {
                        if !triple { break }  // an unterminated string: toml++ reports it
                        line += 1
                    }
                    if d == c && (!triple || (at(i + 1) == c && at(i + 2) == c)) {
                        i += triple ? 3 : 1
                        break
                    }
                    i += 1
                }
                continue
            default: break
            }
            i += 1
        }
    }
}

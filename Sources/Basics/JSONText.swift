// JSON text the package writes by hand (canonical configs, tokenizer.json, safetensors headers,
// report output) and the one JSONEncoder setup for the JSON it writes through Codable.
import Foundation

public enum JSONText {
    /// `s` as a JSON string literal, quotes included. `"` and `\` are escaped, newline, carriage
    /// return and tab use their short forms, the other control characters (below 0x20) and DEL
    /// (0x7F) become `\u00xx` (lowercase hex), and everything else, non-ASCII included, is kept as
    /// is (the output is UTF-8, as RFC 8259 asks).
    public static func quoted(_ s: String) -> String {
        var out = ""
        appendQuoted(s, to: &out)
        return out
    }

    /// Appends `quoted(s)` to `out`.
    public static func appendQuoted(_ s: String, to out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x7F:
                out += "\\u00"
                out.unicodeScalars.append(hexDigit(u.value >> 4))
                out.unicodeScalars.append(hexDigit(u.value & 15))
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }

    private static func hexDigit(_ v: UInt32) -> Unicode.Scalar {
        Unicode.Scalar(UInt8(v < 10 ? 48 + v : 87 + v))
    }

    /// The encoder for every JSON file the package writes through Codable: keys sorted (so the
    /// same value is the same bytes), slashes left alone (paths stay readable), and indented when
    /// `pretty` (files people read) or on one line (JSON lines, hashed metadata).
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting =
            pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

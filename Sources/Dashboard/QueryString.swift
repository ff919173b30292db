// The query string of a request, decoded as browsers encode forms: pairs split at '&' and the
// first '=', '+' for a space, %XX escapes as UTF-8. A repeated name keeps its last value. Input
// from anyone who can reach the port: anything malformed is a clear 400, never a trap.
import Basics
import Foundation

struct QueryString: Sendable, Equatable {
    /// The longest query string read (a --where expression fits many times over).
    static let maxLength = 16_384

    private(set) var values: [String: String] = [:]

    init(_ raw: String?) throws {
        guard let raw, !raw.isEmpty else { return }
        if raw.utf8.count > Self.maxLength {
            throw DashboardError.badRequest("the query string is longer than \(Self.maxLength) bytes")
        }
        for pair in raw.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = try Self.decode(parts[0])
            values[name] = parts.count > 1 ? try Self.decode(parts[1]) : ""
        }
    }

    init(values: [String: String]) { self.values = values }

    subscript(_ name: String) -> String? {
        guard let v = values[name], !v.isEmpty else { return nil }
        return v
    }

    /// A whole number in `range`, `fallback` when absent.
    func int(_ name: String, in range: ClosedRange<Int>, fallback: Int) throws -> Int {
        guard let text = self[name] else { return fallback }
        guard let v = Int(text), range.contains(v) else {
            throw DashboardError.badRequest(
                "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text.prefix(40))'"
            )
        }
        return v
    }

    /// A flag: present as 1 or true.
    func flag(_ name: String) -> Bool { ["1", "true", "yes", "on"].contains(self[name]?.lowercased() ?? "") }

    /// The query string for these values, names in order, so every view has one stable URL.
    static func encode(_ values: [(String, String?)]) -> String {
        let parts = values.compactMap { name, value in value.map { "\(name)=\(escape($0))" } }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }

    /// A value percent-encoded for a query string (unreserved characters kept).
    static func escape(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if byte < 128, c.isLetter || c.isNumber || "-_.~".contains(c) {
                out.append(c)
            } else {
                out += "%" + Hex.string([byte]).uppercased()
            }
        }
        return out
    }

    static func decode(_ s: Substring) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        var it = s.utf8.makeIterator()
        while let b = it.next() {
            switch b {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let h = it.next().flatMap(Hex.digitValue), let l = it.next().flatMap(Hex.digitValue) else {
                    throw DashboardError.badRequest("the query string has a '%' not followed by two hex digits")
                }
                bytes.append(h << 4 | l)
            default: bytes.append(b)
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw DashboardError.badRequest("the query string is not valid UTF-8 once decoded")
        }
        return text
    }
}

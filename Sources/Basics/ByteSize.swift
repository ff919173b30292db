// Sizes as users type them on the command line: "512M", "1G", "1.5GiB", "65536".
import Foundation

public enum ByteSize {
    /// Bytes of `text`: a number (decimals allowed) with an optional binary unit K, M, G or T
    /// (also KB/KiB, ..., any case; 1K = 1024), or nil when it is not such a size, is negative,
    /// or does not fit in an Int.
    public static func parse(_ text: String) -> Int? {
        var s = Substring(text.trimmingCharacters(in: .whitespaces).uppercased())
        for suffix in ["IB", "B"] where s.hasSuffix(suffix) {
            s = s.dropLast(suffix.count)
            break
        }
        var shift = 0
        if let last = s.last, let i = ["K", "M", "G", "T"].firstIndex(of: String(last)) {
            shift = 10 * (i + 1)
            s = s.dropLast()
        }
        guard !s.isEmpty, s.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
            s.filter({ $0 == "." }).count <= 1, s != ".", let value = Double(s)
        else { return nil }
        let bytes = (value * Double(1 << shift)).rounded()
        guard bytes.isFinite, bytes < 0x1p62 else { return nil }
        return Int(bytes)
    }
}

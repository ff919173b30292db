// The byte-level alphabet of GPT-2 (`bytes_to_unicode` in openai/gpt-2 `encoder.py`, also
// HF tokenizers' ByteLevel pre-tokenizer): each byte is shown as one printable code point.
// Base token ids follow HF's order for a full alphabet: the 256 mapped code points, sorted,
// so '!'..'~' get ids 0..93, '¡'..'¬' 94..105, '®'..'ÿ' 106..187, then the remapped bytes.

/// The GPT-2 byte <-> printable code point map and the base token id of every byte.
public enum ByteLevel {
    /// `codePoint[b]`: the code point that stands for byte b in tokenizer.json.
    public static let codePoint: [UInt32] = {
        var map = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable =
                (33...126).contains(b) || (161...172).contains(b)
                || (174...255).contains(b)
            if printable {
                map[b] = UInt32(b)
            } else {
                map[b] = next
                next += 1
            }
        }
        return map
    }()

    /// `idOfByte[b]`: the base token id of byte b (its rank among the sorted code points).
    public static let idOfByte: [UInt32] = {
        let order = (0..<256).sorted { codePoint[$0] < codePoint[$1] }
        var ids = [UInt32](repeating: 0, count: 256)
        for (id, b) in order.enumerated() { ids[b] = UInt32(id) }
        return ids
    }()

    /// `byteOfId[id]`: the byte of base token id (inverse of `idOfByte`).
    public static let byteOfId: [UInt8] = {
        var bytes = [UInt8](repeating: 0, count: 256)
        for b in 0..<256 { bytes[Int(idOfByte[b])] = UInt8(b) }
        return bytes
    }()

    /// The printable string that stands for `bytes` in tokenizer.json.
    public static func string(of bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(codePoint[Int(b)])!) }
        return String(s)
    }

    /// The bytes behind a printable string, or nil if it has a code point outside the map.
    public static func bytes(of string: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(string.unicodeScalars.count)
        for scalar in string.unicodeScalars {
            guard let b = byteOfCodePoint[scalar.value] else { return nil }
            out.append(b)
        }
        return out
    }

    private static let byteOfCodePoint: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for b in 0..<256 { map[codePoint[b]] = UInt8(b) }
        return map
    }()
}

// The one JSON string escaper and hex codec: exact bytes for the characters that need care, and
// a round trip through Foundation's JSONSerialization for every one of them.
import Basics
import Foundation
import Testing

struct JSONTextTests {
    @Test(arguments: [
        ("plain", #""plain""#),
        ("say \"hi\"", #""say \"hi\"""#),
        (#"C:\dir"#, #""C:\\dir""#),
        ("a\nb\rc\td", #""a\nb\rc\td""#),
        ("\u{0}\u{1}\u{8}\u{c}\u{1f}", #""\u0000\u0001\u0008\u000c\u001f""#),
        ("del\u{7f}", #""del\u007f""#),
        (" ~", #"" ~""#),
        ("héllo ✓ 𝄞", "\"héllo ✓ 𝄞\""),
        ("a/b", #""a/b""#),
    ])
    func quotedSpellsEachCharacter(input: String, expected: String) {
        #expect(JSONText.quoted(input) == expected)
    }

    @Test func everyScalarRoundTripsThroughJSONSerialization() throws {
        var scalars = (0..<0x100).compactMap(Unicode.Scalar.init).map(String.init)
        scalars += ["\u{2028}", "\u{fffd}", "\u{1F600}", "\"\\\u{7f}\n"]
        for s in scalars {
            let text = "[" + JSONText.quoted(s) + "]"
            let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String]
            #expect(parsed == [s], "\(text)")
        }
    }

    @Test func appendQuotedAppends() {
        var out = "x="
        JSONText.appendQuoted("\u{7f}", to: &out)
        #expect(out == #"x="\u007f""#)
    }

    @Test func encoderSortsKeysAndKeepsSlashes() throws {
        struct Doc: Encodable {
            let zeta = 1
            let alpha = "a/b"
        }
        let line = String(decoding: try JSONText.encoder().encode(Doc()), as: UTF8.self)
        #expect(line == #"{"alpha":"a/b","zeta":1}"#)
        let pretty = String(decoding: try JSONText.encoder(pretty: true).encode(Doc()), as: UTF8.self)
        #expect(
            pretty.contains("\n")
                && pretty.firstRange(of: "alpha")!.lowerBound < pretty.firstRange(of: "zeta")!.lowerBound)
    }
}

struct HexTests {
    @Test func stringIsLowercaseTwoDigitsPerByte() {
        #expect(Hex.string([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        #expect(Hex.string([UInt8]()) == "")
    }

    @Test func bytesReadsBothCasesAndRoundTrips() {
        #expect(Hex.bytes("000FA0ff") == [0x00, 0x0f, 0xa0, 0xff])
        let all = (0...255).map(UInt8.init)
        #expect(Hex.bytes(Hex.string(all)) == all)
        #expect(Hex.bytes("") == [])
    }

    @Test(arguments: ["abc", "zz", "0g", " 0", "é0"])
    func bytesRejectsWhatIsNotHex(text: String) {
        #expect(Hex.bytes(text) == nil)
    }
}

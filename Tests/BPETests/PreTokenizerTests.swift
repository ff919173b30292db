// The hand-written GPT-2 scanner against Swift `Regex` of the same pattern: fixtures, random
// texts rich in tricky scalars, random scalars from all of Unicode, and invalid UTF-8.
import BPE
import Foundation
import Testing

@Suite struct PreTokenizerTests {
    @Test func splitsLikeGPT2() {
        #expect(
            PreTokenizer.pieces("Hello world! It's 42.") == [
                "Hello", " world", "!", " It", "'s", " 42", ".",
            ])
        #expect(PreTokenizer.pieces("a  b\n\nc   ") == ["a", " ", " b", "\n", "\n", "c", "   "])
        #expect(PreTokenizer.pieces("x\r\ny") == ["x", "\r", "\n", "y"])
        #expect(PreTokenizer.pieces("") == [])
    }

    @Test func matchesRegexOnFixture() throws {
        let text = try fixture("edge_cases.txt")
        #expect(scannerPieces(text) == regexPieces(text))
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            #expect(scannerPieces(String(line)) == regexPieces(String(line)))
        }
    }

    @Test func matchesRegexOnRandomTexts() {
        var rng = SeededGenerator(seed: 1)
        for _ in 0..<300 {
            let text = randomText(Int.random(in: 0...40, using: &rng), &rng)
            #expect(scannerPieces(text) == regexPieces(text), "\(text.unicodeScalars.map(\.value))")
        }
    }

    @Test func matchesRegexOnRandomScalars() {
        var rng = SeededGenerator(seed: 2)
        for _ in 0..<200 {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 1...30, using: &rng) {
                let plane = UInt32.random(in: 0...3, using: &rng)
                let limit: UInt32 = plane == 0 ? 0x7F : (plane == 1 ? 0xFFFF : 0x10FFFF)
                if let s = Unicode.Scalar(UInt32.random(in: 0...limit, using: &rng)) {
                    scalars.append(s)
                }
                if Bool.random(using: &rng) { scalars.append(" ") }
            }
            let text = String(scalars)
            #expect(scannerPieces(text) == regexPieces(text), "\(text.unicodeScalars.map(\.value))")
        }
    }

    @Test func matchesRegexOnLongWords() {
        // Runs of ASCII letters longer than 8 bytes (the scanner takes them 8 at a time), ending
        // at every kind of neighbour, at the end of the text, and going on in non-ASCII letters.
        let fixed = [
            "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ", "internationalization",
            "Wordsworthéçà plus", "ééééabcdefghijklmnopé", "abcdefgh@ijklmnop[qrstuvwx`yzabcdef{ghijklmn",
            "abcdefgh0123456789abcdefgh", "abcdefghi\u{7F}jklmnopq\u{1F}rstuvwxy", "abcdefgh'sabcdefgh'll",
            "abcdefghijklmnop\u{00A0}qrstuvwx", "abcdefghijklmno\u{10400}pqrstuvw", "ab\tcdefghijk\r\nlmnopqrstu",
        ]
        for text in fixed { #expect(scannerPieces(text) == regexPieces(text), "\(text)") }
        var rng = SeededGenerator(seed: 3)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ@[`{0 '.é\u{1F}\u{7F}ß\u{2003}")
        for _ in 0..<300 {
            var text = ""
            for _ in 0..<Int.random(in: 0...60, using: &rng) {
                let letter = Int.random(in: 0..<10, using: &rng) < 8
                text.append(
                    letter ? alphabet[Int.random(in: 0..<52, using: &rng)] : alphabet.randomElement(using: &rng)!)
            }
            #expect(scannerPieces(text) == regexPieces(text), "\(text.unicodeScalars.map(\.value))")
        }
    }

    @Test func invalidUTF8BytesAreKeptAsOtherPieces() {
        let bytes: [UInt8] = [0x61, 0xFF, 0xFE, 0x20, 0xC3, 0x62, 0xED, 0xA0, 0x80, 0x20, 0x62]
        var pieces: [[UInt8]] = []
        bytes.withUnsafeBytes { raw in
            PreTokenizer.forEachPiece(raw) { pieces.append(Array(bytes[$0..<$1])) }
        }
        #expect(pieces.flatMap { $0 } == bytes)
        #expect(pieces == [[0x61], [0xFF, 0xFE], [0x20, 0xC3], [0x62], [0xED, 0xA0, 0x80], [0x20, 0x62]])
    }
}

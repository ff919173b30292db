// The small text tools: the glob matcher, the UTF-8 validator (against Swift's decoder as the
// oracle), the JSONL text extractor, and the binary sniff.
import Foundation
import Testing

@testable import Corpus

@Suite struct TextTests {
    @Test(arguments: [
        ("*.txt", "a.txt", true), ("*.txt", "dir/sub/a.txt", true), ("*.txt", "a.txt.gz", false),
        ("**/*.md", "a.md", true), ("**/*.md", "x/y/z.md", true), ("docs/*.md", "corpus/docs/a.md", true),
        ("docs/*.md", "docs/sub/a.md", false), ("docs/**", "docs/sub/a.md", true), ("a/**/b", "a/b", true),
        ("a/**/b", "a/x/y/b", true), ("?.txt", "a.txt", true), ("?.txt", "ab.txt", false),
        ("[abc].txt", "b.txt", true), ("[!abc].txt", "b.txt", false), ("[a-c]*", "cat", true),
        ("[a-c]*", "dog", false), ("\\*.txt", "*.txt", true), ("\\*.txt", "a.txt", false),
        ("./notes/*", "notes/x", true), ("[unclosed", "[unclosed", true), ("*", "", true),
        ("a*b*c", "axxbyyc", true), ("a*b*c", "axxbyy", false), ("*.TXT", "a.txt", false),
    ])
    func glob(_ pattern: String, _ path: String, _ expected: Bool) {
        #expect(Glob(pattern).matches(path) == expected, "\(pattern) vs \(path)")
    }

    @Test func includeExclude() {
        let filter = PathFilter(include: ["*.txt", "*.md"], exclude: ["**/draft/**"])
        #expect(filter.accepts("a/b.txt"))
        #expect(!filter.accepts("a/b.json"))
        #expect(!filter.accepts("a/draft/b.md"))
        #expect(PathFilter(include: [], exclude: []).accepts("anything"))
    }

    @Test func utf8AgreesWithSwiftDecoder() {
        var state: UInt64 = 7
        func next() -> UInt8 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        let interesting: [UInt8] = [
            0x41, 0x7F, 0x80, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xA0, 0xED, 0x9F, 0xEF,
            0xF0, 0x90, 0xF4, 0x8F, 0xF5, 0xFF,
        ]
        for round in 0..<3000 {
            let n = round % 40
            let bytes: [UInt8] = (0..<n).map { _ in
                let r = next()
                return r < 128 ? interesting[Int(r) % interesting.count] : (r < 200 ? 0x61 : next())
            }
            let oracle = String(decoding: bytes, as: UTF8.self)
            let valid = Array(oracle.utf8) == bytes
            bytes.withUnsafeBytes { raw in
                #expect(UTF8Validation.isValid(raw) == valid, "\(bytes)")
                let out = ByteBuffer(capacity: 0)
                UTF8Validation.repair(raw, into: out)
                #expect(Array(out.bytes) == Array(oracle.utf8), "\(bytes)")
            }
        }
    }

    @Test func utf8Edges() {
        let cases: [([UInt8], Bool)] = [
            (Array("plain ascii that is longer than sixteen bytes".utf8), true),
            (Array(String(repeating: "é✓😀", count: 9).utf8), true),
            ([0xC0, 0x80], false), ([0xED, 0xA0, 0x80], false), ([0xF4, 0x90, 0x80, 0x80], false),
            ([0xF0, 0x9F, 0x98], false), (Array(repeating: 0x61, count: 31) + [0x80], false),
        ]
        for (bytes, valid) in cases {
            bytes.withUnsafeBytes { #expect(UTF8Validation.isValid($0) == valid, "\(bytes)") }
        }
    }

    @Test func jsonlText() throws {
        func text(_ line: String) -> Result<String, JSONLText.Failure> {
            let out = ByteBuffer(capacity: 0)
            return Array(line.utf8).withUnsafeBytes { raw in
                do throws(JSONLText.Failure) {
                    try JSONLText.extract(raw, into: out)
                    return .success(String(decoding: out.bytes, as: UTF8.self))
                } catch {
                    return .failure(error)
                }
            }
        }
        #expect(text(#"{"text": "hi"}"#) == .success("hi"))
        #expect(text(#" {"meta": {"a": [1, "}", {"text": "no"}]}, "text": "yes", "n": -1.5e3} "#) == .success("yes"))
        #expect(text(#"{"text": "a\"b\\c\/d\n\t\u00e9\ud83d\ude00"}"#) == .success("a\"b\\c/d\n\té😀"))
        #expect(text(#"{"text": "lone \ud800 surrogate"}"#) == .success("lone \u{FFFD} surrogate"))
        #expect(text(#"{"te\u0078t": "escaped key"}"#) == .success("escaped key"))
        #expect(text(#"{"text": null}"#) == .failure(.noTextField))
        #expect(text(#"{"body": "x"}"#) == .failure(.noTextField))
        #expect(text(#"{}"#) == .failure(.noTextField))
        #expect(text(#"["text"]"#) == .failure(.notAnObject))
        #expect(text(#"{"text": "unterminated"#) == .failure(.malformed))
        #expect(text(#"{"text": "bad \q escape"}"#) == .failure(.malformed))
    }

    @Test func jsonlFileCountsBadLines() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let path = dir.write(
            "mixed.ndjson",
            """
            {"text": "one"}

            not json
            {"title": "no text"}\r
            {"text": "two"}\r
            {"text": ""}
            {"text": "three"}
            """)
        let (docs, stats) = try readAll(path)
        #expect(docs.map(\.text) == ["one", "two", "three"])
        #expect(docs.map(\.entry) == ["#L1", "#L5", "#L7"])
        #expect(stats.skippedJSONLLines == 2 && stats.skippedEmpty == 1)
        #expect(
            stats.warnings == [
                "\(path): 2 JSONL line(s) skipped (first: line 3: not a JSON object); "
                    + "each line must be an object with a string \"text\" field"
            ])
    }

    @Test func sniffing() {
        #expect(ContentKind.looksBinary(UnsafeRawBufferPointer(start: nil, count: 0)) == false)
        [UInt8]("tabs\tand\nnewlines\r\n\u{1B}[1m".utf8).withUnsafeBytes { #expect(!ContentKind.looksBinary($0)) }
        [UInt8]([0x61, 0x00, 0x62]).withUnsafeBytes { #expect(ContentKind.looksBinary($0)) }
    }
}

extension TextTests {
    /// The word-at-a-time sniff agrees with a byte loop on random mixes of text and control bytes.
    @Test func sniffMatchesByteLoop() {
        var state: UInt64 = 99
        for round in 0..<2000 {
            let n = round % 64
            let bytes: [UInt8] = (0..<n).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let r = UInt8(truncatingIfNeeded: state >> 56)
                return r < 200 ? 0x61 : [0, 0x01, 0x09, 0x0A, 0x1B, 0x1F, 0x7F, 0x80, 0xFF][Int(r) % 9]
            }
            let control = bytes.filter { ($0 < 0x20 && ![0x09, 0x0A, 0x0C, 0x0D, 0x1B].contains($0)) || $0 == 0x7F }
            let expected = bytes.contains(0) || control.count * 10 > n
            bytes.withUnsafeBytes { #expect(ContentKind.looksBinary($0) == expected, "\(bytes)") }
        }
    }
}

// Helpers shared by the BPE tests: a seeded random generator, random texts rich in the cases
// the pre-tokenizer must get right, the fixture files, the Swift `Regex` oracle, and running
// python3 for the HF tokenizers comparisons.
import BPE
import Foundation
import TestSupport

/// SplitMix64: small, seeded, reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Snippets that exercise each branch of the GPT-2 pattern, across scripts and planes.
let trickySnippets: [String] = [
    "a", "b", "e", "ab", "the", "The", " ", " ", "  ", "\t", "\n", "\r\n", "\r", "'", "'s", "'t",
    "'re", "'ve", "'m", "'ll", "'d", "'S", "'x", "''", "0", "7", "42", ".", ",", "!", "?", "-",
    "\u{00A0}", "\u{202F}", "\u{2003}", "\u{3000}", "\u{0085}", "\u{2028}", "\u{001E}", "\u{000B}",
    "\u{0301}", "\u{0308}", "e\u{0301}", "\u{0663}", "\u{0967}", "\u{00BD}", "\u{216B}", "\u{00B2}",
    "\u{0416}", "\u{4E2D}", "\u{AC00}", "\u{05D0}", "\u{0627}", "\u{0E44}", "\u{1F600}", "\u{1F3FD}",
    "\u{200D}", "\u{1F1FA}", "\u{1D400}", "\u{1D7CE}", "\u{10400}", "\u{FEFF}", "\u{FFFD}", "_",
]

/// A random text of `count` snippets.
func randomText(_ count: Int, _ rng: inout SeededGenerator) -> String {
    var s = ""
    for _ in 0..<count { s += trickySnippets.randomElement(using: &rng)! }
    return s
}

/// A random text over a small alphabet, so that pair counts tie often.
func randomSmallAlphabetText(_ count: Int, _ rng: inout SeededGenerator) -> String {
    let pieces = ["a", "b", "c", "ab", "ba", " ", " ", "aa", "\n", "'s", "é", "1"]
    var s = ""
    for _ in 0..<count { s += pieces.randomElement(using: &rng)! }
    return s
}

/// A fixture file's text.
func fixture(_ name: String) throws -> String {
    guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else {
        throw MissingRequirement(
            description: "the fixture Tests/BPETests/Fixtures/\(name) is missing: restore it with git")
    }
    return try String(contentsOf: url, encoding: .utf8)
}

/// The fixture's paragraphs (split on blank lines), used as documents.
func fixtureDocuments(_ name: String) throws -> [String] {
    try fixture(name).components(separatedBy: "\n\n").filter { !$0.isEmpty }
}

/// The GPT-2 pattern through Swift `Regex`, matching scalar by scalar (so CRLF is two scalars).
func regexPieces(_ text: String) -> [[UInt8]] {
    let regex = try! Regex(gpt2SplitPattern).matchingSemantics(.unicodeScalar)
    return text.matches(of: regex).map { match in
        Array(String(String.UnicodeScalarView(text.unicodeScalars[match.range])).utf8)
    }
}

/// Our scanner's pieces as byte arrays.
func scannerPieces(_ text: String) -> [[UInt8]] {
    let bytes = Array(text.utf8)
    var pieces: [[UInt8]] = []
    bytes.withUnsafeBytes { raw in
        PreTokenizer.forEachPiece(raw) { start, end in pieces.append(Array(bytes[start..<end])) }
    }
    return pieces
}

/// Word counts of documents, counted by the module's `WordCounter`.
func countWords(_ documents: [String]) -> WordCounter {
    let counter = WordCounter()
    for doc in documents { counter.add(text: doc) }
    return counter
}

/// Number of examples for property tests: `TRACKER_PROPERTY_EXAMPLES`, default 200.
let propertyExamples: Int = {
    if let s = ProcessInfo.processInfo.environment["TRACKER_PROPERTY_EXAMPLES"], let n = Int(s) {
        return max(1, n)
    }
    return 200
}()

/// Runs `python3 -c script args...` and returns its stdout; throws on a non-zero exit.
func runPython(_ script: String, _ arguments: [String]) throws -> Data {
    try runProcess("python3", ["-c", script] + arguments)
}

/// Runs `tool args...` (found on the PATH) and returns its stdout; throws on a non-zero exit.
func runProcess(_ tool: String, _ arguments: [String]) throws -> Data {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool] + arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errors = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw NSError(
            domain: tool, code: Int(process.terminationStatus),
            userInfo: [NSLocalizedDescriptionKey: String(decoding: errors, as: UTF8.self)])
    }
    return data
}

/// The package's root folder.
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// The text of every file of corpora/bundled.tar.xz, concatenated (through `tar`).
func bundledCorpusText() throws -> [UInt8] {
    [UInt8](try runProcess("tar", ["-xJOf", packageRoot + "/corpora/bundled.tar.xz"]))
}

/// True if `python3` can import HF `tokenizers`.
let pythonHasTokenizers = pythonCanImport("tokenizers")

/// A fresh temporary directory.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("bpe-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

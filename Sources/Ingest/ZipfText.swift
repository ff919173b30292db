// Synthetic text whose vocabulary grows as real text does, for ingest benchmarks and tests at
// sizes no bundled corpus reaches (bench/ingest_scale.sh, `tracker bench-corpus`).
//
// Heaps' law: after n pre-token words, K n^β distinct pre-token words have appeared (K = 25,
// β = 0.6 by default). The unit is the trainer's: GPT-2 pre-token pieces, so " the", " The"
// and "The" (a paragraph's first word) are three words, and punctuation pieces count in n. The
// generator follows it exactly: whenever the law asks for one more distinct piece, the next word
// is a new one (a known word in a form not seen yet, or a new word); otherwise it repeats a word
// already seen in the form its place needs (lower case after a space, capitalised after a full
// stop or at a paragraph's start), drawn with Zipf's law (rank r with probability about 1/r).
// Words are spelled from syllables, short for the frequent ranks; sentences end with a full
// stop, a few words carry a comma, and documents are cut into paragraphs. Seeded: the same
// settings give the same bytes. `HeapsFit` measures the law on real text in the same unit.
import BPE
import Basics
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public struct ZipfText {
    /// Heaps' K and β.
    public let heapsK: Double
    public let heapsBeta: Double
    private var rng: SplitMix64
    /// Pre-token pieces emitted so far (words and punctuation), and distinct pieces among them.
    public private(set) var words = 0
    public private(set) var distinct = 0
    /// Distinct words spelled so far (each may appear in up to three forms).
    public private(set) var spellings = 0
    /// The piece count at which the law next asks for a new distinct piece.
    private var nextNewAt = 1
    /// Per word, the forms seen (bits of `Form`); per punctuation piece, whether seen.
    private var formsSeen: [UInt8] = []
    private var punctuationSeen: UInt8 = 0
    private static let syllables: [[UInt8]] = {
        // Every syllable is one onset and one vowel, so a spelling splits into syllables one way
        // only: different words are spelled differently.
        let onsets = [
            "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st", "th", "ch",
        ]
        let vowels = ["a", "e", "i", "o", "u", "ea", "ou", "ai"]
        return onsets.flatMap { o in vowels.map { Array((o + $0).utf8) } }
    }()

    /// How a word is written where it stands: " word", " Word" (after a full stop) or "Word"
    /// (a paragraph's first word): three different pre-token pieces.
    public enum Form: UInt8, Sendable {
        case lower = 1
        case capitalized = 2
        case paragraphStart = 4
    }

    public init(seed: UInt64, heapsK: Double = 25, heapsBeta: Double = 0.6) {
        rng = SplitMix64(seed: seed)
        self.heapsK = heapsK
        self.heapsBeta = heapsBeta
    }

    /// Appends the spelling of word `id` (0 is the most frequent): its digits in base-152 syllables.
    public static func appendSpelling(_ id: Int, capitalized: Bool, to out: inout [UInt8]) {
        var n = id
        let first = out.count
        repeat {
            out.append(contentsOf: syllables[n % syllables.count])
            n /= syllables.count
        } while n > 0
        if capitalized { out[first] &-= 32 }
    }

    /// Counts one piece; `isNew` when it has not been seen before.
    private mutating func count(isNew: Bool) {
        words += 1
        if isNew {
            distinct += 1
            // The smallest n with K n^β >= distinct + 1.
            nextNewAt = max(words + 1, Int(pow(Double(distinct + 1) / heapsK, 1 / heapsBeta).rounded(.up)))
        }
    }

    /// The id of the next word, to be written in `form`: new to the text in that form when the
    /// law asks for a new piece, else one already seen in that form.
    public mutating func nextWord(_ form: Form = .lower) -> Int {
        let bit = form.rawValue
        let wantNew = words + 1 >= nextNewAt
        var id = -1
        // Zipf over the words spelled so far: r = D^u (u uniform) gives P(r) about 1/(r ln D).
        for _ in 0..<(wantNew ? 1 : 32) where spellings > 0 {
            let u = Double(rng.next() >> 11) / Double(1 << 53)
            let r = min(spellings - 1, Int(pow(Double(spellings), u)) - 1)
            if (formsSeen[r] & bit != 0) != wantNew {
                id = r
                break
            }
        }
        if id < 0 && !wantNew {
            // Rare forms of rare words: the most frequent word seen in this form.
            id = formsSeen.prefix(4096).firstIndex { $0 & bit != 0 } ?? -1
        }
        if id < 0 {
            id = spellings
            spellings += 1
            formsSeen.append(0)
        }
        count(isNew: formsSeen[id] & bit == 0)
        formsSeen[id] |= bit
        return id
    }

    /// Appends a punctuation piece (index `kind` among the few the text uses) and counts it.
    private mutating func appendPunctuation(_ bytes: [UInt8], kind: UInt8, to out: inout [UInt8]) {
        out.append(contentsOf: bytes)
        count(isNew: punctuationSeen & (1 << kind) == 0)
        punctuationSeen |= 1 << kind
    }

    /// Appends a document of about `bytes` bytes to `out`; paragraph breaks are written as the two
    /// characters `\n` when `jsonEscaped` (the text never needs other escapes).
    public mutating func appendDocument(bytes: Int, to out: inout [UInt8], jsonEscaped: Bool = false) {
        let end = out.count + bytes
        let newline: [UInt8] = jsonEscaped ? Array(#"\n"#.utf8) : [0x0A]
        var sentence = 0
        var form = Form.paragraphStart
        while out.count < end {
            if form != .paragraphStart { out.append(0x20) }
            Self.appendSpelling(nextWord(form), capitalized: form != .lower, to: &out)
            form = .lower
            sentence += 1
            let r = rng.next() % 64
            if sentence >= 6 && r < 6 {
                // ".", then " Word" or, after a paragraph break (two pieces "\n"), "Word".
                appendPunctuation([0x2E], kind: 0, to: &out)
                if r == 0 && out.count + 2 * newline.count < end {  // (last, "\n\n" is one piece)
                    appendPunctuation(newline, kind: 1, to: &out)
                    appendPunctuation(newline, kind: 1, to: &out)
                    form = .paragraphStart
                } else {
                    form = .capitalized
                }
                sentence = 0
            } else if r < 10 {
                appendPunctuation([0x2C], kind: 2, to: &out)
            }
        }
        // A full stop after the last word (after punctuation it would join it in one piece).
        if sentence > 0 && out.last != 0x2C { appendPunctuation([0x2E], kind: 0, to: &out) }
    }

    /// Writes JSONL documents ({"text": ...}, one per line) of 1-32 KiB until `totalBytes` bytes.
    public mutating func writeJSONL(to path: String, totalBytes: Int64) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BasicsError.io(path: path, errno: errno, action: "create") }
        defer { close(fd) }
        var written: Int64 = 0
        var chunk: [UInt8] = []
        let head = Array(#"{"text": ""#.utf8)
        while written < totalBytes {
            chunk.append(contentsOf: head)
            appendDocument(bytes: 1024 + Int(rng.next() % (31 * 1024)), to: &chunk, jsonEscaped: true)
            chunk.append(contentsOf: [0x22, 0x7D, 0x0A])
            if chunk.count >= 8 << 20 || written + Int64(chunk.count) >= totalBytes {
                try chunk.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path) }
                written += Int64(chunk.count)
                chunk.removeAll(keepingCapacity: true)
            }
        }
    }
}

/// Heaps' law fitted to real text: distinct words D after n words, at checkpoints, in two units:
/// the trainer's (GPT-2 pre-token pieces, punctuation included, case and leading space kept) and
/// plain words (split at white space, lower-cased).
public struct HeapsFit {
    public private(set) var points: [(words: Int, distinct: Int)] = []
    /// The same checkpoints in plain words.
    public private(set) var plainPoints: [(words: Int, distinct: Int)] = []
    private let counter = WordCounter()
    private let plain = WordCounter()
    private var words = 0
    private var plainWords = 0
    private var nextCheckpoint = 1000

    public init() {}

    /// Counts the words of one document; records (n, D) when n passes the next checkpoint
    /// (1,000 words, then each time √10 times more).
    public mutating func add(document: UnsafeRawBufferPointer) {
        var n = 0
        PreTokenizer.forEachPiece(document) { _, _ in n += 1 }
        words += n
        counter.add(document: document)
        plainWords += Self.addPlainWords(document, to: plain)
        if words >= nextCheckpoint {
            points.append((words, counter.uniqueWords))
            plainPoints.append((plainWords, plain.uniqueWords))
            while nextCheckpoint <= words {
                nextCheckpoint = Int((Double(nextCheckpoint) * 10.0.squareRoot()).rounded())
            }
        }
    }

    /// Counts the white-space separated words of `document`, lower-cased, into `counter`;
    /// returns how many there were.
    static func addPlainWords(_ document: UnsafeRawBufferPointer, to counter: WordCounter) -> Int {
        var n = 0
        var word: [UInt8] = []
        func flush() {
            guard !word.isEmpty else { return }
            n += 1
            if word.allSatisfy({ $0 < 0x80 }) {
                for i in word.indices where word[i] >= 0x41 && word[i] <= 0x5A { word[i] |= 0x20 }
            } else {
                word = Array(String(decoding: word, as: UTF8.self).lowercased().utf8)
            }
            word.withUnsafeBytes { counter.add(word: $0, count: 1) }
            word.removeAll(keepingCapacity: true)
        }
        for b in document {
            if b == 0x20 || (b >= 0x09 && b <= 0x0D) { flush() } else { word.append(b) }
        }
        flush()
        return n
    }

    /// Records the last (n, D), past the last checkpoint.
    public mutating func finish() {
        if let last = points.last, last.words == words { return }
        if words > 0 {
            points.append((words, counter.uniqueWords))
            plainPoints.append((plainWords, plain.uniqueWords))
        }
    }

    /// The fitted K for a given β (least squares of log K over the checkpoints), and the fitted β
    /// with its K when both are free; over the pre-token points, or the plain-word ones.
    public func fit(beta: Double, plainWords: Bool = false) -> (k: Double, freeBeta: Double, freeK: Double) {
        let logs = (plainWords ? plainPoints : points).map { (log(Double($0.words)), log(Double($0.distinct))) }
        guard !logs.isEmpty else { return (0, 0, 0) }
        let k = exp(logs.map { $0.1 - beta * $0.0 }.reduce(0, +) / Double(logs.count))
        let mx = logs.map(\.0).reduce(0, +) / Double(logs.count)
        let my = logs.map(\.1).reduce(0, +) / Double(logs.count)
        let sxy = logs.map { ($0.0 - mx) * ($0.1 - my) }.reduce(0, +)
        let sxx = logs.map { ($0.0 - mx) * ($0.0 - mx) }.reduce(0, +)
        let b = sxx > 0 ? sxy / sxx : beta
        return (k, b, exp(my - b * mx))
    }
}

// Synthetic text whose vocabulary grows as real text does, for ingest benchmarks and tests at
// sizes no bundled corpus reaches (bench/ingest_scale.sh, `tracker bench-corpus`).
//
// Heaps' law: after n words, K n^β distinct words have appeared (K = 25, β = 0.6 by default,
// the bundled corpus' growth: `HeapsFit`). The generator follows it exactly: whenever the law
// asks for one more distinct word, the next word is a new one; otherwise it repeats a word seen
// before, drawn with Zipf's law (rank r with probability about 1/r). Words are spelled from
// syllables, short for the frequent ranks; sentences end with a full stop, a few words carry a
// comma, and documents are cut into paragraphs. Seeded: the same settings give the same bytes.
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
    /// Words emitted so far, and distinct words among them.
    public private(set) var words = 0
    public private(set) var distinct = 0
    /// The word count at which the law next asks for a new word.
    private var nextNewAt = 1
    private static let syllables: [[UInt8]] = {
        let onsets = [
            "", "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st", "th", "ch",
        ]
        let vowels = ["a", "e", "i", "o", "u", "ea", "ou", "ai"]
        return onsets.flatMap { o in vowels.map { Array((o + $0).utf8) } }
    }()

    public init(seed: UInt64, heapsK: Double = 25, heapsBeta: Double = 0.6) {
        rng = SplitMix64(seed: seed)
        self.heapsK = heapsK
        self.heapsBeta = heapsBeta
    }

    /// Appends the spelling of word `id` (0 is the most frequent): its digits in base-160 syllables.
    public static func appendSpelling(_ id: Int, capitalized: Bool, to out: inout [UInt8]) {
        var n = id
        let first = out.count
        repeat {
            out.append(contentsOf: syllables[n % syllables.count])
            n /= syllables.count
        } while n > 0
        if capitalized { out[first] &-= 32 }
    }

    /// The id of the next word.
    public mutating func nextWord() -> Int {
        words += 1
        if words >= nextNewAt {
            distinct += 1
            // The smallest n with K n^β >= distinct + 1.
            nextNewAt = max(words + 1, Int(pow(Double(distinct + 1) / heapsK, 1 / heapsBeta).rounded(.up)))
            return distinct - 1
        }
        // Zipf over the ranks seen so far: r = D^u (u uniform) gives P(r) about 1/(r ln D).
        let u = Double(rng.next() >> 11) / Double(1 << 53)
        return min(distinct - 1, Int(pow(Double(distinct), u)) - 1)
    }

    /// Appends a document of about `bytes` bytes to `out`; paragraph breaks are written as the two
    /// characters `\n` when `jsonEscaped` (the text never needs other escapes).
    public mutating func appendDocument(bytes: Int, to out: inout [UInt8], jsonEscaped: Bool = false) {
        let end = out.count + bytes
        let breakBytes: [UInt8] = jsonEscaped ? Array(#".\n\n"#.utf8) : Array(".\n\n".utf8)
        var sentence = 0
        var capital = true
        while out.count < end {
            Self.appendSpelling(nextWord(), capitalized: capital, to: &out)
            capital = false
            sentence += 1
            let r = rng.next() % 64
            if sentence >= 6 && r < 6 {
                if r == 0 { out.append(contentsOf: breakBytes) } else { out.append(contentsOf: [0x2E, 0x20]) }
                sentence = 0
                capital = true
            } else {
                if r < 10 { out.append(0x2C) }
                out.append(0x20)
            }
        }
        out.append(0x2E)
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

/// Heaps' law fitted to real text: distinct pre-token words D after n words, at checkpoints.
public struct HeapsFit {
    public private(set) var points: [(words: Int, distinct: Int)] = []
    private let counter = WordCounter()
    private var words = 0
    private var nextCheckpoint = 1000

    public init() {}

    /// Counts the words of one document; records (n, D) when n passes the next checkpoint
    /// (1,000 words, then each time √10 times more).
    public mutating func add(document: UnsafeRawBufferPointer) {
        var n = 0
        PreTokenizer.forEachPiece(document) { _, _ in n += 1 }
        words += n
        counter.add(document: document)
        if words >= nextCheckpoint {
            points.append((words, counter.uniqueWords))
            while nextCheckpoint <= words {
                nextCheckpoint = Int((Double(nextCheckpoint) * 10.0.squareRoot()).rounded())
            }
        }
    }

    /// Records the last (n, D), past the last checkpoint.
    public mutating func finish() {
        if let last = points.last, last.words == words { return }
        if words > 0 { points.append((words, counter.uniqueWords)) }
    }

    /// The fitted K for a given β (least squares of log K over the checkpoints), and the fitted β
    /// with its K when both are free.
    public func fit(beta: Double) -> (k: Double, freeBeta: Double, freeK: Double) {
        let logs = points.map { (log(Double($0.words)), log(Double($0.distinct))) }
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

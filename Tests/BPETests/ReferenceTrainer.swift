// The naive reference trainer (minbpe `basic.py` / rustbpe's "very slow" reference): split with
// Swift `Regex`, count words, and before every merge recount every pair of every word. It shares
// no code with the fast trainer except the written rule: highest count, then smallest
// (left, right) pair. The fast trainer must reproduce its merges exactly.
import BPE
import Foundation

enum ReferenceTrainer {
    /// The base id of each byte, derived here from GPT-2's `bytes_to_unicode` independently of
    /// the module: printable bytes keep their code point, the others get 256, 257, ... in byte
    /// order; ids are the ranks of those code points.
    static let idOfByte: [UInt32] = {
        var codePoints = [Int](repeating: 0, count: 256)
        var next = 256
        for b in 0..<256 {
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) {
                codePoints[b] = b
            } else {
                codePoints[b] = next
                next += 1
            }
        }
        let sorted = codePoints.sorted()
        return codePoints.map { UInt32(sorted.firstIndex(of: $0)!) }
    }()

    /// Word counts of documents, split by `Regex`.
    static func wordCounts(_ documents: [String]) -> [[UInt8]: Int64] {
        var counts: [[UInt8]: Int64] = [:]
        for doc in documents {
            for piece in regexPieces(doc) { counts[piece, default: 0] += 1 }
        }
        return counts
    }

    /// Learns up to `mergeCount` merges from word counts, none of a pair seen under
    /// `minFrequency` times (training stops there).
    static func train(wordCounts: [[UInt8]: Int64], mergeCount: Int, minFrequency: Int64 = 0) -> [(UInt32, UInt32)] {
        var words = wordCounts.map { (ids: $0.key.map { idOfByte[Int($0)] }, count: $0.value) }
        var merges: [(UInt32, UInt32)] = []
        for i in 0..<mergeCount {
            var stats: [[UInt32]: Int64] = [:]
            for word in words where word.ids.count >= 2 {
                for j in 0..<(word.ids.count - 1) {
                    stats[[word.ids[j], word.ids[j + 1]], default: 0] += word.count
                }
            }
            let best = stats.max { a, b in
                a.value != b.value ? a.value < b.value : (a.key[0], a.key[1]) > (b.key[0], b.key[1])
            }
            guard let best, best.value > 0, best.value >= minFrequency else { break }
            let pair = (best.key[0], best.key[1])
            merges.append(pair)
            for w in words.indices {
                words[w].ids = merge(words[w].ids, pair, UInt32(256 + i))
            }
        }
        return merges
    }

    /// Replaces each occurrence of `pair` in `ids`, left to right, without overlaps.
    static func merge(_ ids: [UInt32], _ pair: (UInt32, UInt32), _ newId: UInt32) -> [UInt32] {
        var out: [UInt32] = []
        var i = 0
        while i < ids.count {
            if i + 1 < ids.count && ids[i] == pair.0 && ids[i + 1] == pair.1 {
                out.append(newId)
                i += 2
            } else {
                out.append(ids[i])
                i += 1
            }
        }
        return out
    }
}

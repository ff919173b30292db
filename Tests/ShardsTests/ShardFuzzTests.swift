// Fuzzing the shard reader: thousands of mutated headers and bodies of real shards (both token
// widths), read as a run reads them. Every input either opens, and then every token reads back
// inside the vocabulary, or fails with a ShardError that says what is wrong. No trap, no hang.
import Basics
import Foundation
import Shards
import TestSupport
import Testing

/// Longest a single input may take before it counts as a hang (far above the microseconds one takes).
private let hangBound = Duration.seconds(5)

struct ShardFuzzTests {
    @Test(arguments: [300, 70_000])
    func mutatedShardsOpenOrFailWithAShardError(vocab: Int) throws {
        let dir = NSTemporaryDirectory() + "shard-fuzz-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let seedPath = dir + "/seed.bin"
        let writer = try ShardWriter(
            path: seedPath, vocabSize: vocab, eotId: UInt32(vocab - 1), tokenizerSHA256: Array(0..<32))
        for doc in 0..<5 {
            let tokens = [UInt32(vocab - 1)] + (0..<(40 + doc * 13)).map { UInt32(($0 * 7919 + doc) % vocab) }
            try tokens.withUnsafeBufferPointer { try writer.append(document: $0) }
        }
        try writer.finish()
        let seed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: seedPath)))
        let sha = try FileHashing.sha256(path: seedPath).hex

        var mutator = Mutator(seed: UInt64(vocab))
        var opened = 0
        var failures: [String: Int] = [:]
        let path = dir + "/fuzz.bin"
        for n in 0..<1500 {
            let input = mutator.mutate(seed, focus: 0..<64)
            try Data(input).write(to: URL(fileURLWithPath: path))
            let start = ContinuousClock.now
            do {
                let reader = try ShardReader(
                    path: path, expectVocabSize: n % 3 == 0 ? nil : vocab, expectSHA256: n % 5 == 0 ? sha : nil)
                let limit = UInt32(
                    n % 3 == 0 ? (reader.header.vocabSize > 0 ? reader.header.vocabSize : Int.max) : vocab)
                for i in 0..<reader.tokenCount where reader[i] >= limit {
                    Issue.record("input \(n): token \(reader[i]) at \(i) passed the range check")
                    break
                }
                opened += 1
            } catch let error as ShardError {
                let message = error.description
                #expect(message.hasPrefix(path) || message.contains(path), "input \(n): \(message)")
                failures[String(message.dropFirst(path.count + 2).prefix(24)), default: 0] += 1
            } catch {
                Issue.record("input \(n): not a ShardError: \(error)")
            }
            #expect(ContinuousClock.now - start < hangBound, "input \(n) took too long")
        }
        // The mutations reached both outcomes and several distinct checks.
        #expect(opened > 0)
        #expect(failures.count >= 4, "\(failures)")
    }

    /// The header parser alone, on random and mutated 1024-byte blocks (no file needed).
    @Test func headerDecodeNeverTraps() throws {
        let header = ShardHeader(tokenCount: 12, vocabSize: 50_257, eotId: 50_256, documents: 2, tokenizerSHA256: [])
        var mutator = Mutator(seed: 99)
        for n in 0..<5000 {
            let input =
                n % 10 == 0
                ? (0..<(mutator.int(1100))).map { _ in UInt8(mutator.int(256)) }
                : mutator.mutate(header.encoded(), focus: 0..<24)
            do {
                let h = try input.withUnsafeBytes { try ShardHeader.decode($0, path: "h.bin") }
                #expect(h.tokenCount >= 0 && h.vocabSize >= 0 && h.documents >= 0 && [1, 2].contains(h.version))
            } catch let error as ShardError {
                #expect(error.description.hasPrefix("h.bin: "))
            }
        }
    }
}

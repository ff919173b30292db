// The loader over shards whose tokens are 0..<N (llm.c's test_dataloader idea): every window is a
// run of consecutive integers, so the one-token shift, shard boundaries and determinism can be
// checked exactly.
import Foundation
import Shards
import Testing
import Training

struct DataLoaderTests {
    /// Two shards: tokens 0..<300 and 1000..<1200, so a window crossing shards would show a jump.
    func shards() throws -> [ShardReader] {
        let dir = temporaryDirectory("loader")
        return [
            try makeShard(dir + "/train_000000.bin", tokens: (0..<300).map(UInt32.init), vocab: 2000),
            try makeShard(dir + "/train_000001.bin", tokens: (1000..<1200).map(UInt32.init), vocab: 2000),
        ]
    }

    func batches(_ loader: DataLoader, _ n: Int) -> [[Int32]] {
        let B = loader.B
        let T = loader.T
        var out: [[Int32]] = []
        var x = [Int32](repeating: 0, count: B * T)
        var y = x
        for _ in 0..<n {
            loader.next(inputs: &x, targets: &y)
            out.append(x + y)
        }
        return out
    }

    @Test func windowsAreConsecutiveAndTargetsShiftedByOne() throws {
        let loader = try DataLoader(shards: try shards(), batch: 4, time: 16, seed: 7)
        var x = [Int32](repeating: 0, count: 64)
        var y = x
        var firsts = Set<Int32>()
        for _ in 0..<50 {
            loader.next(inputs: &x, targets: &y)
            for b in 0..<4 {
                let row = Array(x[(b * 16)..<(b * 16 + 16)])
                let tgt = Array(y[(b * 16)..<(b * 16 + 16)])
                #expect(zip(row, row.dropFirst()).allSatisfy { $1 == $0 + 1 }, "window crosses a shard: \(row)")
                #expect(zip(row, tgt).allSatisfy { $1 == $0 + 1 })
                #expect((0...283).contains(row[0]) || (1000...1183).contains(row[0]))
                firsts.insert(row[0])
            }
        }
        #expect(firsts.contains { $0 < 300 } && firsts.contains { $0 >= 1000 })
        #expect(loader.windowCount == (300 - 16) + (200 - 16))
        #expect(loader.state.batches == 50)
    }

    @Test func sameSeedSameBatchesAndResumeReplays() throws {
        let s = try shards()
        let a = batches(try DataLoader(shards: s, batch: 3, time: 8, seed: 42), 20)
        let b = batches(try DataLoader(shards: s, batch: 3, time: 8, seed: 42), 20)
        #expect(a == b)
        let c = batches(try DataLoader(shards: s, batch: 3, time: 8, seed: 43), 20)
        #expect(a != c)
        let resumed = try DataLoader(shards: s, batch: 3, time: 8, seed: 0)
        resumed.restore(DataLoaderState(seed: 42, batches: 12))
        #expect(batches(resumed, 8) == Array(a[12...]))
    }

    @Test func startsAreRoughlyUniform() throws {
        let loader = try DataLoader(shards: try shards(), batch: 8, time: 16, seed: 1)
        var x = [Int32](repeating: 0, count: 128)
        var y = x
        var inFirst = 0
        for _ in 0..<500 {
            loader.next(inputs: &x, targets: &y)
            for b in 0..<8 where x[b * 16] < 300 { inFirst += 1 }
        }
        let share = Double(inFirst) / 4000
        let expected = 284.0 / 468.0
        #expect(abs(share - expected) < 0.03)
    }

    @Test func tooShortShardsThrow() throws {
        let dir = temporaryDirectory("loader")
        let s = try makeShard(dir + "/a.bin", tokens: (0..<8).map(UInt32.init), vocab: 10)
        #expect(throws: TrainingError.self) { try DataLoader(shards: [s], batch: 1, time: 8, seed: 1) }
        #expect(throws: TrainingError.self) { try EvalWindows(shards: [s], time: 8) }
    }

    @Test func evalWindowsTileTheShardsInOrder() throws {
        let w = try EvalWindows(shards: try shards(), time: 16)
        #expect(w.count == 299 / 16 + 199 / 16)
        var x = [Int32](repeating: 0, count: 16)
        var y = x
        w.fill(window: 0, inputs: &x, targets: &y)
        #expect(x == (0..<16).map(Int32.init) && y == (1..<17).map(Int32.init))
        w.fill(window: 18, inputs: &x, targets: &y)
        #expect(x == (1000..<1016).map(Int32.init) && y == (1001..<1017).map(Int32.init))
        w.fill(window: w.count - 1, inputs: &x, targets: &y)
        #expect(x[0] == 1000 + 11 * 16)
    }
}

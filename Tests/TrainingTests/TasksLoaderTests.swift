// TaskLoader (batches of synthetic tasks, shared/spec/attention.md §2.3): determinism per seed,
// resuming, streams that continue across batches; TaskOptions decoding; and the position-bucket
// metrics ([0,L) [L,2L) [2L,4L) [4L,8L)) with their key names.
import Basics
import Foundation
import Testing

@testable import Training

struct TasksLoaderTests {
    func draw(_ loader: TaskLoader, _ n: Int) -> [TaskBatch] {
        (0..<n).map { _ in loader.nextBatch() }
    }

    @Test(arguments: ["t1", "s1", "t2"])
    func deterministicPerSeedAndResumable(name: String) throws {
        let task = try TaskOptions(task: name).makeTask(context: 32)
        let a = draw(TaskLoader(task: task, batch: 3, time: 32, seed: 9), 6)
        #expect(a == draw(TaskLoader(task: task, batch: 3, time: 32, seed: 9), 6))
        #expect(a != draw(TaskLoader(task: task, batch: 3, time: 32, seed: 10), 6))
        let eval = TaskLoader.evaluation(task: task, batch: 3, time: 32, seed: 9)
        #expect(draw(eval, 6) != a, "evaluation episodes are not the training ones")

        let resumed = TaskLoader(task: task, batch: 3, time: 32, seed: 9)
        resumed.restore(DataLoaderState(seed: 9, batches: 4))
        #expect(draw(resumed, 2) == Array(a[4...]))
        #expect(resumed.state == DataLoaderState(seed: 9, batches: 6))

        var x = [Int32](repeating: 0, count: 96)
        var y = x
        let viaPointers = TaskLoader(task: task, batch: 3, time: 32, seed: 9)
        viaPointers.next(inputs: &x, targets: &y)
        #expect(x == a[0].inputs && y == a[0].targets)
        #expect(a.allSatisfy { $0.inputs.allSatisfy { $0 >= 0 && Int($0) < task.vocabSize } })
        #expect(a.allSatisfy { $0.targets.allSatisfy { $0 >= -1 && Int($0) < task.vocabSize } })
    }

    @Test func episodesAreFreshPerRowAndBatch() throws {
        let loader = TaskLoader(task: try RandomWalkTask(), batch: 4, time: 16, seed: 1)
        let rows = draw(loader, 5).flatMap { b in
            (0..<4).map { Array(b.inputs[($0 * 16)..<($0 * 16 + 16)]) }
        }
        #expect(Set(rows).count == rows.count)
    }

    @Test func streamsContinueAcrossBatches() throws {
        let task = try VariableTrackingTask()
        let loader = TaskLoader(task: task, batch: 2, time: 20, seed: 3)
        let batches = draw(loader, 30)
        for b in 0..<2 {
            let row = batches.flatMap { Array($0.inputs[(b * 20)..<(b * 20 + 20)]) }
            let tgt = batches.flatMap { Array($0.targets[(b * 20)..<(b * 20 + 20)]) }
            let ends = row.indices.filter { row[$0] == task.endToken }
            #expect(ends.count >= 5)
            let first = ends[0] + 1
            let last = ends[ends.count - 1] + 1
            let (expected, programs) = TasksGeneratorTests().interpret(
                Array(row[first..<last]), task)
            #expect(programs == ends.count - 1, "whole programs between the first and last END")
            #expect(Array(tgt[first..<last]) == expected, "answers stay right across segment cuts")
        }
        let rowStarts = (0..<2).map { b in Array(batches[0].inputs[(b * 20)..<(b * 20 + 20)]) }
        #expect(rowStarts[0] != rowStarts[1], "each row is its own stream")
    }

    @Test func optionsDecodeWithDefaultsAndValidate() throws {
        let json = #"{"task": "s1", "episode_length": 64, "eval_lengths": [64, 256, 512]}"#
        let o = try JSONDecoder().decode(TaskOptions.self, from: Data(json.utf8))
        #expect(o.episodeLength == 64 && o.evalLengths == [64, 256, 512])
        #expect(o.keys == 8 && o.values == 16 && o.setProbability == 0.6 && o.positions == 5)
        let task = try o.makeTask(context: 64)
        #expect(task.name == "s1" && task.vocabSize == 26 && !task.isStreaming)
        #expect(try TaskOptions(task: "t2").makeTask(context: 64).vocabSize == 19)
        #expect(try TaskOptions(task: "t1").makeTask(context: 64).vocabSize == 8)
        #expect(TaskOptions(task: "t1").trainLength(context: 48) == 48)
        #expect(throws: TrainingError.self) { try TaskOptions(task: "t9").makeTask(context: 64) }
        var long = TaskOptions(task: "t1")
        long.episodeLength = 65
        #expect(throws: TrainingError.self) { try long.makeTask(context: 64) }
        #expect(
            TaskOptions.configKeys.contains("episode_length")
                && TaskOptions.configKeys.contains("task"))
    }

    // MARK: - Position buckets

    @Test func bucketRangesAndBoundaries() {
        let ranges = (0..<4).map { PositionBuckets.range($0, trainLength: 64) }
        #expect(ranges == [0..<64, 64..<128, 128..<256, 256..<512])
        for (t, i) in [(0, 0), (63, 0), (64, 1), (127, 1), (128, 2), (255, 2), (256, 3), (511, 3)] {
            #expect(PositionBuckets.bucket(of: t, trainLength: 64) == i, "t = \(t)")
        }
        #expect(PositionBuckets.bucket(of: 512, trainLength: 64) == nil)
        #expect(PositionBuckets.factorLabel(length: 256, trainLength: 64) == "4x")
        #expect(PositionBuckets.factorLabel(length: 64, trainLength: 64) == "1x")
        #expect(PositionBuckets.factorLabel(length: 96, trainLength: 64) == "1.5x")
    }

    @Test func powerOfTwoBucketsOfAbsolutePositions() {
        for (t, i) in [(0, 0), (1, 1), (2, 2), (3, 2), (4, 3), (7, 3), (8, 4), (255, 8), (256, 9), (511, 9)] {
            #expect(PositionBuckets.powerOfTwoBucket(of: t) == i, "t = \(t)")
            #expect(PositionBuckets.powerOfTwoRange(i).contains(t), "t = \(t)")
        }
        var b = PositionBuckets(trainLength: 2, scheme: .powersOfTwo(upTo: 8))
        #expect(b.bucketNames == ["[0,1)", "[1,2)", "[2,4)", "[4,8)"])
        // Two rows of 8; row 1 masks t = 3. Position 8 would be past the last bucket.
        b.addLosses(
            [1, 2, 3, 4, 5, 6, 7, 8, 3, 4, 5, 100, 1, 1, 1, 1],
            targets: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0],
            time: 8)
        #expect(b.counts == [2, 2, 3, 8])
        #expect(
            b.metrics(prefix: "lengen/pos", length: 8) == [
                "lengen/pos/4x/[0,1)": 2, "lengen/pos/4x/[1,2)": 3, "lengen/pos/4x/[2,4)": 4,
                "lengen/pos/4x/[4,8)": 3.75,
            ])
        #expect(PositionBuckets(trainLength: 64, scheme: .powersOfTwo(upTo: 512)).bucketNames.last == "[256,512)")
    }

    @Test func accuracyByBucket() {
        // L = 2, rows of T = 8: buckets [0,2) [2,4) [4,8). Row 0 all correct; row 1 wrong at
        // t = 1, 2, 4, 5 and masked at t = 7.
        let targets: [Int32] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1]
        let predictions: [Int32] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 1, 0]
        let m = PositionBuckets.accuracyMetrics(
            predictions: predictions, targets: targets, time: 8, trainLength: 2)
        #expect(
            m == [
                "task/acc/4x/[0,L)": 0.75, "task/acc/4x/[L,2L)": 0.75,
                "task/acc/4x/[2L,4L)": 5.0 / 7,
            ])
    }

    @Test func lossByBucketAccumulatesOverBatches() {
        var b = PositionBuckets(trainLength: 1)
        b.addLosses([1, 2, 3, 4, 5, 6, 7, 8, 9], targets: [0, 0, 0, 0, 0, 0, 0, 0, 0], time: 9)
        b.addLosses([3, 0, 1, 0, 0, 0, 0, 0, 100], targets: [0, -1, 0, 0, 0, 0, 0, 0, 0], time: 9)
        // positions 0 | 1 | 2,3 | 4..7 | 8 (beyond 8L: left out)
        #expect(b.counts == [2, 1, 4, 8])
        let m = b.metrics(prefix: "lengen/loss", length: 9)
        #expect(m["lengen/loss/9x/[0,L)"] == 2)
        #expect(m["lengen/loss/9x/[L,2L)"] == 2)
        #expect(m["lengen/loss/9x/[2L,4L)"] == 2)  // (3 + 4 + 1 + 0) / 4
        #expect(m["lengen/loss/9x/[4L,8L)"] == 3.25)  // (5 + 6 + 7 + 8) / 8
        let one = PositionBuckets.lossMetrics(
            losses: [2, 4], targets: [5, 5], time: 2, trainLength: 2)
        #expect(one == ["lengen/loss/1x/[0,L)": 3])
        #expect(PositionBuckets.argmax(logits: [0, 2, 2, -1, 5, 0], vocab: 3) == [1, 1])
    }
}

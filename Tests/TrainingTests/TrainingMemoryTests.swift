// The memory estimate made before a run allocates anything: it counts what the trainer really
// allocates, it refuses a run that does not fit with what to change, and sizes far past any CPU
// are range errors before any arithmetic could overflow.
import Basics
import Foundation
import Model
import Testing
import Training

struct TrainingMemoryTests {
    @Test(arguments: ["plain", "staircase", "ladder"])
    func workspaceEstimateMatchesWhatAForwardAndBackwardAllocate(schedule: String) throws {
        var config = tinyModelConfig(vocab: 64, context: 16)
        config.schedule = ScheduleConfig(
            name: schedule, options: schedule == "staircase" ? ["chunk": .int(4), "steps": .int(2)] : [:])
        let model = try LanguageModel(config: config)
        let footprint = try ModelFootprint(config)
        #expect(footprint.parameters == model.parameterCount)
        let (B, T) = (2, 16)
        let ws = model.makeWorkspace(batch: B, time: T)
        let tokens = (0..<(B * T)).map { Int32($0 % 64) }
        let grads = UnsafeMutablePointer<Float>.allocate(capacity: model.parameterCount)
        defer { grads.deallocate() }
        grads.initialize(repeating: 0, count: model.parameterCount)
        _ = model.forward(ws, tokens: tokens, targets: tokens)
        model.backward(ws, grads: grads)
        let estimate = footprint.workspaceFloats(batch: B, time: T)
        let allocated = ws.floatCount + ws.scheduleFloatCount
        if schedule == "plain" {
            #expect(estimate == allocated)
        } else {
            // Rows are grown on demand: the estimate is an upper bound within 2x of what one
            // forward and backward grew them to.
            #expect(estimate >= allocated && estimate <= 2 * allocated, "estimate \(estimate), allocated \(allocated)")
        }
    }

    @Test func estimateAddsParametersGradientsMomentsAndActivations() throws {
        let config = tinyModelConfig(vocab: 64, context: 16)
        var train = quickTrainConfig(steps: 1, batch: 4, threads: 2)
        let one = try TrainingMemory(model: config, train: train, time: 16)
        let P = Int64(try ModelFootprint(config).parameters) * 4
        #expect(one.parameterBytes == 2 * P && one.gradientBytes == 2 * P && one.optimizerBytes == 2 * P)
        train.threads = 1
        let single = try TrainingMemory(model: config, train: train, time: 16)
        #expect(single.gradientBytes == P)
        let longer = try TrainingMemory(model: config, train: train, time: 16, evaluationTimes: [16, 128])
        #expect(longer.evaluationBytes > single.workspaceBytes)
        #expect(longer.total == single.total + longer.evaluationBytes)
    }

    @Test func aRunThatDoesNotFitIsRefusedWithWhatToChange() throws {
        let train = quickTrainConfig(steps: 1, batch: 4)
        let memory = try TrainingMemory(model: tinyModelConfig(vocab: 64), train: train, time: 16)
        try memory.check(available: MemoryAvailable(bytes: memory.total, source: "test"))
        do {
            try memory.check(available: MemoryAvailable(bytes: memory.total - 1, source: "ulimit -v"))
            Issue.record("expected notEnoughMemory")
        } catch let error as TrainingError {
            let text = error.description
            #expect(text.contains("needs about") && text.contains("ulimit -v") && text.contains("lower [train] batch"))
        }
    }

    /// A wide, deep, long model (about 3 TB of activations at batch 1024) is refused from the
    /// estimate alone, without allocating.
    @Test func aHugeButValidConfigIsRefusedBeforeAllocating() throws {
        var config = tinyModelConfig(vocab: 50_000, context: 1 << 20)
        (config.channels, config.layers, config.heads) = (4096, 64, 32)
        var train = quickTrainConfig(steps: 1, batch: 1024)
        train.threads = 2
        let memory = try TrainingMemory(model: config, train: train, time: 1 << 20)
        #expect(memory.total > 1 << 40)
        #expect(throws: TrainingError.self) { try memory.check(available: MemoryAvailable.current()) }
    }

    @Test(arguments: [
        ("channels", 1 << 62), ("layers", 1_000_000_000), ("context", 100_000_000_000), ("vocab_size", Int(UInt32.max)),
        ("heads", 1 << 40),
    ])
    func absurdModelSizesAreRangeErrors(field: String, value: Int) throws {
        var config = tinyModelConfig(vocab: 64)
        switch field {
        case "channels": config.channels = value
        case "layers": config.layers = value
        case "context": config.context = value
        case "heads": config.heads = value
        default: config.vocabSize = value
        }
        do {
            _ = try ModelFootprint(config)
            Issue.record("expected a range error for \(field)")
        } catch let error as ModelError {
            #expect("\(error)".contains(field) && "\(error)".contains("must be in"))
        }
    }

    @Test(arguments: [
        ("steps", Int.max), ("batch", 1_000_000_000), ("grad_accum", Int.max), ("eval_batches", Int.max),
        ("log_every", 0),
    ])
    func absurdTrainingCountsAreRangeErrors(key: String, value: Int) throws {
        let json = "{\"\(key)\": \(value)}"
        let train = try JSONDecoder().decode(TrainConfig.self, from: Data(json.utf8))
        #expect(throws: TrainingError.self) { try train.validate() }
    }

    @Test func theMachineReportsAvailableMemory() throws {
        let available = try #require(MemoryAvailable.current(), "Linux exposes /proc/meminfo")
        #expect(available.bytes > 0 && !available.source.isEmpty)
    }
}

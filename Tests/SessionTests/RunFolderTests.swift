// Every `tracker train --config` run gets its own folder, and a resumed run continues in its
// folder: a config that changes what is trained is refused, an evaluation change is recorded,
// and metrics.jsonl holds every step once.
import Attention
import Basics
import Foundation
import Testing
import Training

@testable import Session

struct RunFolderTests {
    func home() -> String { NSTemporaryDirectory() + "runfolder-\(UUID().uuidString)" }

    @Test func runsStartedInTheSameSecondGetTheirOwnFolders() throws {
        let parent = home() + "/runs"
        let made = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            if let dir = try? RunFolder.create(in: parent, name: "same", timestamp: "20260101-000000") {
                made.update { $0.append(dir) }
            }
        }
        let dirs = made.value
        #expect(dirs.count == 16 && Set(dirs).count == 16)
        #expect(dirs.allSatisfy { FileManager.default.fileExists(atPath: $0) })
        #expect(dirs.contains(parent + "/same-20260101-000000") && dirs.contains(parent + "/same-20260101-000000-16"))
    }

    @Test func aResumeThatChangesTrainingIsRefusedNamingTheKeys() throws {
        let session = TrainSession(home: home(), peakFlops: 1e9)
        let config = try TrainConfigFile.decode(toml: TrainSessionTests.toml)
        let first = try session.train(config, name: "t1")
        var changed = config
        changed.train.lr = 1e-4
        changed.model.channels = 32
        do {
            _ = try session.train(changed, name: "t1", resume: first.runDirectory)
            Issue.record("a changed training config resumed")
        } catch let error as SessionError {
            #expect(error.description.contains("model.channels, train.lr"), "\(error)")
        }
        #expect(try TrainConfigFile.load(path: first.runDirectory + "/config.json") == resolvedOptions(config))
    }

    /// With train.decay_steps set, a finished run trains on to more steps from its last
    /// checkpoint, and ends exactly where a run with those steps from the start ends; without it
    /// the schedule would change under the run, and the resume is refused.
    @Test func aRunWithAFixedScheduleTrainsOnToMoreSteps() throws {
        let session = TrainSession(home: home(), peakFlops: 1e9)
        var config = try TrainConfigFile.decode(toml: TrainSessionTests.toml)
        config.train.warmup = 2
        config.train.checkpointEvery = 4
        config.train.steps = 8
        config.train.decaySteps = 8
        let straight = try session.train(config, name: "straight")
        var short = config
        short.train.steps = 4
        let first = try session.train(short, name: "t1")
        let extended = try session.train(config, name: "t1", resume: first.runDirectory)
        #expect(extended.runDirectory == first.runDirectory && extended.steps == 8)
        #expect(extended.finalTrainLoss == straight.finalTrainLoss)
        let changes = try String(contentsOfFile: first.runDirectory + "/config-changes.jsonl", encoding: .utf8)
        #expect(changes.contains("\"train.steps\":[4,8]"), "\(changes)")

        var open = short
        open.train.decaySteps = 0
        let unfixed = try session.train(open, name: "t2")
        var longer = open
        longer.train.steps = 8
        do {
            _ = try session.train(longer, name: "t2", resume: unfixed.runDirectory)
            Issue.record("a resume that changes the schedule through train.steps went ahead")
        } catch let error as SessionError {
            #expect(
                error.description.contains("in train.steps:") && error.description.contains("decay_steps"), "\(error)")
        }
    }

    @Test func anEvaluationChangeIsRecordedAndEachStepIsLoggedOnce() throws {
        let session = TrainSession(home: home(), peakFlops: 1e9)
        var config = try TrainConfigFile.decode(toml: TrainSessionTests.toml)
        config.train.steps = 6
        config.train.checkpointEvery = 4
        let whole = try session.train(config, name: "t1")
        var evaluation = config
        evaluation.data.task?.evalEpisodes = 4
        let checkpoint = whole.runDirectory + "/checkpoints/" + Checkpoint.fileName(step: 4)
        let resumed = try session.train(evaluation, name: "t1", resume: checkpoint)
        #expect(resumed.runDirectory == whole.runDirectory)

        let changes = try String(contentsOfFile: whole.runDirectory + "/config-changes.jsonl", encoding: .utf8)
        #expect(changes.contains("\"data.eval_episodes\":[8,4]"), "\(changes)")
        #expect(try TrainConfigFile.load(path: whole.runDirectory + "/config.json") == resolvedOptions(evaluation))

        let lines = try String(contentsOfFile: whole.runDirectory + "/metrics.jsonl", encoding: .utf8)
            .split(separator: "\n")
        let steps = try lines.map { line -> Int in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return try #require(object["step"] as? Int)
        }
        // One line per logged step (train metrics every step, evaluation lines at the end)
        // and none of the steps 5 and 6 logged twice.
        #expect(steps == steps.sorted())
        #expect(steps.filter { $0 == 5 }.count == steps.filter { $0 == 3 }.count)
    }
}

/// A value shared between threads behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private var stored: Value
    private let lock = NSLock()
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func update(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
}

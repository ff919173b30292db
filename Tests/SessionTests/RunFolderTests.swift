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

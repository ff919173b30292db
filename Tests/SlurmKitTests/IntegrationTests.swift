// A 4-task array through the real Slurm commands, on TestSlurm's cluster (the one SLURM_CONF
// names, else one the test process starts and stops). Without Slurm this says so; with CI=true
// that is a failure.
import Foundation
import TestSupport
import Testing

@testable import SlurmKit

@Suite(.tags(.slurm), .serialized) struct IntegrationTests {
    /// The environment to run Slurm commands in (TestSlurm's cluster), or nil (after saying why)
    /// when there is none.
    func clusterEnvironment() -> [String: String]? {
        if let env = TestSlurm.environment { return env }
        let why = "no Slurm cluster: \(TestSlurm.problem)"
        if runningInCI {
            Issue.record("Slurm integration test cannot run: \(why)")
        } else {
            print("skipped the Slurm integration test: \(why)")
        }
        return nil
    }

    @Test func fourTaskArrayRunsToCompletion() throws {
        guard let env = clusterEnvironment() else { return }
        let slurm = ProcessSlurmCommands(environment: env)
        let config = try slurm.showConfig()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }

        // task 2 exits 3, the others 0: `bash -c SCRIPT worker --index N` sees N as $2
        let spec = SlurmJobSpec(
            name: "slurmkit-test",
            resources: SlurmResources(partition: env["TRACKER_SLURM_PARTITION"], time: "5", cpusPerTask: 1),
            taskCount: 4,
            maxParallel: 2, output: dir.path + "/%A_%a.out",
            command: ["/bin/bash", "-c", #"echo "task $2 of $SLURM_ARRAY_JOB_ID"; [ "$2" != 2 ] || exit 3"#, "worker"])
        let chunks = spec.chunks(maxArraySize: config.maxArraySize)
        #expect(chunks == [SlurmArrayChunk(offset: 0, count: 4)])
        let scriptPath = dir.path + "/job.sh"
        try spec.script(for: chunks[0]).write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let submission = try slurm.sbatch(scriptPath: scriptPath)
        let array = submission.jobID

        var backoff = SlurmPollBackoff(first: .milliseconds(500), cap: .seconds(2))
        var states: [SlurmJobID: SlurmJobStatus] = [:]
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            states = SlurmParse.latest(try slurm.squeue(jobs: [array]))
            if states.count == 4 && states.values.allSatisfy({ $0.outcome.isFinal }) { break }
            Thread.sleep(forTimeInterval: backoff.next().seconds)
        }
        let ids = (0..<4).map { SlurmJobID(job: array, task: $0) }
        #expect(Set(states.keys) == Set(ids))
        #expect(ids.map { states[$0]?.outcome } == [.completed, .completed, .failed, .completed])
        #expect(states[ids[2]]?.reason == "NonZeroExitCode")

        let failed = try slurm.showJob(ids[2]).flatMap { try $0.statuses() }
        #expect(failed.map(\.exitCode) == [SlurmExitCode(code: 3)])
        let output = try String(contentsOfFile: dir.path + "/\(array)_1.out", encoding: .utf8)
        #expect(output == "task 1 of \(array)\n")

        if config.hasAccounting {
            let rows = SlurmParse.latest(try slurm.sacct(jobs: [array]))
            #expect(rows[ids[2]]?.exitCode == SlurmExitCode(code: 3))
        } else {
            #expect(throws: SlurmError.accountingDisabled) { try slurm.sacct(jobs: [array]) }
        }
    }

    @Test func cancelAndRequeueTasks() throws {
        guard let env = clusterEnvironment() else { return }
        let slurm = ProcessSlurmCommands(environment: env)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // one task at a time: task 0 runs, tasks 1 and 2 wait
        let spec = SlurmJobSpec(
            name: "slurmkit-cancel", resources: SlurmResources(partition: env["TRACKER_SLURM_PARTITION"]), taskCount: 3,
            maxParallel: 1,
            output: dir.path + "/%A_%a.out", command: ["/bin/bash", "-c", "sleep 300", "worker"])
        let scriptPath = dir.path + "/job.sh"
        try spec.script(for: SlurmArrayChunk(offset: 0, count: 3)).write(
            toFile: scriptPath, atomically: true, encoding: .utf8)
        let array = try slurm.sbatch(scriptPath: scriptPath).jobID
        let ids = (0..<3).map { SlurmJobID(job: array, task: $0) }
        defer { try? slurm.scancel([SlurmJobID(job: array)], pendingOnly: false) }

        func states() throws -> [SlurmJobID: SlurmJobStatus] { SlurmParse.latest(try slurm.squeue(jobs: [array])) }
        func waitFor(_ what: String, _ done: ([SlurmJobID: SlurmJobStatus]) -> Bool) throws -> [SlurmJobID:
            SlurmJobStatus]
        {
            let deadline = ContinuousClock.now + .seconds(60)
            var last = try states()
            while !done(last) && ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.3)
                last = try states()
            }
            #expect(done(last), "\(what): \(last.values.map { "\($0.id) \($0.stateText)" }.sorted())")
            return last
        }

        func outcomes(_ s: [SlurmJobID: SlurmJobStatus]) -> [SlurmOutcome?] {
            (0..<3).map { SlurmParse.taskStatus(s, array: array, task: $0)?.outcome }
        }
        _ = try waitFor("task 0 running") { outcomes($0) == [.running, .queued, .queued] }
        // a pending task cancelled on its own vanishes from squeue
        try slurm.scancel([ids[2]], pendingOnly: false)
        _ = try waitFor("task 2 gone") { outcomes($0) == [.running, .queued, nil] }
        // cancelling every pending task leaves the array's own record CANCELLED; the running task stays
        try slurm.scancel([SlurmJobID(job: array)], pendingOnly: true)
        _ = try waitFor("pending tasks cancelled") { outcomes($0) == [.running, .cancelled, .cancelled] }
        // the worker's requeue after a checkpoint: back to the queue, one restart
        try slurm.requeue(ids[0])
        _ = try waitFor("task 0 requeued") { [.queued, .requeued].contains(outcomes($0)[0]) }
        #expect(try slurm.showJob(ids[0]).map(\.restarts) == [1])
        try slurm.scancel([ids[0]], pendingOnly: false)
        _ = try waitFor("all cancelled") { outcomes($0) == [.cancelled, .cancelled, .cancelled] }
    }
}

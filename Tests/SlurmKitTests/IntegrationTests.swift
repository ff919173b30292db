// A 4-task array through the real Slurm commands, on the cluster SLURM_CONF names (CI starts one
// with .ci/services/slurm.sh). Without Slurm this says so; with CI=true that is a failure.
import Foundation
import Testing

@testable import SlurmKit

@Suite(.tags(.slurm), .serialized) struct IntegrationTests {
    /// The environment to run Slurm commands in, or nil (after saying why) when there is no cluster.
    func clusterEnvironment() -> [String: String]? {
        let env = ProcessInfo.processInfo.environment
        if let conf = env["SLURM_CONF"], FileManager.default.fileExists(atPath: conf) { return env }
        let why =
            "SLURM_CONF is not set to a slurm.conf: start a cluster with `.ci/services/slurm.sh start` and source its output"
        if env["CI"] == "true" {
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
            name: "slurmkit-test", partition: env["TRACKER_SLURM_PARTITION"], time: "5", cpusPerTask: 1, taskCount: 4,
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
}

// ProcessSlurmCommands against stand-in scripts on PATH: the arguments it passes, and its
// errors when a binary is missing, the controller does not answer, or a command hangs.
import Foundation
import Testing

@testable import SlurmKit

@Suite struct CommandsTests {
    /// A PATH directory with `name` as a bash script of `body`.
    func fakeBinaries(_ scripts: [String: String]) throws -> URL {
        let dir = try temporaryDirectory()
        for (name, body) in scripts {
            let url = dir.appendingPathComponent(name)
            try ("#!/bin/bash\nPATH=/usr/bin:/bin\n" + body + "\n").write(to: url, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        }
        return dir
    }

    func commands(_ dir: URL, timeout: Duration = .seconds(10)) -> ProcessSlurmCommands {
        ProcessSlurmCommands(environment: ["PATH": dir.path, "PGPASSWORD": "secret"], timeout: timeout)
    }

    @Test func argumentsAndParsing() throws {
        let dir = try fakeBinaries([
            "squeue": #"echo "$*" > "$(dirname "$0")/args"; printf '5_[0-1]|PENDING|Priority\n4_0|RUNNING|None\n'"#,
            "sbatch": #"[ -z "${PGPASSWORD:-}" ] || exit 9; echo "sbatch: warning" >&2; echo "17;c1""#,
            "scancel": #"echo "$*" > "$(dirname "$0")/args""#,
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let c = commands(dir)
        let s = try c.squeue(jobs: [4, 5])
        #expect(s.map(\.id.description) == ["5_0", "5_1", "4_0"])
        #expect(
            try String(contentsOf: dir.appendingPathComponent("args"), encoding: .utf8)
                == "-h -r --states=all -j 4,5 -o %i|%T|%r\n")
        #expect(try c.squeue(jobs: []) == [])
        #expect(try c.sbatch(scriptPath: "/x.sh") == SlurmSubmission(jobID: 17, cluster: "c1"))
        try c.scancel([SlurmJobID(job: 5, task: 1), SlurmJobID(job: 6)], pendingOnly: true)
        #expect(
            try String(contentsOf: dir.appendingPathComponent("args"), encoding: .utf8) == "--state=PENDING 5_1 6\n")
    }

    @Test func missingBinary() throws {
        let dir = try fakeBinaries([:])
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: SlurmError.missingCommand("squeue")) { try commands(dir).squeue(jobs: [1]) }
        #expect(SlurmError.missingCommand("squeue").description.contains("slurm-client"))
    }

    @Test func binaryThatCannotRun() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("squeue").path
        #expect(
            FileManager.default.createFile(
                atPath: path, contents: Data([0, 1, 2, 3]), attributes: [.posixPermissions: 0o755]))
        #expect {
            try commands(dir).squeue(jobs: [1])
        } throws: { error in
            guard case .failed(_, let status, let message) = error as? SlurmError else { return false }
            return status == 127 && message.hasPrefix("cannot start \(path)")
        }
    }

    @Test func controllerDown() throws {
        let dir = try fakeBinaries([
            "scontrol":
                "echo 'slurm_load_ctl_conf error: Unable to contact slurm controller (connect failure)' >&2; exit 1"
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect {
            try commands(dir).showConfig()
        } throws: { error in
            guard case .controllerUnreachable(let command, let message) = error as? SlurmError else { return false }
            return command == "scontrol show config" && message.contains("connect failure")
        }
    }

    @Test func knownFailureMessagesBecomeAnswers() throws {
        // recorded stderr of squeue/scontrol for an id slurmctld forgot, and of sacct without slurmdbd
        let squeueStderr = try fixture("squeue-invalid-id.stderr").split(separator: "\n")[0]
        let sacctStderr = try fixture("sacct-disabled.stderr").split(separator: "\n")[0]
        let dir = try fakeBinaries([
            "squeue": "echo '\(squeueStderr)' >&2; exit 1",
            "scontrol": "echo '\(squeueStderr)' >&2; exit 1",
            "sacct": "echo '\(sacctStderr)' >&2; exit 1",
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let c = commands(dir)
        #expect(try c.squeue(jobs: [999_999]) == [])
        #expect(try c.showJob(SlurmJobID(job: 999_999)) == [])
        #expect(throws: SlurmError.accountingDisabled) { try c.sacct(jobs: [1]) }
    }

    @Test func otherFailuresKeepTheirMessage() throws {
        let dir = try fakeBinaries(["sbatch": "echo 'sbatch: error: invalid partition specified: nope' >&2; exit 1"])
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(
            throws: SlurmError.failed(
                command: "sbatch --parsable /x.sh", status: 1,
                message: "sbatch: error: invalid partition specified: nope")
        ) { try commands(dir).sbatch(scriptPath: "/x.sh") }
    }

    @Test func hangingCommandIsStopped() throws {
        let dir = try fakeBinaries(["squeue": "exec sleep 30"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let start = ContinuousClock.now
        #expect(throws: SlurmError.timedOut(command: "squeue -h -r --states=all -j 1 -o %i|%T|%r", seconds: 1)) {
            try commands(dir, timeout: .milliseconds(300)).squeue(jobs: [1])
        }
        #expect(ContinuousClock.now - start < .seconds(20))
    }
}

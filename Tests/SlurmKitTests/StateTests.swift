import Testing

@testable import SlurmKit

@Suite struct StateTests {
    @Test func everyStateHasAnOutcome() {
        let expected: [SlurmState: SlurmOutcome] = [
            .pending: .queued, .configuring: .queued, .powerUpNode: .queued, .requeueFed: .queued,
            .requeueHold: .held, .specialExit: .held, .reservationDeleteHold: .held,
            .running: .running, .completing: .running, .signaling: .running, .stageOut: .running,
            .resizing: .running, .updateDB: .running,
            .suspended: .suspended, .stopped: .suspended,
            .requeued: .requeued, .completed: .completed, .failed: .failed, .deadline: .failed,
            .outOfMemory: .outOfMemory, .nodeFail: .nodeFailure, .bootFail: .nodeFailure, .timeout: .timeout,
            .preempted: .preempted, .cancelled: .cancelled, .revoked: .cancelled,
        ]
        #expect(Set(expected.keys) == Set(SlurmState.allCases))
        for state in SlurmState.allCases { #expect(state.outcome == expected[state], "\(state)") }
    }

    @Test func statesParseAsSlurmPrintsThem() {
        #expect(SlurmState(parsing: "CANCELLED by 0") == .cancelled)
        #expect(SlurmState(parsing: "CANCELLED+") == .cancelled)
        #expect(SlurmState(parsing: "OUT_OF_MEMORY") == .outOfMemory)
        #expect(SlurmState(parsing: "SOMETHING_NEW") == nil)
        #expect(SlurmJobStatus(id: SlurmJobID(job: 1), stateText: "SOMETHING_NEW").outcome == .unknown)
    }

    @Test func finalOutcomesAndBudgets() {
        let final = SlurmOutcome.allCases.filter(\.isFinal)
        #expect(final == [.completed, .failed, .outOfMemory, .nodeFailure, .timeout, .preempted, .cancelled])
        #expect(SlurmOutcome.allCases.filter { $0.retryBudget == .requeues } == [.timeout, .preempted])
        #expect(SlurmOutcome.allCases.filter { $0.retryBudget == .attempts } == [.failed, .outOfMemory, .nodeFailure])
        #expect(SlurmOutcome.allCases.filter { !$0.isFinal }.allSatisfy { $0.retryBudget == nil })
    }

    @Test func exitCodes() {
        #expect(SlurmExitCode("3:0") == SlurmExitCode(code: 3))
        #expect(SlurmExitCode("0:9") == SlurmExitCode(code: 0, signal: 9))
        #expect(SlurmExitCode("0:9")?.description == "0:9")
        for bad in ["", "3", "3:", "a:b", "1:2:3"] { #expect(SlurmExitCode(bad) == nil, "\(bad)") }
    }
}

@Suite struct BackoffTests {
    @Test func doublesUpToTheCapAndResets() {
        var b = SlurmPollBackoff(first: .seconds(2), cap: .seconds(30))
        #expect((0..<6).map { _ in b.next() } == [2, 4, 8, 16, 30, 30].map { Duration.seconds($0) })
        b.reset()
        #expect(b.next() == .seconds(2))
        #expect(b.next() == .seconds(4))
    }

    @Test func defaultsAndDegenerateBounds() {
        var d = SlurmPollBackoff()
        #expect(d.next() == .seconds(2))
        #expect(d.cap == .seconds(60))
        var odd = SlurmPollBackoff(first: .zero, cap: .zero)
        #expect(odd.next() == .milliseconds(1))
        #expect(odd.next() == .milliseconds(1))
    }
}

@Suite struct CredentialTests {
    @Test func secretsAreRecognised() {
        #expect(SlurmCredentials.looksLikeSecret("postgres://tracker:s3cret@db:5432/x"))
        #expect(SlurmCredentials.looksLikeSecret("--store=postgres://u:p@h/db --x"))
        #expect(SlurmCredentials.looksLikeSecret("PASSWORD=x"))
        #expect(!SlurmCredentials.looksLikeSecret("postgres://tracker@db:5432/x"))
        #expect(!SlurmCredentials.looksLikeSecret("https://example.org/a:b@c"))
        #expect(!SlurmCredentials.looksLikeSecret("/runs/%A_%a.out"))
    }

    @Test func scrubbedEnvironmentKeepsTheRest() {
        let env = [
            "PATH": "/usr/bin", "SLURM_CONF": "/etc/slurm.conf", "PGPASSWORD": "x",
            "TRACKER_DATABASE_URL": "postgres://a@b/c",
            "MY_API_TOKEN": "t", "STORE": "postgres://u:p@h/db", "HOME": "/root",
        ]
        #expect(
            SlurmCredentials.scrubbed(env) == ["PATH": "/usr/bin", "SLURM_CONF": "/etc/slurm.conf", "HOME": "/root"])
        #expect(ProcessSlurmCommands(environment: env).environment["PGPASSWORD"] == nil)
    }
}

// The parsers on outputs recorded from Slurm 22.05 (and hand-written ones for states a single
// node cannot produce); see Fixtures/README.md.
import Testing

@testable import SlurmKit

@Suite struct JobIDTests {
    @Test func plainAndArrayIDs() throws {
        #expect(SlurmJobID("42") == SlurmJobID(job: 42))
        #expect(SlurmJobID("42_3") == SlurmJobID(job: 42, task: 3))
        #expect(SlurmJobID("42_3")?.description == "42_3")
        for bad in ["", "x", "42_", "_3", "42_3_1", "-1", "42_[2-3]"] { #expect(SlurmJobID(bad) == nil, "\(bad)") }
    }

    @Test func rangesExpand() throws {
        #expect(try SlurmJobID.expand("7_[2-3]").map(\.description) == ["7_2", "7_3"])
        #expect(try SlurmJobID.expand("7_[0-5%2]").map(\.description) == ["7_0", "7_1", "7_2", "7_3", "7_4", "7_5"])
        #expect(try SlurmJobID.expand("7_[1,4-10:3]").map { $0.task! } == [1, 4, 7, 10])
        #expect(try expandTaskRanges("1-5%2") == [1, 2, 3, 4, 5])
        for bad in ["7_[]", "7_[3-2]", "7_[a]", "7_[1-2", "7[1-2]", "7_[1-3:0]"] {
            #expect(throws: SlurmError.self, "\(bad)") { try SlurmJobID.expand(bad) }
        }
    }
}

@Suite struct SbatchParserTests {
    @Test func recordedJobID() throws {
        #expect(try SlurmParse.sbatch(fixture("sbatch-parsable.txt")) == SlurmSubmission(jobID: 2))
    }

    @Test func clusterSuffix() throws {
        #expect(
            try SlurmParse.sbatch(fixture("hand-sbatch-parsable-cluster.txt"))
                == SlurmSubmission(jobID: 61, cluster: "cluster2"))
    }

    @Test func garbageIsAnError() {
        for bad in ["", "\n", "Submitted batch job 12", "abc;x"] {
            #expect(throws: SlurmError.self, "\(bad)") { try SlurmParse.sbatch(bad) }
        }
    }
}

@Suite struct SqueueParserTests {
    @Test func emptyOutputIsNoJobs() throws {
        #expect(try SlurmParse.squeue(fixture("squeue-empty.txt")) == [])
    }

    @Test func throttledArrayOneLinePerTask() throws {
        let s = try SlurmParse.squeue(fixture("squeue-array-throttled.txt"))
        #expect(s.map(\.id.description) == ["6_1", "6_2", "6_3", "6_4", "6_5", "6_0"])
        #expect(s.last?.state == .running)
        #expect(s.dropLast().allSatisfy { $0.state == .pending && $0.outcome == .queued && $0.reason == nil })
    }

    @Test func foldedPendingRangesExpand() throws {
        let s = try SlurmParse.squeue(fixture("squeue-array-ranges.txt"))
        #expect(s.map(\.id.description) == ["6_1", "6_2", "6_3", "6_4", "6_5", "6_0"])
        #expect(s.map(\.outcome) == [.queued, .queued, .queued, .queued, .queued, .running])
        let p = try SlurmParse.squeue(fixture("squeue-array-pending-range.txt"))
        #expect(p.map(\.id.description) == ["8_0", "8_1", "8_2"])
    }

    @Test func finishedJobsKeepTheirStates() throws {
        let s = SlurmParse.latest(try SlurmParse.squeue(fixture("squeue-finished.txt")))
        #expect(s[SlurmJobID(job: 2, task: 0)]?.outcome == .completed)
        #expect(s[SlurmJobID(job: 2, task: 1)]?.outcome == .failed)
        #expect(s[SlurmJobID(job: 2, task: 1)]?.reason == "NonZeroExitCode")
        #expect(s[SlurmJobID(job: 2, task: 2)]?.outcome == .failed)
        #expect(s[SlurmJobID(job: 2, task: 3)]?.outcome == .cancelled)
        #expect(s[SlurmJobID(job: 1)]?.outcome == .timeout)
        #expect(s[SlurmJobID(job: 12)]?.reason == "job requeued in held state")
        #expect(s.values.allSatisfy { $0.outcome.isFinal })
    }

    @Test func requeueSuspendAndPreemption() throws {
        let requeued = try SlurmParse.squeue(fixture("squeue-requeued.txt"))
        #expect(requeued == [SlurmJobStatus(id: SlurmJobID(job: 9), stateText: "PENDING", reason: "BeginTime")])
        #expect(try SlurmParse.squeue(fixture("squeue-suspended.txt")).map(\.outcome) == [.suspended])
        #expect(try SlurmParse.squeue(fixture("squeue-requeue-hold.txt")).map(\.outcome) == [.running])
        // the preempted job (13) is requeued: RUNNING, then PENDING (BeginTime) while 14 runs
        let timeline = try fixture("squeue-preemption-timeline.txt").components(separatedBy: "\n\n")
            .filter { !$0.isEmpty }.map { try SlurmParse.latest(SlurmParse.squeue($0)) }
        let low = timeline.map { $0[SlurmJobID(job: 13)]?.outcome }
        let high = timeline.map { $0[SlurmJobID(job: 14)]?.outcome }
        #expect(low.first == .running && high.first == .queued)
        #expect(
            timeline.contains {
                $0[SlurmJobID(job: 13)]?.reason == "BeginTime" && $0[SlurmJobID(job: 14)]?.outcome == .running
            })
        #expect(low.last == .queued && high.last == .completed)
    }

    @Test func drainingAnArray() throws {
        // array 15, one task at a time: 15_0 runs; 15_2 is cancelled alone, then every pending task
        let before = SlurmParse.latest(try SlurmParse.squeue(fixture("squeue-drain-0-before.txt")))
        #expect(
            (0..<3).map { SlurmParse.taskStatus(before, array: 15, task: $0)?.outcome } == [.running, .queued, .queued])
        let one = SlurmParse.latest(try SlurmParse.squeue(fixture("squeue-drain-1-task-cancelled.txt")))
        #expect(one.count == 2)  // the cancelled pending task is simply gone
        #expect((0..<3).map { SlurmParse.taskStatus(one, array: 15, task: $0)?.outcome } == [.running, .queued, nil])
        let all = SlurmParse.latest(try SlurmParse.squeue(fixture("squeue-drain-2-pending-cancelled.txt")))
        #expect(all[SlurmJobID(job: 15)]?.outcome == .cancelled)  // the array's own record
        let tasks = (0..<3).map { SlurmParse.taskStatus(all, array: 15, task: $0) }
        #expect(tasks.map { $0?.outcome } == [.running, .cancelled, .cancelled])
        #expect(tasks.map { $0?.id.description } == ["15_0", "15_1", "15_2"])
    }

    @Test func handWrittenFailureStates() throws {
        let s = try SlurmParse.squeue(fixture("hand-squeue-failures.txt"))
        #expect(s.map(\.outcome) == [.nodeFailure, .outOfMemory, .nodeFailure, .completed])
        #expect(s.map(\.outcome.retryBudget) == [.attempts, .attempts, .attempts, nil])
    }

    @Test func malformedLinesAreErrors() {
        for bad in ["42|RUNNING", "42||None", "x|RUNNING|None", "42|RUNNING|None|extra"] {
            #expect(throws: SlurmError.self, "\(bad)") { try SlurmParse.squeue(bad) }
        }
    }
}

@Suite struct SacctParserTests {
    @Test func completionFileByRawID() throws {
        let rows = try SlurmParse.sacct(fixture("sacct-c.txt"))
        #expect(rows.count == 18)
        #expect(rows.allSatisfy { $0.id.task == nil })
        let last = SlurmParse.latest(rows)
        #expect(last[SlurmJobID(job: 4)]?.exitCode == SlurmExitCode(code: 3))
        #expect(last[SlurmJobID(job: 4)]?.outcome == .failed)
        #expect(last[SlurmJobID(job: 5)]?.exitCode == SlurmExitCode(code: 0, signal: 9))
        #expect(last[SlurmJobID(job: 1)]?.outcome == .timeout)
        // a job is listed once per end: 9 was requeued (PENDING), then cancelled
        #expect(rows.filter { $0.id.job == 9 }.map(\.state) == [.pending, .cancelled])
        #expect(last[SlurmJobID(job: 9)]?.state == .cancelled)
        #expect(rows.filter { $0.id.job == 13 }.map(\.outcome) == [.preempted, .cancelled])
    }

    @Test func accountingOutputWithCancellerAndRanges() throws {
        let rows = try SlurmParse.sacct(fixture("hand-sacct.txt"))
        let byID = SlurmParse.latest(rows)
        #expect(rows.count == 13)  // 41_0 ... 41_8, 41_[9-11] expanded, 42; the step 42.batch skipped
        #expect(byID[SlurmJobID(job: 41, task: 2)]?.outcome == .outOfMemory)
        #expect(byID[SlurmJobID(job: 41, task: 3)]?.outcome == .nodeFailure)
        #expect(byID[SlurmJobID(job: 41, task: 4)]?.outcome == .nodeFailure)
        let cancelled = try #require(byID[SlurmJobID(job: 41, task: 5)])
        #expect(cancelled.state == .cancelled)
        #expect(cancelled.cancelledBy == 0)
        #expect(cancelled.stateText == "CANCELLED")
        #expect(byID[SlurmJobID(job: 41, task: 8)]?.exitCode == SlurmExitCode(code: 0, signal: 9))
        #expect(byID[SlurmJobID(job: 41, task: 11)]?.outcome == .queued)
        #expect(byID[SlurmJobID(job: 42)]?.outcome == .failed)
    }

    @Test func recordedDisabledMessageIsRecognised() throws {
        // what ProcessSlurmCommands.sacct turns into SlurmError.accountingDisabled
        #expect(try fixture("sacct-disabled.stderr").contains("accounting storage is disabled"))
        #expect(try fixture("squeue-invalid-id.stderr").contains("Invalid job id specified"))
    }

    @Test func malformedLinesAreErrors() {
        for bad in ["42|COMPLETED", "42|COMPLETED|zero", "42||0:0"] {
            #expect(throws: SlurmError.self, "\(bad)") { try SlurmParse.sacct(bad) }
        }
    }
}

@Suite struct ScontrolParserTests {
    @Test func config() throws {
        let c = try SlurmParse.config(fixture("scontrol-show-config.txt"))
        #expect(c.maxArraySize == 1001)
        #expect(c.accountingStorageType == "accounting_storage/none")
        #expect(!c.hasAccounting)
        #expect(c.minJobAge == 3600)
        #expect(c.version == "22.05.8")
        #expect(c.values["JobCompType"] == "jobcomp/filetxt")
        #expect(throws: SlurmError.self) { try SlurmParse.config("nothing here") }
    }

    @Test func finishedArrayMultiLine() throws {
        let records = try SlurmParse.jobs(fixture("scontrol-show-job-array-finished.txt"))
        #expect(records.map(\.rawJobID) == [2, 5, 4, 3])
        let s = try records.flatMap { try $0.statuses() }
        #expect(s.map(\.id.description) == ["2_3", "2_2", "2_1", "2_0"])
        #expect(s.map(\.outcome) == [.cancelled, .failed, .failed, .completed])
        #expect(s.map(\.exitCode) == ["0:15", "0:9", "3:0", "0:0"].map { SlurmExitCode($0) })
        #expect(records[0].fields["Command"]?.hasSuffix("/outcomes.sh") == true)
    }

    @Test func pendingArrayRecordStandsForItsTasks() throws {
        let records = try SlurmParse.jobs(fixture("scontrol-show-job-array-pending.txt"))
        let s = try records.flatMap { try $0.statuses() }
        #expect(s.map(\.id.description) == ["6_1", "6_2", "6_3", "6_4", "6_5", "6_0"])
        #expect(s.map(\.state) == [.pending, .pending, .pending, .pending, .pending, .running])
        #expect(records.first?.fields["ArrayTaskThrottle"] == "2")
    }

    @Test func oneLineRecords() throws {
        let requeued = try #require(try SlurmParse.jobs(fixture("scontrol-show-job-requeued.txt")).first)
        #expect(requeued.restarts == 1)
        #expect(try requeued.statuses().map(\.reason) == ["BeginTime"])
        let preempted = try #require(try SlurmParse.jobs(fixture("scontrol-show-job-preempted.txt")).first)
        #expect(preempted.restarts == 1)
        #expect(preempted.fields["PreemptTime"] != "None")
        let timeout = try #require(try SlurmParse.jobs(fixture("scontrol-show-job-timeout.txt")).first)
        #expect(try timeout.statuses().map(\.outcome) == [.timeout])
        #expect(timeout.fields["Command"]?.hasSuffix("sleeper.sh 200") == true)  // a value with a space
        let hold = try #require(try SlurmParse.jobs(fixture("scontrol-show-job-requeue-hold.txt")).first)
        #expect(hold.fields["Reason"] == "job_requeued_in_held_state")
    }

    @Test func drainedArrayRecordStandsForTheArray() throws {
        let s = try SlurmParse.jobs(fixture("scontrol-show-job-drained.txt")).flatMap { try $0.statuses() }
        #expect(s.map(\.id.description) == ["15", "15_0"])
        #expect(s.map(\.outcome) == [.cancelled, .running])
    }

    @Test func handWrittenNodeFailureAndOOM() throws {
        let nodeFail = try SlurmParse.jobs(fixture("hand-scontrol-show-job-node-fail.txt")).flatMap {
            try $0.statuses()
        }
        #expect(nodeFail.map(\.id.description) == ["70_4"])
        #expect(nodeFail.map(\.outcome) == [.nodeFailure])
        let oom = try SlurmParse.jobs(fixture("hand-scontrol-show-job-oom.txt")).flatMap { try $0.statuses() }
        #expect(oom.map(\.outcome) == [.outOfMemory])
        #expect(oom.map(\.exitCode) == [SlurmExitCode(code: 0, signal: 125)])
    }

    @Test func recordWithoutStateIsAnError() throws {
        let records = try SlurmParse.jobs("JobId=3 JobName=x\n")
        #expect(throws: SlurmError.self) { try records.first?.statuses() }
    }
}

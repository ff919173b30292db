// Batch script rendering: golden texts, array splitting at MaxArraySize, and refusals.
import Testing

@testable import SlurmKit

@Suite struct ScriptTests {
    static let worker = ["/opt/tracker/bin/tracker", "worker", "--sweep", "7", "--home", "/shared/my runs"]

    @Test func fullSpecGolden() throws {
        let spec = SlurmJobSpec(
            name: "tracker-sweep-7",
            resources: SlurmResources(
                partition: "gpu", account: "lab", qos: "normal", time: "1-02:00:00", cpusPerTask: 4, mem: "8G",
                gres: "gpu:1"),
            taskCount: 12, maxParallel: 3, signalSecondsBeforeEnd: 90,
            output: "/shared/my runs/slurm/%A_%a.out", error: "/shared/runs/slurm/%A_%a.err",
            extraOptions: ["--constraint=skylake", "#SBATCH --exclusive"], command: Self.worker)
        let expected = """
            #!/bin/bash
            #SBATCH --job-name=tracker-sweep-7
            #SBATCH --partition=gpu
            #SBATCH --account=lab
            #SBATCH --qos=normal
            #SBATCH --time=1-02:00:00
            #SBATCH --cpus-per-task=4
            #SBATCH --mem=8G
            #SBATCH --gres=gpu:1
            #SBATCH --array=0-11%3
            #SBATCH --requeue
            #SBATCH --open-mode=append
            #SBATCH --signal=B:USR1@90
            #SBATCH --output="/shared/my runs/slurm/%A_%a.out"
            #SBATCH --error=/shared/runs/slurm/%A_%a.err
            #SBATCH --constraint=skylake
            #SBATCH --exclusive
            exec /opt/tracker/bin/tracker worker --sweep 7 --home '/shared/my runs' --index "$SLURM_ARRAY_TASK_ID"

            """
        #expect(try spec.script(for: SlurmArrayChunk(offset: 0, count: 12)) == expected)
    }

    @Test func minimalSpecGolden() throws {
        let spec = SlurmJobSpec(
            name: "t", taskCount: 1, requeue: false, output: "/o/%A_%a.out",
            command: ["tracker", "worker", "it's"])
        let expected = """
            #!/bin/bash
            #SBATCH --job-name=t
            #SBATCH --array=0-0
            #SBATCH --no-requeue
            #SBATCH --open-mode=append
            #SBATCH --output=/o/%A_%a.out
            exec tracker worker 'it'\\''s' --index "$SLURM_ARRAY_TASK_ID"

            """
        #expect(try spec.script(for: SlurmArrayChunk(offset: 0, count: 1)) == expected)
    }

    @Test func splitAtMaxArraySize() throws {
        let spec = SlurmJobSpec(name: "s", taskCount: 2500, maxParallel: 8, output: "/o", command: ["w"])
        let chunks = spec.chunks(maxArraySize: 1001)
        #expect(
            chunks == [
                .init(offset: 0, count: 1001), .init(offset: 1001, count: 1001), .init(offset: 2002, count: 498),
            ])
        let last = try spec.script(for: chunks[2])
        #expect(last.contains("#SBATCH --array=0-497%8\n"))
        #expect(last.hasSuffix("exec w --index \"$((2002 + SLURM_ARRAY_TASK_ID))\"\n"))
        #expect(
            SlurmJobSpec(name: "s", taskCount: 3, output: "/o", command: ["w"]).chunks(maxArraySize: 1001).count == 1)
        // the throttle never exceeds the array
        let small = SlurmJobSpec(name: "s", taskCount: 2, maxParallel: 8, output: "/o", command: ["w"])
        #expect(try small.script(for: SlurmArrayChunk(offset: 0, count: 2)).contains("--array=0-1%2\n"))
        #expect(throws: SlurmError.self) { try small.script(for: SlurmArrayChunk(offset: 1, count: 2)) }
    }

    @Test func credentialsNeverReachTheScript() {
        let spec = SlurmJobSpec(
            name: "s", taskCount: 1, output: "/o", command: ["tracker", "worker", "--store", "postgres://u:pw@db/x"])
        #expect(throws: SlurmError.self) { try spec.script(for: SlurmArrayChunk(offset: 0, count: 1)) }
        var extra = SlurmJobSpec(name: "s", taskCount: 1, output: "/o", command: ["w"])
        extra.extraOptions = ["--comment=PASSWORD=x"]
        #expect(throws: SlurmError.self) { try extra.script(for: SlurmArrayChunk(offset: 0, count: 1)) }
    }

    @Test func invalidSpecsAreRefused() {
        let good = SlurmJobSpec(name: "s", taskCount: 2, output: "/o", command: ["w"])
        var cases: [SlurmJobSpec] = []
        var s = good
        s.taskCount = 0
        cases.append(s)
        s = good
        s.maxParallel = 0
        cases.append(s)
        s = good
        s.resources.time = "two hours"
        cases.append(s)
        s = good
        s.resources.partition = "a\"b"
        cases.append(s)
        s = good
        s.resources.mem = ""
        cases.append(s)
        s = good
        s.resources.cpusPerTask = 0
        cases.append(s)
        s = good
        s.output = "/o\n#SBATCH --x"
        cases.append(s)
        s = good
        s.extraOptions = ["--a\n--b"]
        cases.append(s)
        s = good
        s.command = []
        cases.append(s)
        s = good
        s.name = ""
        cases.append(s)
        for spec in cases { #expect(throws: SlurmError.self) { try spec.validate() } }
        #expect(throws: Never.self) { try good.validate() }
    }

    @Test func slurmTimeFormats() {
        for ok in ["30", "30:00", "01:30:00", "2-0", "2-12", "2-12:30", "2-12:30:00", "UNLIMITED"] {
            #expect(SlurmJobSpec.isSlurmTime(ok), "\(ok)")
        }
        for bad in ["", "1h", "1:2:3:4", "-1", "1-", "1--2", "a-1"] {
            #expect(!SlurmJobSpec.isSlurmTime(bad), "\(bad)")
        }
    }
}

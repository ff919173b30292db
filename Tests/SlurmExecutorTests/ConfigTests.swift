// The [executor] table: defaults, every key, and one clear error per wrong value.
import Basics
import Foundation
import Scheduler
import SlurmExecutor
import SlurmKit
import TestSupport
import Testing

struct ConfigTests {
    @Test func defaultsAreLocalWithSlurmDefaultsReady() throws {
        let c = try SlurmExecutorConfig(table: nil)
        #expect(c.kind == .local && c.maxRequeues == 3 && c.signalSeconds == 120 && c.extra.isEmpty)
        #expect(c.resources == SlurmResources() && c.maxParallel == nil && c.pollSeconds == 2 && c.pollMaxSeconds == 60)
        #expect(c.rungTimeoutSeconds == 1800)
    }

    @Test func everyKeyReachesTheScript() throws {
        let table: [String: ConfigValue] = [
            "kind": .string("slurm"), "partition": .string("cpu"), "account": .string("lab"), "qos": .string("high"),
            "time": .string("1:00:00"), "cpus_per_task": .int(4), "mem": .string("8G"), "gres": .string("gpu:1"),
            "max_parallel": .int(3), "extra": .array([.string("--exclusive")]), "max_requeues": .int(5),
            "signal_seconds": .int(300), "dir": .string("/shared/x"), "poll_seconds": .double(0.5),
            "poll_max_seconds": .int(9), "lost_after_seconds": .int(60), "rung_timeout": .int(120),
        ]
        #expect(Set(table.keys) == Set(SlurmExecutorConfig.keys))
        let c = try SlurmExecutorConfig(table: table)
        #expect(c.kind == .slurm && c.maxRequeues == 5 && c.dir == "/shared/x" && c.pollSeconds == 0.5)
        #expect(c.pollMaxSeconds == 9 && c.lostAfterSeconds == 60 && c.rungTimeoutSeconds == 120)
        #expect(
            c.resources
                == SlurmResources(
                    partition: "cpu", account: "lab", qos: "high", time: "1:00:00", cpusPerTask: 4, mem: "8G",
                    gres: "gpu:1"))
        let spec = c.jobSpec(name: "tracker-x", taskCount: 10, output: "/o/%A_%a.out", command: ["/t", "worker"])
        let script = try spec.script(for: spec.chunks(maxArraySize: 1001)[0])
        for line in [
            "--partition=cpu", "--account=lab", "--qos=high", "--time=1:00:00", "--cpus-per-task=4", "--mem=8G",
            "--gres=gpu:1", "--array=0-9%3", "--exclusive", "--signal=B:USR1@300", "--requeue",
        ] {
            #expect(script.contains("#SBATCH \(line)\n"), "\(line)")
        }
    }

    @Test func wrongValuesAreClearErrors() {
        let cases: [(String, ConfigValue, String)] = [
            ("kind", .string("pbs"), "use \"local\" or \"slurm\""),
            ("cpus_per_task", .int(0), "positive integer"),
            ("max_parallel", .string("2"), "positive integer"),
            ("max_requeues", .int(-1), ">= 0"),
            ("extra", .string("--exclusive"), "a list of sbatch options"),
            ("time", .string("soon"), "not a Slurm time limit"),
            ("partition", .string(""), "non-empty"),
            ("rung_timeout", .int(0), "positive number of seconds"),
            ("parition", .string("cpu"), "unknown key; [executor] accepts kind, partition, account"),
        ]
        for (key, value, message) in cases {
            #expect {
                try SlurmExecutorConfig(table: [key: value])
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }
}

/// The two readers of outside input a task and the head add: the manifest (read by every task)
/// and the [executor] table (read by `tracker run`), mutated at random: a clear error or a value.
struct ReaderFuzzTests {
    @Test func mutatedManifestsLoadOrFailClearly() throws {
        let dir = NSTemporaryDirectory() + "manifest-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let manifest = SlurmManifest(
            home: "/shared/ws", maxRequeues: 3,
            runs: [SlurmManifest.Entry(runId: 7, name: "seed1", config: #"{"data":{"task":"t1"}}"#, corpus: nil)],
            corpora: [:], store: SlurmManifest.Store(url: "postgres://tracker@db:5432/runs", passwordFile: "/shared/pg")
        )
        try manifest.write(sweepDir: dir)
        #expect(try SlurmManifest.load(sweepDir: dir) == manifest)
        let valid = try #require(FileManager.default.contents(atPath: SlurmManifest.path(sweepDir: dir)))
        for seed in UInt64(0)..<300 {
            var m = Mutator(seed: seed)
            try Data(m.mutate(Array(valid))).write(to: URL(fileURLWithPath: SlurmManifest.path(sweepDir: dir)))
            do {
                _ = try SlurmManifest.load(sweepDir: dir)
            } catch let e as SlurmExecutorError {
                #expect("\(e)".contains("manifest.json"), "seed \(seed)")
            }
        }
    }

    @Test func mutatedExecutorTablesAreReadOrRefusedClearly() throws {
        let valid =
            #"{"kind":"slurm","partition":"cpu","time":"1:00:00","cpus_per_task":2,"max_parallel":4,"extra":["--exclusive"],"max_requeues":1}"#
        for seed in UInt64(0)..<300 {
            var m = Mutator(seed: seed)
            guard let value = try? ConfigValue(json: m.mutate(valid)), let table = value.table else { continue }
            do {
                _ = try SlurmExecutorConfig(table: table)
            } catch let e as SchedulerError {
                #expect("\(e)".contains("executor"), "seed \(seed): \(e)")
            } catch let e as SlurmError {
                #expect("\(e)".hasPrefix("invalid Slurm job"), "seed \(seed): \(e)")
            }
        }
    }
}

// A single-node Slurm cluster for the Slurm integration tests: the one SLURM_CONF names (e.g. one
// started by hand with `eval "$(bash .ci/services/slurm.sh start)"`), else one this test process
// starts itself with `.ci/services/slurm.sh start` (munged, slurmctld and slurmd in a temp dir on
// free loopback ports; stopped by pid when the process exits; needs root). Its variables
// (SLURM_CONF, TRACKER_SLURM_PARTITION, TRACKER_SLURM_HIGH_PARTITION) are then set in this
// process's environment, so the `tracker` and Slurm commands the tests start use it. Tests that
// need it carry `.slurmCluster`: skipped with a warning without a cluster, a failure under CI=true.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

public enum TestSlurm {
    /// True when a cluster answers (`squeue -h` runs), started here if need be.
    public static var available: Bool { cluster.problem == nil }

    /// Why no cluster could be had, for messages.
    public static var problem: String { cluster.problem ?? "" }

    /// The environment to run Slurm commands in (this process's, SLURM_CONF included), or nil.
    public static var environment: [String: String]? {
        available ? ProcessInfo.processInfo.environment : nil
    }

    private struct Cluster {
        var problem: String?
    }

    private static let cluster: Cluster = {
        let env = ProcessInfo.processInfo.environment
        if let conf = env["SLURM_CONF"], !conf.isEmpty {
            guard FileManager.default.fileExists(atPath: conf) else {
                return Cluster(problem: "SLURM_CONF names \(conf), which does not exist")
            }
        } else {
            guard getuid() == 0 else {
                return Cluster(
                    problem: "set SLURM_CONF to a running cluster's slurm.conf, or run as root so "
                        + ".ci/services/slurm.sh can start one")
            }
            let vars: [String: String]
            do {
                vars = try ServiceScript.start("slurm.sh")
            } catch {
                return Cluster(problem: "\(error) (run .ci/setup to install slurm-wlm and munge)")
            }
            guard vars["SLURM_CONF"] != nil, let dir = vars["TRACKER_SLURM_DIR"] else {
                return Cluster(problem: "slurm.sh printed no SLURM_CONF")
            }
            ServiceScript.stopAtExit("slurm.sh", dir: dir)
            for (key, value) in vars.sorted(by: { $0.key < $1.key }) { setenv(key, value, 1) }
        }
        let ping = try? ServiceScript.run("/usr/bin/env", ["squeue", "-h"])
        guard let ping, ping.status == 0 else {
            return Cluster(
                problem: "squeue fails on the cluster SLURM_CONF names: \(ping?.text ?? "cannot run squeue")")
        }
        return Cluster()
    }()
}

extension Trait where Self == ConditionTrait {
    /// Needs a Slurm cluster (see TestSlurm).
    public static var slurmCluster: Self {
        .requires(
            "a Slurm cluster (SLURM_CONF, or root with slurm-wlm and munge installed: .ci/setup)", TestSlurm.available)
    }
}

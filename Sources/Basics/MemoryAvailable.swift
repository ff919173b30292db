// How much memory this process can still take, for refusing a run before it allocates: the
// smallest of the kernel's MemAvailable, the process's address-space and data ulimits (less what
// it already maps), and its cgroup's memory limit (less what the cgroup already uses).
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public struct MemoryAvailable: Sendable, Equatable {
    /// Bytes that can still be allocated.
    public var bytes: Int64
    /// Which limit gave `bytes` ("MemAvailable", "ulimit -v", "ulimit -d", "cgroup memory.max").
    public var source: String

    public init(bytes: Int64, source: String) {
        self.bytes = bytes
        self.source = source
    }

    /// The tightest limit in force now, or nil where none can be read (not Linux).
    public static func current() -> MemoryAvailable? {
        var limits: [MemoryAvailable] = []
        if let meminfo = read("/proc/meminfo"), let kb = field(meminfo, "MemAvailable:") {
            limits.append(MemoryAvailable(bytes: kb * 1024, source: "MemAvailable"))
        }
        let status = read("/proc/self/status") ?? ""
        let mapped = (field(status, "VmSize:") ?? 0) * 1024
        let data = (field(status, "VmData:") ?? 0) * 1024
        #if canImport(Glibc)
            for (resource, name, used) in [(RLIMIT_AS, "ulimit -v", mapped), (RLIMIT_DATA, "ulimit -d", data)] {
                var limit = rlimit()
                if getrlimit(__rlimit_resource_t(resource.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max,
                    limit.rlim_cur < UInt64(Int64.max)
                {
                    limits.append(MemoryAvailable(bytes: max(0, Int64(limit.rlim_cur) - used), source: name))
                }
            }
        #endif
        if let cgroup = cgroupLimit() { limits.append(cgroup) }
        return limits.min { $0.bytes < $1.bytes }
    }

    /// cgroup v2 (memory.max - memory.current of this process's group) or v1
    /// (memory.limit_in_bytes - memory.usage_in_bytes).
    static func cgroupLimit() -> MemoryAvailable? {
        let groups = read("/proc/self/cgroup") ?? ""
        for line in groups.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = String(parts[2])
            if parts[0] == "0" {
                let dir = "/sys/fs/cgroup" + (path == "/" ? "" : path)
                if let max = number(dir + "/memory.max") {
                    let used = number(dir + "/memory.current") ?? 0
                    return MemoryAvailable(bytes: Swift.max(0, max - used), source: "cgroup memory.max")
                }
            } else if parts[1].split(separator: ",").contains("memory") {
                for dir in ["/sys/fs/cgroup/memory" + path, "/sys/fs/cgroup/memory"] {
                    // v1 reports "no limit" as a huge page-rounded number.
                    if let max = number(dir + "/memory.limit_in_bytes"), max < (1 << 60) {
                        let used = number(dir + "/memory.usage_in_bytes") ?? 0
                        return MemoryAvailable(bytes: Swift.max(0, max - used), source: "cgroup memory.limit_in_bytes")
                    }
                }
            }
        }
        return nil
    }

    private static func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    private static func number(_ path: String) -> Int64? {
        read(path).flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// The number after `name` on its line of a /proc file ("MemAvailable:   123 kB" -> 123).
    static func field(_ text: String, _ name: String) -> Int64? {
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            return line.dropFirst(name.count).split(separator: " ").first.flatMap { Int64($0) }
        }
        return nil
    }
}

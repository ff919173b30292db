// Work folders a process makes in a shared parent (a workspace) and deletes when done, named
// `PREFIX...-PID-RANDOM` with a lock file `NAME.lock` beside each, held while the folder is in
// use: a killed process cannot delete its folder, but the kernel drops its lock, which is how
// the next process tells a dead owner's folder from a live one's (a word-count spill folder, an
// ingest's staging folder).
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public enum StaleFolders {
    public static let lockSuffix = ".lock"

    /// Deletes the folders named `prefix...` in `parent` whose owner died before removing them: a
    /// folder whose lock file nobody holds, and a lock file left without its folder. A folder
    /// without a lock file (made by a version before the lock) goes only when the pid in its name
    /// is no running process. Returns the folders deleted.
    @discardableResult
    public static func remove(in parent: String, prefix: String) -> [String] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: parent) else { return [] }
        let bases = Set(
            names.filter { $0.hasPrefix(prefix) }.map {
                $0.hasSuffix(lockSuffix) ? String($0.dropLast(lockSuffix.count)) : $0
            })
        var removed: [String] = []
        for base in bases.sorted() {
            let folder = "\(parent)/\(base)"
            let held: FileLock?
            if fm.fileExists(atPath: folder + lockSuffix) {
                // Held: its process is alive. Taken: the process is gone (release deletes the file).
                guard let lock = try? FileLock(path: folder + lockSuffix, removeOnRelease: true) else { continue }
                held = lock
            } else {
                guard let pid = pid(inFolderName: base, prefix: prefix), !processExists(pid) else { continue }
                held = nil
            }
            if (try? fm.removeItem(atPath: folder)) != nil { removed.append(folder) }
            held?.release()
        }
        return removed
    }

    /// The pid in a folder name `PREFIX...-PID-RANDOM` (the next to last field).
    public static func pid(inFolderName name: String, prefix: String) -> pid_t? {
        let fields = name.dropFirst(prefix.count).split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count >= 2, UInt32(fields[fields.count - 1]) != nil, let pid = pid_t(fields[fields.count - 2]),
            pid > 0
        else { return nil }
        return pid
    }

    /// Whether a process with this pid runs on this machine.
    public static func processExists(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}

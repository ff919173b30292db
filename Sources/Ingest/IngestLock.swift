// One ingest of a corpus at a time: an exclusive flock on `<home>/.ingest-<fingerprint>.lock`,
// taken after the sources are hashed and held until the corpus is recorded. A second ingest of
// the same sources and settings waits, then finds the corpus recorded and does no work. The
// kernel drops the lock when its holder dies, so a killed ingest never blocks the next one.
//
// The file is deleted on release without a window: the holder unlinks it before unlocking, and
// a waiter that then gets the lock on the unlinked file sees that the path no longer names its
// file and starts over on the new one.
import Basics

#if canImport(Glibc)
    import Glibc
#endif

final class IngestLock {
    let path: String
    private var fd: Int32 = -1

    /// Blocks until the lock is held; calls `onWait` once, with the holder's pid, if it has to wait.
    init(home: String, fingerprint: String, onWait: ((String) -> Void)?) throws {
        path = "\(home)/.ingest-\(fingerprint.prefix(32)).lock"
        var waited = false
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw IngestError.lockFailed(path: path, reason: String(cString: strerror(errno))) }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                guard errno == EWOULDBLOCK else {
                    let reason = String(cString: strerror(errno))
                    close(fd)
                    throw IngestError.lockFailed(path: path, reason: reason)
                }
                if !waited {
                    waited = true
                    onWait?(
                        "another ingest of the same sources and settings is running (pid \(Self.holder(fd))): waiting for it to finish"
                    )
                }
                while flock(fd, LOCK_EX) != 0 {
                    guard errno == EINTR else {
                        let reason = String(cString: strerror(errno))
                        close(fd)
                        throw IngestError.lockFailed(path: path, reason: reason)
                    }
                }
            }
            var held = stat()
            var named = stat()
            if fstat(fd, &held) == 0, stat(path, &named) == 0, held.st_dev == named.st_dev,
                held.st_ino == named.st_ino
            {
                self.fd = fd
                break
            }
            close(fd)  // the holder before us deleted the file: lock the new one
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    /// Deletes the lock file and unlocks (also on deinit).
    func release() {
        guard fd >= 0 else { return }
        unlink(path)
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }

    private static func holder(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        let text = n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : ""
        let pid = text.filter(\.isNumber)
        return pid.isEmpty ? "unknown" : pid
    }
}

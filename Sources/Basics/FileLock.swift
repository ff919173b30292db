// An exclusive flock on a file that holds the holder's pid, for "one at a time" across processes.
// The kernel drops the lock when its holder dies, so a killed holder never blocks the next one;
// a stale file left behind is simply locked again and rewritten.
//
// With `removeOnRelease` the file is deleted on release without a window: the holder unlinks it
// before unlocking, and a waiter that then gets the lock on the unlinked file sees that the path
// no longer names its file and starts over on the new one.
#if canImport(Glibc)
    import Glibc
#endif

public enum FileLockError: Error, Equatable {
    /// The file could not be opened or locked; `reason` is the OS's.
    case failed(path: String, reason: String)
    /// Another process holds the lock (try-lock only); `holder` is its pid when the file names one.
    case held(path: String, holder: String?)
}

public final class FileLock {
    public let path: String
    private let removeOnRelease: Bool
    private var fd: Int32 = -1

    /// Takes the lock without waiting, or throws `FileLockError.held`.
    public convenience init(path: String, removeOnRelease: Bool = false) throws {
        try self.init(path: path, removeOnRelease: removeOnRelease, onWait: nil, waits: false)
    }

    /// Blocks until the lock is held; calls `onWait` once, with the holder's pid (nil when the file
    /// names none), if it has to wait.
    public convenience init(waitingFor path: String, removeOnRelease: Bool = false, onWait: ((String?) -> Void)?)
        throws
    {
        try self.init(path: path, removeOnRelease: removeOnRelease, onWait: onWait, waits: true)
    }

    private init(path: String, removeOnRelease: Bool, onWait: ((String?) -> Void)?, waits: Bool) throws {
        self.path = path
        self.removeOnRelease = removeOnRelease
        var waited = false
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw FileLockError.failed(path: path, reason: String(cString: strerror(errno))) }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                guard errno == EWOULDBLOCK else { throw Self.failure(path, closing: fd) }
                guard waits else {
                    let holder = Self.holder(fd)
                    close(fd)
                    throw FileLockError.held(path: path, holder: holder)
                }
                if !waited {
                    waited = true
                    onWait?(Self.holder(fd))
                }
                while flock(fd, LOCK_EX) != 0 {
                    guard errno == EINTR else { throw Self.failure(path, closing: fd) }
                }
            }
            if Self.pathNames(fd, path) {
                self.fd = fd
                break
            }
            close(fd)  // the holder before us deleted the file: lock the new one
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    /// Unlocks (deleting the file first with `removeOnRelease`); also on deinit.
    public func release() {
        guard fd >= 0 else { return }
        if removeOnRelease { unlink(path) }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }

    private static func failure(_ path: String, closing fd: Int32) -> FileLockError {
        let reason = String(cString: strerror(errno))
        close(fd)
        return .failed(path: path, reason: reason)
    }

    /// Whether `path` still names the open file `fd`.
    private static func pathNames(_ fd: Int32, _ path: String) -> Bool {
        var held = stat()
        var named = stat()
        return fstat(fd, &held) == 0 && stat(path, &named) == 0 && held.st_dev == named.st_dev
            && held.st_ino == named.st_ino
    }

    /// The pid written in the lock file, if any.
    private static func holder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        let pid = n > 0 ? String(decoding: buffer[..<n], as: UTF8.self).filter(\.isNumber) : ""
        return pid.isEmpty ? nil : pid
    }
}

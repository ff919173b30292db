// Files written so that a crash or a full disk never leaves a half-written file under its final
// name: the bytes go to a temporary file next to it, which is fsynced, closed and renamed into
// place, and the folder is fsynced so the rename itself survives a crash. Shards and checkpoints
// are written this way.
#if canImport(Glibc)
    import Glibc
#endif

public enum AtomicFile {
    /// Writes all of `raw` to `fd` (the file at `path`), in chunks of at most 64 MiB, retrying
    /// short writes and writes interrupted by a signal.
    public static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer, path: String) throws(BasicsError) {
        var off = 0
        while off < raw.count {
            let n = write(fd, raw.baseAddress! + off, min(raw.count - off, 1 << 26))
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, errno: errno, action: "write")
            }
            off += n
        }
    }

    /// Flushes the temporary file open as `fd` (at `temporary`) to disk; the caller closes it.
    public static func sync(_ fd: Int32, temporary: String) throws(BasicsError) {
        guard fsync(fd) == 0 else { throw .io(path: temporary, errno: errno, action: "fsync") }
    }

    /// Renames the synced and closed `temporary` file over `path` and fsyncs the folder; when the
    /// rename fails the temporary file is removed.
    public static func moveIntoPlace(_ temporary: String, _ path: String) throws(BasicsError) {
        guard rename(temporary, path) == 0 else {
            let e = errno
            unlink(temporary)
            throw .io(path: path, errno: e, action: "rename into place")
        }
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    /// Writes `bytes` to `path` the atomic way: a temporary file next to it (`path.tmp-PID`),
    /// written, fsynced, closed, then renamed into place. A path the user named may be more than
    /// a file: a symlink is followed (the file it resolves to is replaced, the link kept); a
    /// character device or a FIFO (/dev/null, /dev/stdout, a pipe) is written directly, as a
    /// rename over it would replace the device node (as root, /dev/null) and hide write errors
    /// (ENOSPC on /dev/full); a folder or a socket is an error.
    public static func save(_ bytes: [UInt8], to path: String) throws(BasicsError) {
        // What the path names (through symlinks, /dev/stdout's to a pipe included) decides; only a
        // file is replaced, at the path its symlinks resolve to.
        var st = stat()
        if stat(path, &st) == 0 {
            switch st.st_mode & S_IFMT {
            case S_IFREG: break
            case S_IFCHR, S_IFIFO: return try writeInPlace(bytes, to: path)
            case S_IFDIR: throw .notAFile(path: path, kind: "a folder")
            case S_IFBLK: throw .notAFile(path: path, kind: "a block device")
            case S_IFSOCK: throw .notAFile(path: path, kind: "a socket")
            default: throw .notAFile(path: path, kind: "not a regular file")
            }
        }
        let target = try resolvingSymlinks(path)
        let temporary = "\(target).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: temporary, errno: errno, action: "create") }
        let failed: BasicsError? = bytes.withUnsafeBytes { raw in
            do throws(BasicsError) {
                try writeAll(fd, raw, path: temporary)
                return nil
            } catch {
                return error
            }
        }
        do throws(BasicsError) {
            if let failed { throw failed }
            try sync(fd, temporary: temporary)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        try moveIntoPlace(temporary, target)
    }

    /// Writes `bytes` into the existing device or FIFO at `path`, without a temporary file.
    private static func writeInPlace(_ bytes: [UInt8], to path: String) throws(BasicsError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, errno: errno, action: "open for writing") }
        defer { close(fd) }
        let failed: BasicsError? = bytes.withUnsafeBytes { raw in
            do throws(BasicsError) {
                try writeAll(fd, raw, path: path)
                return nil
            } catch {
                return error
            }
        }
        if let failed { throw failed }
    }

    /// The path `path` names after following its symlinks (relative ones from their own folder),
    /// up to the first that does not exist, which a write then creates (a dangling link's target).
    static func resolvingSymlinks(_ path: String) throws(BasicsError) -> String {
        var current = path
        for _ in 0..<40 {
            var st = stat()
            guard lstat(current, &st) == 0, st.st_mode & S_IFMT == S_IFLNK else { return current }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(current, &buffer, buffer.count - 1)
            guard n >= 0 else { throw .io(path: current, errno: errno, action: "read the symlink") }
            let link = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if link.hasPrefix("/") {
                current = link
            } else if let slash = current.lastIndex(of: "/") {
                current = String(current[...slash]) + link
            } else {
                current = link
            }
        }
        throw .io(path: path, errno: ELOOP, action: "follow the symlink")
    }
}

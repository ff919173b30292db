// Verifying a shard's recorded SHA-256 once per version of the file, not on every run.
//
// After a successful check, a one-line sidecar `.<name>.sha256` next to the shard records the
// checksum with the file's identity: device, inode, size, modification and change time (in
// nanoseconds). The next open compares that line with the file's current identity and skips the
// hash when they match. Writing the file changes its modification and change time (the change
// time cannot be set back by users), and replacing it changes its inode, so a changed byte is
// always rehashed and caught. Concurrent runs are safe: each writes its own temporary file and
// renames it over the sidecar (same content when they agree); a sidecar that cannot be written
// (a read-only workspace) only means the next run hashes again.
import Basics

#if canImport(Glibc)
    import Glibc
#endif

enum ShardChecksumCache {
    /// Checks `contents` (the whole mapped file) against `expected` (hex), unless the sidecar says
    /// this version of the file was checked before.
    static func verify(path: String, stat st: stat, contents: UnsafeRawBufferPointer, expected: String) throws {
        let want = expected.lowercased()
        let line = identity(st, sha256: want)
        let sidecar = sidecarPath(for: path)
        if read(sidecar) == line { return }
        var hasher = SHA256()
        hasher.update(contents)
        let actual = hasher.finalizeHex()
        guard actual == want else { throw ShardError.checksumMismatch(path: path, expected: want, actual: actual) }
        write(line, to: sidecar)
    }

    /// `<folder>/.<name>.sha256`.
    static func sidecarPath(for path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return ".\(path).sha256" }
        return "\(path[...slash]).\(path[path.index(after: slash)...]).sha256"
    }

    private static func identity(_ st: stat, sha256: String) -> String {
        let mtime = "\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
        let ctime = "\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)"
        return "tracker-shard-sha256-v1 \(sha256) \(st.st_size) \(st.st_dev) \(st.st_ino) \(mtime) \(ctime)\n"
    }

    private static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }

    private static func write(_ line: String, to path: String) {
        var rng = SystemRandomNumberGenerator()
        let tmp = "\(path).\(getpid()).\(rng.next() % 1_000_000_000).tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let bytes = Array(line.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        if n != bytes.count || rename(tmp, path) != 0 { unlink(tmp) }
    }
}

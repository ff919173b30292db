// A whole file mapped read-only: open, fstat and mmap once, unmapped on deinit. An empty file maps
// to an empty buffer (mmap refuses a zero length). Errors are `BasicsError.io` naming the file
// and the step that failed (open, stat, mmap).
#if canImport(Glibc)
    import Glibc
#endif

public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// The file's status at opening (size, device, inode, times).
    public let status: stat
    /// The mapped bytes, `status.st_size` of them.
    public let bytes: UnsafeRawBufferPointer

    public var size: Int { bytes.count }

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BasicsError.io(path: path, errno: errno, action: "open") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw BasicsError.io(path: path, errno: errno, action: "stat") }
        status = st
        let size = Int(st.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw BasicsError.io(path: path, errno: errno, action: "mmap")
        }
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit {
        if let p = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: p), bytes.count) }
    }
}

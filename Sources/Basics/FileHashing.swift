import Foundation

// Checksums of whole files, read in 1 MiB blocks so memory stays flat for any size.
#if canImport(Glibc)
    import Glibc
#endif

public enum FileHashing {
    /// SHA-256 (hex) and size of the file at `path`.
    public static func sha256(path: String) throws -> (hex: String, size: Int64) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw BasicsError.io(path: path, errno: errno, action: "open") }
        defer { close(fd) }
        var hasher = SHA256()
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { block.deallocate() }
        var total: Int64 = 0
        while true {
            let n = read(fd, block.baseAddress, block.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw BasicsError.io(path: path, errno: errno, action: "read")
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: block[0..<n]))
            total += Int64(n)
        }
        return (hasher.finalizeHex(), total)
    }
}

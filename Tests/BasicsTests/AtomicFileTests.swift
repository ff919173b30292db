// Atomic file writes: the bytes arrive whole under the final name, and a failed rename leaves
// neither the temporary file nor anything under the final name.
import Basics
import Foundation
import Testing

struct AtomicFileTests {
    let dir = NSTemporaryDirectory() + "atomic-\(UUID().uuidString)"

    init() throws { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }

    func writeTemporary(_ bytes: [UInt8]) throws -> String {
        let tmp = dir + "/f.tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        try #require(fd >= 0)
        try bytes.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: tmp) }
        try AtomicFile.sync(fd, temporary: tmp)
        close(fd)
        return tmp
    }

    @Test func bytesArriveWholeUnderTheFinalName() throws {
        let bytes = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let tmp = try writeTemporary(bytes)
        try AtomicFile.moveIntoPlace(tmp, dir + "/f")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/f")) == Data(bytes))
        #expect(!FileManager.default.fileExists(atPath: tmp))
    }

    @Test func failedRenameRemovesTheTemporaryFile() throws {
        let tmp = try writeTemporary([1, 2, 3])
        let target = dir + "/missing-folder/f"
        #expect(throws: BasicsError.io(path: target, errno: ENOENT, action: "rename into place")) {
            try AtomicFile.moveIntoPlace(tmp, target)
        }
        #expect(!FileManager.default.fileExists(atPath: tmp))
    }

    @Test func writeToAReadOnlyDescriptorNamesTheFile() throws {
        let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0)
        defer { close(fd) }
        #expect(throws: BasicsError.io(path: "x", errno: EBADF, action: "write")) {
            try [UInt8(1)].withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: "x") }
        }
    }
}

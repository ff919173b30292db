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

    /// A symlink is followed: the file it resolves to gets the bytes, the link stays a link (and a
    /// dangling one creates its target).
    @Test func saveThroughASymlinkWritesTheFileItNames() throws {
        let fm = FileManager.default
        try AtomicFile.save([1], to: dir + "/real")
        try fm.createSymbolicLink(atPath: dir + "/link", withDestinationPath: "real")
        try AtomicFile.save([1, 2, 3], to: dir + "/link")
        #expect(try fm.destinationOfSymbolicLink(atPath: dir + "/link") == "real")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/real")) == Data([1, 2, 3]))
        try fm.createSymbolicLink(atPath: dir + "/dangling", withDestinationPath: dir + "/new")
        try AtomicFile.save([4], to: dir + "/dangling")
        #expect(try fm.destinationOfSymbolicLink(atPath: dir + "/dangling") == dir + "/new")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/new")) == Data([4]))
        #expect(try fm.contentsOfDirectory(atPath: dir).sorted() == ["dangling", "link", "new", "real"])
    }

    /// A device is written in place, never renamed over (as root that replaced /dev/null with a
    /// regular file), and its write errors are thrown: /dev/full is a full disk.
    @Test func saveToADeviceWritesIntoIt() throws {
        try AtomicFile.save([1, 2, 3], to: "/dev/null")
        var st = stat()
        #expect(stat("/dev/null", &st) == 0 && st.st_mode & S_IFMT == S_IFCHR)
        guard access("/dev/full", W_OK) == 0 else { return }
        let e = #expect(throws: BasicsError.io(path: "/dev/full", errno: ENOSPC, action: "write")) {
            try AtomicFile.save([1, 2, 3], to: "/dev/full")
        }
        #expect("\(e!)".contains("the disk is full"))
        #expect(stat("/dev/full", &st) == 0 && st.st_mode & S_IFMT == S_IFCHR)
    }

    /// A FIFO is written into (a reader gets the bytes), a pipe named through a symlink too; a
    /// folder is an error naming it.
    @Test func saveToAFIFOWritesIntoItAndToAFolderIsAnError() async throws {
        let fifo = dir + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let reader = Task.detached { try FileHandle(forReadingFrom: URL(fileURLWithPath: fifo)).readToEnd() }
        try AtomicFile.save([5, 6, 7], to: fifo)
        #expect(try await reader.value == Data([5, 6, 7]))
        var st = stat()
        #expect(lstat(fifo, &st) == 0 && st.st_mode & S_IFMT == S_IFIFO)
        // A pipe through /proc's symlink to "pipe:[N]", as /dev/stdout is when piped.
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { for end in ends { close(end) } }
        try AtomicFile.save([8, 9], to: "/proc/self/fd/\(ends[1])")
        var got: [UInt8] = [0, 0, 0]
        #expect(read(ends[0], &got, 3) == 2 && got.prefix(2) == [8, 9])
        try FileManager.default.createDirectory(atPath: dir + "/folder", withIntermediateDirectories: false)
        let e = #expect(throws: BasicsError.notAFile(path: dir + "/folder", kind: "a folder")) {
            try AtomicFile.save([1], to: dir + "/folder")
        }
        #expect("\(e!)".contains("is a folder, not a file"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/folder").isEmpty)
    }
}

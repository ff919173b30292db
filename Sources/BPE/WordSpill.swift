// Word counts on disk, for counting corpora whose distinct words do not fit in memory.
//
// A word counter that passes its memory budget writes its table to a *run* file and starts
// afresh (WordCounter.swift). Every file splits its (word, count) entries into P hash partitions
// (the same bits of the word's hash in every file), so one partition of all runs together holds a
// 1/P share of the distinct words: merging partition by partition needs memory for one share only.
//
// File layout, little-endian: the P sections one after the other, each a list of entries
// (LEB128 word length, the word's bytes, LEB128 count); then P index records (offset, length,
// entries, checksum of the section: 4 x UInt64); then the trailer (P, checksum of the index,
// magic "TRKWORD1": 3 x UInt64). Every section is checked when it is read, so a truncated or
// altered file is a clear error, never a wrong count or a trap.
import Basics
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Why spilling word counts to disk, or reading them back, failed.
public enum WordSpillError: Error, CustomStringConvertible, Equatable {
    /// The disk filled up while writing a spill file (nothing of it is left behind).
    case diskFull(directory: String, writtenBytes: Int64)
    /// A spill file is not what was written (truncated, altered, or another file).
    case corrupt(path: String, reason: String)
    /// Words were added to a counter combined from spill files, which is read-only.
    case readOnlyCounter

    public var description: String {
        switch self {
        case .diskFull(let directory, let written):
            return "the disk is full: spilling word counts to \(directory) failed after "
                + "\(written >> 20) MiB (the spill files were deleted): free some space, or pass a larger "
                + "--memory-budget so that less is spilled"
        case .corrupt(let path, let reason):
            return "\(path): the word-count spill file is damaged (\(reason)): it was changed or truncated "
                + "during the count (a failing disk or another process?); run the command again"
        case .readOnlyCounter:
            return "words were added to a word counter combined from spill files: add them before combining"
        }
    }
}

/// The folder that the word counters of one count spill into, with the budget that makes them spill.
public final class SpillArea: Sendable {
    /// Where the spill files go; created by `init`, deleted with everything in it by `remove()`.
    public let directory: String
    /// Bytes one counter's table may take (its slots and word bytes, growth included) before it spills.
    public let tableBudget: Int
    /// Hash partitions per file: a power of two.
    public let partitions: Int
    /// Bytes the spill files may take at most before writing fails as a full disk does (tests).
    let quota: Int64?
    private let state = Mutex<(next: Int, written: Int64)>((0, 0))
    private let failedFlag = Atomic<Bool>(false)
    private let reservedBytes = Atomic<Int>(0)
    /// The lock file beside the folder, held while the area lives (`init(in:)` only).
    /// (Released once, by `remove()`, on the owner's thread.)
    nonisolated(unsafe) private let lock: FileLock?

    /// The largest number of partitions (the index of a file stays under 128 KiB).
    public static let maxPartitions = 4096

    public convenience init(directory: String, tableBudget: Int, partitions: Int = 256, quota: Int64? = nil) throws {
        try self.init(directory: directory, lock: nil, tableBudget: tableBudget, partitions: partitions, quota: quota)
    }

    /// An area in a new folder `<parent>/.spill-PID-RANDOM`, with a lock file beside it
    /// (`.spill-PID-RANDOM.lock`) held until `remove()`: the kernel drops the lock when the
    /// process dies, which is how `removeStale` tells a killed process' folder from a live one.
    public convenience init(in parent: String, tableBudget: Int, partitions: Int = 256, quota: Int64? = nil) throws {
        let directory = "\(parent)/\(Self.folderPrefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let lock: FileLock
        do {
            lock = try FileLock(path: directory + Self.lockSuffix, removeOnRelease: true)
        } catch {
            let code = errno == 0 ? EIO : errno
            throw BasicsError.io(
                path: directory + Self.lockSuffix, errno: code, action: "lock the word-count spill folder")
        }
        try self.init(directory: directory, lock: lock, tableBudget: tableBudget, partitions: partitions, quota: quota)
    }

    private init(directory: String, lock: FileLock?, tableBudget: Int, partitions: Int, quota: Int64?) throws {
        precondition(partitions > 0 && partitions <= Self.maxPartitions && partitions & (partitions - 1) == 0)
        self.directory = directory
        self.tableBudget = tableBudget
        self.partitions = partitions
        self.quota = quota
        self.lock = lock
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            let code = errno
            lock?.release()
            throw BasicsError.io(path: directory, errno: code, action: "create the word-count spill folder")
        }
    }

    /// Deletes the folder and every spill file in it, then its lock file.
    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
        lock?.release()
    }

    /// Memory outside the tables that counts against the same budget (an ingest's set of
    /// document keys): every table's budget shrinks by `bytes`, down to 1 MiB at least.
    public func reserve(perTable bytes: Int) { reservedBytes.store(bytes, ordering: .relaxed) }

    /// What one table may take now: `tableBudget` less the reserve.
    public var tableLimit: Int {
        max(min(tableBudget, 1 << 20), tableBudget - reservedBytes.load(ordering: .relaxed))
    }

    /// Bytes written to spill files so far (deleted files included).
    public var writtenBytes: Int64 { state.withLock { $0.written } }

    /// Spill files started so far.
    public var filesWritten: Int { state.withLock { $0.next } }

    /// True once any counter of this area failed to spill (the count is then abandoned).
    public var hasFailed: Bool { failedFlag.load(ordering: .relaxed) }

    func markFailed() { failedFlag.store(true, ordering: .relaxed) }

    func newPath(_ kind: String) -> String {
        let n = state.withLock { s in
            s.next += 1
            return s.next
        }
        return "\(directory)/\(kind)-\(n).words"
    }

    /// Counts `bytes` as written; false when that passes the quota.
    func account(_ bytes: Int) -> Bool {
        state.withLock { s in
            s.written += Int64(bytes)
            return quota.map { s.written <= $0 } ?? true
        }
    }
}

extension SpillArea {
    static let folderPrefix = ".spill-"
    static let lockSuffix = StaleFolders.lockSuffix

    /// Deletes the spill folders in `parent` whose process died before removing them (a killed
    /// ingest), as `StaleFolders.remove` does. Returns the folders deleted.
    @discardableResult
    public static func removeStale(in parent: String) -> [String] {
        StaleFolders.remove(in: parent, prefix: folderPrefix)
    }
}

/// One section of a word file, as its index records it.
struct WordSection: Equatable {
    var offset: UInt64
    var length: UInt64
    var entries: UInt64
    var checksum: UInt64
}

/// Writes a word file section by section: `beginSection`, `append`..., `endSection`, then `finish`.
final class WordFileWriter {
    let path: String
    private let area: SpillArea
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var sections: [WordSection] = []
    private var offset: UInt64 = 0
    private var entries: UInt64 = 0

    init(area: SpillArea, kind: String) throws {
        self.area = area
        path = area.newPath(kind)
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BasicsError.io(path: path, errno: errno, action: "create a word-count spill file") }
    }

    deinit { if fd >= 0 { discard() } }

    func beginSection() {
        buffer.removeAll(keepingCapacity: true)
        entries = 0
    }

    @inline(__always)
    func append(_ word: UnsafeRawBufferPointer, _ count: Int64) {
        appendVarint(UInt64(word.count))
        buffer.append(contentsOf: word)
        appendVarint(UInt64(bitPattern: count))
        entries += 1
    }

    @inline(__always)
    private func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            buffer.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        buffer.append(UInt8(v))
    }

    func endSection() throws {
        let checksum = buffer.withUnsafeBytes { wordChecksum($0) }
        sections.append(WordSection(offset: offset, length: UInt64(buffer.count), entries: entries, checksum: checksum))
        try write(buffer)
    }

    /// Writes the index and the trailer and closes the file.
    func finish() throws -> WordFile {
        var index: [UInt8] = []
        for s in sections {
            for v in [s.offset, s.length, s.entries, s.checksum] { appendLittleEndian(v, to: &index) }
        }
        let indexChecksum = index.withUnsafeBytes { wordChecksum($0) }
        var trailer: [UInt8] = []
        for v in [UInt64(sections.count), indexChecksum, WordFile.magic] { appendLittleEndian(v, to: &trailer) }
        try write(index + trailer)
        close(fd)
        fd = -1
        return WordFile(path: path, sections: sections)
    }

    /// Closes and deletes the file.
    func discard() {
        if fd >= 0 { close(fd) }
        fd = -1
        unlink(path)
    }

    private func write(_ bytes: [UInt8]) throws {
        guard area.account(bytes.count) else { throw fail(ENOSPC) }
        do {
            try bytes.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path) }
        } catch BasicsError.io(_, let code, _) {
            throw fail(code)
        }
        offset += UInt64(bytes.count)
    }

    /// Deletes the partial file and returns the error for `code`.
    private func fail(_ code: Int32) -> Error {
        discard()
        area.markFailed()
        if code == ENOSPC || code == EDQUOT || code == EFBIG {
            return WordSpillError.diskFull(directory: area.directory, writtenBytes: area.writtenBytes)
        }
        return BasicsError.io(path: path, errno: code, action: "write the word-count spill file")
    }
}

/// A finished word file: where its sections are; `forEachEntry` reads and checks one of them.
struct WordFile {
    static let magic: UInt64 = 0x3144_524F_574B_5254  // "TRKWORD1" little-endian
    static let trailerBytes = 24

    let path: String
    let sections: [WordSection]

    /// Reads the index of the file at `path`, which must have `partitions` sections.
    static func open(path: String, partitions: Int) throws -> WordFile {
        let corrupt = { (reason: String) in WordSpillError.corrupt(path: path, reason: reason) }
        let size = try fileSize(path)
        let indexBytes = partitions * 32
        guard size >= Int64(indexBytes + trailerBytes) else { throw corrupt("\(size) bytes is too short") }
        let tail = try readBytes(path, at: size - Int64(indexBytes + trailerBytes), count: indexBytes + trailerBytes)
        let trailer = (0..<3).map { loadLittleEndian(tail, indexBytes + 8 * $0) }
        guard trailer[2] == magic else { throw corrupt("no end marker") }
        guard trailer[0] == UInt64(partitions) else { throw corrupt("\(trailer[0]) partitions, not \(partitions)") }
        let index = Array(tail[0..<indexBytes])
        guard index.withUnsafeBytes({ wordChecksum($0) }) == trailer[1] else { throw corrupt("bad index checksum") }
        let dataEnd = UInt64(size) - UInt64(indexBytes + trailerBytes)
        var sections: [WordSection] = []
        for p in 0..<partitions {
            let v = (0..<4).map { loadLittleEndian(index, 32 * p + 8 * $0) }
            let s = WordSection(offset: v[0], length: v[1], entries: v[2], checksum: v[3])
            guard s.offset <= dataEnd, s.length <= dataEnd - s.offset, s.entries <= s.length / 2 else {
                throw corrupt("section \(p) lies outside the file")
            }
            sections.append(s)
        }
        return WordFile(path: path, sections: sections)
    }

    /// Calls `body(word, count)` for every entry of section `p`, after checking the section whole.
    /// `buffer` is scratch space, reused between calls.
    func forEachEntry(
        _ p: Int, buffer: inout [UInt8], _ body: (UnsafeRawBufferPointer, Int64) throws -> Void
    ) throws {
        let s = sections[p]
        let corrupt = { (reason: String) in WordSpillError.corrupt(path: path, reason: "section \(p): \(reason)") }
        buffer = try Self.readBytes(path, at: Int64(s.offset), count: Int(s.length), reusing: buffer)
        try buffer.withUnsafeBytes { raw in
            guard wordChecksum(raw) == s.checksum else { throw corrupt("bad checksum") }
            var at = 0
            for _ in 0..<s.entries {
                guard let length = readVarint(raw, &at), length > 0, length <= UInt64(raw.count - at) else {
                    throw corrupt("bad word length at byte \(at)")
                }
                let word = UnsafeRawBufferPointer(rebasing: raw[at..<(at + Int(length))])
                at += Int(length)
                guard let count = readVarint(raw, &at), count > 0, count <= UInt64(Int64.max) else {
                    throw corrupt("bad count at byte \(at)")
                }
                try body(word, Int64(count))
            }
            guard at == raw.count else { throw corrupt("\(raw.count - at) bytes after the last entry") }
        }
    }

    func remove() { unlink(path) }

    private static func fileSize(_ path: String) throws -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw BasicsError.io(path: path, errno: errno, action: "read") }
        return Int64(st.st_size)
    }

    private static func readBytes(_ path: String, at offset: Int64, count: Int, reusing: [UInt8] = []) throws -> [UInt8]
    {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BasicsError.io(path: path, errno: errno, action: "open the word-count spill file") }
        defer { close(fd) }
        var bytes = reusing
        bytes.removeAll(keepingCapacity: true)
        bytes.append(contentsOf: repeatElement(0, count: count))
        try bytes.withUnsafeMutableBytes { raw in
            var done = 0
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw BasicsError.io(path: path, errno: errno, action: "read") }
                guard n > 0 else { throw WordSpillError.corrupt(path: path, reason: "truncated") }
                done += n
            }
        }
        return bytes
    }
}

/// The checksum of a section or index: the word table's 64-bit hash over the bytes.
@inline(__always)
func wordChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    guard let base = bytes.baseAddress else { return 0 }
    return hashKey(base, bytes.count).hash
}

/// Reads a LEB128 number at `at` and moves past it; nil when it runs off the end or past 64 bits.
@inline(__always)
private func readVarint(_ raw: UnsafeRawBufferPointer, _ at: inout Int) -> UInt64? {
    var value: UInt64 = 0
    var shift: UInt64 = 0
    while at < raw.count {
        let b = raw[at]
        at += 1
        if shift == 63 && b > 1 { return nil }
        value |= UInt64(b & 0x7F) << shift
        if b < 0x80 { return value }
        shift += 7
        if shift > 63 { return nil }
    }
    return nil
}

private func appendLittleEndian(_ v: UInt64, to bytes: inout [UInt8]) {
    for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
}

private func loadLittleEndian(_ bytes: [UInt8], _ at: Int) -> UInt64 {
    var v: UInt64 = 0
    for i in 0..<8 { v |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
    return v
}

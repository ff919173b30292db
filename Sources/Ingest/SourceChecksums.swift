// The sources' checksums, which with the settings identify the corpus. They are computed on a
// thread of their own while pass 1 reads the same files: hashed first, a single large source
// kept one core busy and the other idle (13 s of a 10 GB ingest), and the reader waited for it.
import Basics
import Corpus
import Foundation

final class SourceChecksums: @unchecked Sendable {
    typealias Sums = [(sha256: String, size: Int64)]
    private let lock = NSLock()
    private var result: Result<Sums, any Error>?
    private var wallSeconds = 0.0
    private var join: (() -> Void)?

    /// Starts hashing `sources` (on up to `threads` threads, one file each).
    init(_ sources: [SourceFile], threads: Int) {
        join = startThreads(1, name: "checksum") { [self] _ in
            let t = DispatchTime.now()
            let slots = ResultSlots<Result<(sha256: String, size: Int64), any Error>>(count: sources.count)
            parallelFor(sources.count, threads: threads) { i in
                slots[i] = Result { try FileHashing.sha256(path: sources[i].path) }.map { ($0.hex, $0.size) }
            }
            let sums = Result { try slots.values.map { try $0!.get() } }
            lock.withLock {
                result = sums
                wallSeconds = secondsSince(t)
            }
        }
    }

    deinit { join?() }

    /// True once every source is hashed (or one failed).
    var isDone: Bool { lock.withLock { result != nil } }

    /// Waits for the checksums (in the sources' order); throws a failure to read a source.
    func wait() throws -> Sums {
        join?()
        join = nil
        return try lock.withLock { result! }.get()
    }

    /// Wall-clock seconds the hashing took (after `wait`).
    var seconds: Double { lock.withLock { wallSeconds } }
}

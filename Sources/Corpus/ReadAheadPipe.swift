// A read-ahead thread for archives: it runs the ArchiveWalker (decompression, the bulk of the
// cost for .tar.xz and .tar.gz) and queues items and data blocks, while the caller's thread
// checks UTF-8, splits JSONL and runs the caller's callback. Memory stays bounded: at most
// `blockCount` blocks of `blockSize` bytes and `maxEvents` queued items in flight.
import Foundation

struct ReadAheadPipe: ItemStream {
    private let shared: Shared
    private let progress: ((Int64) -> Void)?
    private var reported: Int64 = -1
    private var block: ByteBuffer?
    private var offset = 0
    private var inDocument = false

    init(walker: ArchiveWalker, progress: ((Int64) -> Void)?, blockSize: Int = 64 << 10, blockCount: Int = 32) {
        self.shared = Shared(walker: walker, blockSize: blockSize, blockCount: blockCount)
        self.progress = progress
        let shared = self.shared
        let thread = Thread { shared.produce() }
        thread.name = "corpus-read-ahead"
        thread.stackSize = 4 << 20  // libarchive's decoders run here, not on a small default stack
        thread.start()
    }

    /// Stops the read-ahead thread (if it still runs) and waits for it: the walker, and the file
    /// descriptor under it, are only released after this.
    func stop() { shared.cancelAndWait() }

    mutating func next() throws -> ArchiveItem? {
        recycle()
        while inDocument {
            switch try take() {
            case .data(let b): shared.giveBack(b)
            case .end, .entryFailed: inDocument = false
            default: preconditionFailure("read-ahead: item inside a document")
            }
        }
        switch try take() {
        case .item(let item):
            if case .document = item { inDocument = true }
            return item
        case .done:
            return nil
        default:
            preconditionFailure("read-ahead: data outside a document")
        }
    }

    mutating func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        guard inDocument else { return 0 }
        if block == nil {
            switch try take() {
            case .data(let b):
                block = b
                offset = 0
            case .end:
                inDocument = false
                return 0
            case .entryFailed(let message):
                inDocument = false
                throw EntryFailure(message: message)
            default:
                preconditionFailure("read-ahead: item inside a document")
            }
        }
        let b = block!
        let n = min(count, b.count - offset)
        buffer.copyMemory(from: b.base + offset, byteCount: n)
        offset += n
        if offset == b.count { recycle() }
        return n
    }

    /// The rest of the document is dropped by the next `next()`.
    mutating func skipRest() throws { recycle() }

    private mutating func recycle() {
        if let b = block { shared.giveBack(b) }
        block = nil
    }

    /// The next event, with progress reported and a producer error rethrown here.
    private mutating func take() throws -> Event {
        let (event, compressed) = shared.pop()
        if compressed != reported {
            reported = compressed
            progress?(compressed)
        }
        if case .failed(let error) = event { throw error }
        return event
    }

    enum Event {
        case item(ArchiveItem)
        case data(ByteBuffer)
        case end
        case entryFailed(String)
        case failed(any Error)
        case done

        var isFinal: Bool {
            switch self {
            case .failed, .done: return true
            default: return false
            }
        }
    }

    /// The state both threads touch, under one condition lock.
    final class Shared: @unchecked Sendable {
        private let walker: ArchiveWalker
        private let blockSize: Int
        private let maxEvents = 256
        private let wakeBatch = 32
        private let condition = NSCondition()
        private var events: [(Event, Int64)] = []
        private var head = 0
        private var free: [ByteBuffer] = []
        private var blocksMade = 0
        private let blockCount: Int
        private var cancelled = false
        private var finished = false
        /// Who sleeps on the condition: signalling only then keeps the threads out of the kernel.
        private var consumerWaiting = false
        private var producerWaiting = false

        init(walker: ArchiveWalker, blockSize: Int, blockCount: Int) {
            self.walker = walker
            self.blockSize = blockSize
            self.blockCount = blockCount
        }

        /// The read-ahead thread's loop.
        func produce() {
            defer {
                condition.lock()
                finished = true
                condition.broadcast()
                condition.unlock()
            }
            do {
                while let item = try walker.next() {
                    guard push(.item(item)) else { return }
                    if case .document = item, !(try produceDocument()) { return }
                }
                _ = push(.done)
            } catch {
                _ = push(.failed(error))
            }
        }

        /// Queues one document's data in full blocks; false when cancelled.
        private func produceDocument() throws -> Bool {
            while true {
                guard let b = takeBlock() else { return false }
                b.count = 0
                do {
                    while b.spare > 0 {
                        let n = try walker.read(into: b.base + b.count, count: b.spare)
                        if n == 0 { break }
                        b.count += n
                    }
                } catch let failure as EntryFailure {
                    giveBack(b)
                    return push(.entryFailed(failure.message))
                }
                if b.count == 0 {
                    giveBack(b)
                    return push(.end)
                }
                let full = b.spare == 0
                guard push(.data(b)) else { return false }
                if !full { return push(.end) }
            }
        }

        private func push(_ event: Event) -> Bool {
            let compressed = walker.compressedBytes
            condition.lock()
            defer { condition.unlock() }
            while !cancelled && events.count - head >= maxEvents { producerWait() }
            if cancelled { return false }
            events.append((event, compressed))
            // Wake a sleeping consumer for a batch, not per event (it is usually the faster side).
            if consumerWaiting && (events.count - head >= wakeBatch || event.isFinal) { condition.broadcast() }
            return true
        }

        func pop() -> (Event, Int64) {
            condition.lock()
            defer { condition.unlock() }
            while head == events.count {
                consumerWaiting = true
                condition.wait()
                consumerWaiting = false
            }
            let e = events[head]
            head += 1
            if head > 1024 && head * 2 > events.count {
                events.removeFirst(head)
                head = 0
            }
            if producerWaiting { condition.broadcast() }
            return e
        }

        private func takeBlock() -> ByteBuffer? {
            condition.lock()
            defer { condition.unlock() }
            while !cancelled && free.isEmpty && blocksMade == blockCount { producerWait() }
            if cancelled { return nil }
            if let b = free.popLast() { return b }
            blocksMade += 1
            return ByteBuffer(capacity: blockSize)
        }

        func giveBack(_ b: ByteBuffer) {
            condition.lock()
            free.append(b)
            if producerWaiting { condition.broadcast() }
            condition.unlock()
        }

        /// Sleeps until the consumer frees room (called with the lock held).
        private func producerWait() {
            if consumerWaiting { condition.broadcast() }
            producerWaiting = true
            condition.wait()
            producerWaiting = false
        }

        func cancelAndWait() {
            condition.lock()
            cancelled = true
            condition.broadcast()
            while !finished { condition.wait() }
            condition.unlock()
        }
    }
}

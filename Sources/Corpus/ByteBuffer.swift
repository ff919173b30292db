// A growable byte buffer, allocated once per reader and reused for every document, so reading
// costs no allocation per document and memory stays bounded by the largest document.
#if canImport(Glibc)
    import Glibc
#endif

final class ByteBuffer {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        guard let p = malloc(self.capacity) else { fatalError("out of memory allocating \(capacity) bytes") }
        self.base = p
    }

    deinit { free(base) }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Free space after `count`.
    var spare: Int { capacity - count }

    /// Makes room for at least `newCapacity` bytes, keeping the contents.
    func reserve(_ newCapacity: Int) {
        guard newCapacity > capacity else { return }
        guard let p = realloc(base, newCapacity) else { fatalError("out of memory allocating \(newCapacity) bytes") }
        base = p
        capacity = newCapacity
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        guard let src = bytes.baseAddress, !bytes.isEmpty else { return }
        if count + bytes.count > capacity { reserve(max(count + bytes.count, capacity * 2)) }
        memcpy(base + count, src, bytes.count)
        count += bytes.count
    }

    func append(byte: UInt8) {
        if count == capacity { reserve(capacity * 2) }
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Drops the first `n` bytes, moving the rest to the front.
    func removeFirst(_ n: Int) {
        precondition(n <= count)
        if n < count { memmove(base, base + n, count - n) }
        count -= n
    }
}

import Basics
import Foundation

// The safetensors file format (huggingface/safetensors), written and read here for F32 tensors:
//   8 bytes   little-endian UInt64 N, the header length
//   N bytes   UTF-8 JSON: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//             ..., "__metadata__": {"key": "string", ...}}, padded with spaces so data starts
//             8-byte aligned
//   data      the tensors back to back, little-endian; offsets are relative to the data start
// Files are written to `<path>.tmp`, fsynced and renamed into place (then the folder is fsynced),
// so a crash never leaves a half-written file under the final name. Reading maps the file.
// The SHA-256 of the data section is written in `__metadata__` (`tracker.data_sha256`, a string, so
// Python's safetensors still loads the file) and checked on every read: flipped bytes in the data
// were otherwise loaded as weights (a resume trained on from loss 1545). Files without the key
// (written by earlier versions, or by other tools) load unchecked. With the CPU's SHA extensions
// (CSHA256) it costs 61 ms per config A checkpoint (21 MB weights + 42 MB state, release build,
// 2026-12-08) on each write and each resume, beside a write and fsync of the same 63 MB.
#if canImport(Glibc)
    import Glibc
#endif

/// One tensor to write: a name, a shape and `shape.reduce(1, *)` floats.
public struct SafetensorsEntry {
    public var name: String
    public var shape: [Int]
    public var data: UnsafeBufferPointer<Float>
    public init(name: String, shape: [Int], data: UnsafeBufferPointer<Float>) {
        precondition(shape.reduce(1, *) == data.count, "\(name): shape \(shape) does not hold \(data.count) values")
        self.name = name
        self.shape = shape
        self.data = data
    }
}

public enum Safetensors {
    /// The `__metadata__` key holding the lowercase hex SHA-256 of the data section.
    public static let digestKey = "tracker.data_sha256"

    /// Writes `tensors` (in this order) and `metadata` atomically to `path`, with the digest of
    /// the tensor data under `digestKey`.
    public static func write(path: String, tensors: [SafetensorsEntry], metadata: [String: String]) throws {
        var hasher = SHA256()
        for t in tensors { hasher.update(UnsafeRawBufferPointer(t.data)) }
        var metadata = metadata
        metadata[digestKey] = hasher.finalizeHex()
        let header = headerBytes(tensors: tensors, metadata: metadata)
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TrainingError.io(.io(path: tmp, errno: errno, action: "create")) }
        var ok = false
        defer {
            if !ok {
                close(fd)
                unlink(tmp)
            }
        }
        do {
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try AtomicFile.writeAll(fd, $0, path: tmp) }
            try header.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: tmp) }
            for t in tensors where t.data.count > 0 {
                try AtomicFile.writeAll(fd, UnsafeRawBufferPointer(t.data), path: tmp)
            }
            try AtomicFile.sync(fd, temporary: tmp)
            close(fd)
            ok = true
            try AtomicFile.moveIntoPlace(tmp, path)
        } catch let e as BasicsError {
            throw TrainingError.io(e)
        }
    }

    /// The JSON header, padded with spaces to make 8 + N a multiple of 8.
    static func headerBytes(tensors: [SafetensorsEntry], metadata: [String: String]) -> [UInt8] {
        var parts: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.keys.sorted().map { "\(JSONText.quoted($0)):\(JSONText.quoted(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var offset = 0
        var seen = Set<String>()
        for t in tensors {
            precondition(t.name != "__metadata__" && seen.insert(t.name).inserted, "duplicate tensor name \(t.name)")
            let end = offset + 4 * t.data.count
            let shape = t.shape.map(String.init).joined(separator: ",")
            parts.append(
                "\(JSONText.quoted(t.name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}"
            )
            offset = end
        }
        var bytes = Array(("{" + parts.joined(separator: ",") + "}").utf8)
        while (8 + bytes.count) % 8 != 0 { bytes.append(0x20) }
        return bytes
    }

}

/// A safetensors file mapped for reading; F32 tensors only.
public final class SafetensorsFile: @unchecked Sendable {
    public struct Info: Equatable, Sendable {
        public var shape: [Int]
        public var range: Range<Int>
        public var count: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let metadata: [String: String]
    /// Tensors by name, with shape and byte range inside the data section.
    public let tensors: [String: Info]
    private let file: MappedFile
    private let base: UnsafeRawPointer
    private let dataStart: Int

    public init(path: String) throws {
        self.path = path
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch let e as BasicsError { throw TrainingError.io(e) }
        guard file.size >= 8, let start = file.bytes.baseAddress else {
            throw TrainingError.badCheckpoint(path: path, reason: "\(file.size) bytes is too small")
        }
        self.file = file
        base = start
        (metadata, tensors, dataStart) = try Self.parse(base: start, size: file.size, path: path)
        if let expected = metadata[Safetensors.digestKey] {
            var hasher = SHA256()
            hasher.update(UnsafeRawBufferPointer(start: start + dataStart, count: file.size - dataStart))
            guard hasher.finalizeHex() == expected else { throw TrainingError.damagedCheckpoint(path: path) }
        }
    }

    private static func parse(base: UnsafeRawPointer, size: Int, path: String) throws
        -> ([String: String], [String: Info], Int)
    {
        func bad(_ reason: String) -> TrainingError { .badCheckpoint(path: path, reason: reason) }
        let length = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard length > 0, length <= UInt64(size - 8) else {
            throw bad("header length \(length) does not fit in \(size) bytes")
        }
        let n = Int(length)
        let json = Data(bytes: base + 8, count: n)
        guard let root = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw bad("the header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var tensors: [String: Info] = [:]
        let dataSize = size - 8 - n
        for (name, value) in root {
            if name == "__metadata__" {
                guard let m = value as? [String: String] else { throw bad("__metadata__ must map strings to strings") }
                metadata = m
                continue
            }
            guard let t = value as? [String: Any], let dtype = t["dtype"] as? String,
                let shape = t["shape"] as? [Int], let offsets = t["data_offsets"] as? [Int], offsets.count == 2
            else { throw bad("tensor '\(name)' lacks dtype, shape or data_offsets") }
            guard dtype == "F32" else { throw bad("tensor '\(name)' is \(dtype); only F32 is supported") }
            // The byte count, checked for overflow: a hostile shape must not trap `Info.count`.
            var bytes = 4
            for d in shape where d >= 0 {
                let (p, overflow) = bytes.multipliedReportingOverflow(by: d)
                if overflow { throw bad("tensor '\(name)' has shape \(shape), far larger than the file") }
                bytes = p
            }
            guard offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] <= dataSize,
                offsets[1] - offsets[0] == bytes, shape.allSatisfy({ $0 >= 0 })
            else { throw bad("tensor '\(name)' has offsets \(offsets) that do not match shape \(shape)") }
            let info = Info(shape: shape, range: offsets[0]..<offsets[1])
            tensors[name] = info
        }
        return (metadata, tensors, 8 + n)
    }

    /// Copies tensor `name`, or the values `elements` of it (flat indices), into `out`, which must
    /// hold exactly the tensor's element count (or `elements.count`, inside the tensor).
    public func copy(
        _ name: String, elements: Range<Int>? = nil, into out: UnsafeMutableBufferPointer<Float>
    ) throws {
        guard let info = tensors[name] else {
            throw TrainingError.badCheckpoint(path: path, reason: "tensor '\(name)' is missing")
        }
        let range = elements ?? 0..<info.count
        guard range.upperBound <= info.count, range.count == out.count else {
            throw TrainingError.checkpointMismatch(
                path: path, reason: "tensor '\(name)' holds \(info.count) values, the model expects \(out.count)")
        }
        if range.count > 0 {
            memcpy(out.baseAddress!, base + dataStart + info.range.lowerBound + 4 * range.lowerBound, 4 * range.count)
        }
    }

    /// Tensor `name` as a new array.
    public func array(_ name: String) throws -> [Float] {
        let n = tensors[name]?.count ?? 0
        var out = [Float](repeating: 0, count: n)
        try out.withUnsafeMutableBufferPointer { try copy(name, into: $0) }
        return out
    }
}

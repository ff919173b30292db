// Our safetensors writer and reader: a round trip, the byte layout, bad files, and Python's
// `safetensors` package reading our file (without it skipped with a warning, failed under CI=true).
import Foundation
import TestSupport
import Testing
import Training

/// True when `python3 -c "import safetensors, numpy"` works.
let pythonHasSafetensors = pythonCanImport("safetensors, numpy")

struct SafetensorsTests {
    let a: [Float] = (0..<12).map { Float($0) * 0.5 - 3 }
    let b: [Float] = [Float.pi, -0.0, 1e-30, 3.4e38, -7]
    let empty: [Float] = []

    func write(_ path: String) throws {
        try a.withUnsafeBufferPointer { pa in
            try b.withUnsafeBufferPointer { pb in
                try empty.withUnsafeBufferPointer { pe in
                    try Safetensors.write(
                        path: path,
                        tensors: [
                            SafetensorsEntry(name: "blocks.0.attn.qkv", shape: [3, 4], data: pa),
                            SafetensorsEntry(name: "norm \"odd\"\\name", shape: [5], data: pb),
                            SafetensorsEntry(name: "nothing", shape: [0, 3], data: pe),
                        ],
                        metadata: ["step": "10", "config": "{\"a\": [1, 2]}\n"])
                }
            }
        }
    }

    @Test func roundTrip() throws {
        let path = temporaryDirectory("st") + "/w.safetensors"
        try write(path)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        let f = try SafetensorsFile(path: path)
        #expect(f.metadata.filter { $0.key != Safetensors.digestKey } == ["step": "10", "config": "{\"a\": [1, 2]}\n"])
        #expect(f.metadata[Safetensors.digestKey]?.count == 64)
        #expect(f.tensors["blocks.0.attn.qkv"]?.shape == [3, 4])
        #expect(try f.array("blocks.0.attn.qkv") == a)
        #expect(try f.array("norm \"odd\"\\name").map(\.bitPattern) == b.map(\.bitPattern))
        #expect(f.tensors["nothing"]?.shape == [0, 3])
        #expect(throws: TrainingError.self) { try f.array("missing") }
        var wrong = [Float](repeating: 0, count: 3)
        #expect(throws: TrainingError.self) {
            try wrong.withUnsafeMutableBufferPointer { try f.copy("nothing", into: $0) }
        }
    }

    @Test func layoutIsAlignedAndLittleEndian() throws {
        let path = temporaryDirectory("st") + "/w.safetensors"
        try write(path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let n = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((8 + n) % 8 == 0)
        #expect(bytes.count == 8 + n + 4 * (12 + 5))
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        #expect(header.hasPrefix("{\"__metadata__\":{"))
        #expect(header.contains("\"blocks.0.attn.qkv\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}"))
        let first =
            UInt32(bytes[8 + n]) | UInt32(bytes[9 + n]) << 8 | UInt32(bytes[10 + n]) << 16 | UInt32(bytes[11 + n]) << 24
        #expect(Float(bitPattern: first) == -3)
    }

    @Test func rejectsTruncatedAndForeignFiles() throws {
        let dir = temporaryDirectory("st")
        let path = dir + "/w.safetensors"
        try write(path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 4).write(to: URL(fileURLWithPath: dir + "/cut.safetensors"))
        #expect(throws: TrainingError.self) { try SafetensorsFile(path: dir + "/cut.safetensors") }
        try Data("hello world, not a checkpoint".utf8).write(to: URL(fileURLWithPath: dir + "/text"))
        #expect(throws: TrainingError.self) { try SafetensorsFile(path: dir + "/text") }
        #expect(throws: TrainingError.self) { try SafetensorsFile(path: dir + "/absent") }
    }

    @Test(.requires("python3 with safetensors and numpy", pythonHasSafetensors))
    func pythonSafetensorsReadsOurFile() throws {
        let path = temporaryDirectory("st") + "/w.safetensors"
        try write(path)
        let script = """
            import json, sys
            from safetensors import safe_open
            out = {}
            with safe_open(sys.argv[1], framework="numpy") as f:
                out["metadata"] = f.metadata()
                for k in f.keys():
                    t = f.get_tensor(k)
                    out[k] = {"dtype": str(t.dtype), "shape": list(t.shape), "values": [float(x) for x in t.ravel()]}
            print(json.dumps(out))
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        // The data digest is one more string entry, which Python's safetensors reads like the others.
        let metadata = try #require(json["metadata"] as? [String: String])
        #expect(metadata.filter { $0.key != Safetensors.digestKey } == ["step": "10", "config": "{\"a\": [1, 2]}\n"])
        #expect(metadata[Safetensors.digestKey] == (try SafetensorsFile(path: path)).metadata[Safetensors.digestKey])
        let qkv = try #require(json["blocks.0.attn.qkv"] as? [String: Any])
        #expect(qkv["dtype"] as? String == "float32")
        #expect(qkv["shape"] as? [Int] == [3, 4])
        #expect((qkv["values"] as? [Double])?.map(Float.init) == a)
        let odd = try #require(json["norm \"odd\"\\name"] as? [String: Any])
        #expect((odd["values"] as? [Double])?.map(Float.init) == b)
        #expect((json["nothing"] as? [String: Any])?["shape"] as? [Int] == [0, 3])
    }
}

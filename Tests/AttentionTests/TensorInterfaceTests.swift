// The `tracker attention` tensor interface against every committed golden file (the same JSON
// shape goes in, and out comes "out" and every gradient of the float64 reference), the layer input
// and parameters of forgetting against the training path, and errors that name what is wrong.
import Basics
import Foundation
import Kernels
import TestSupport
import Testing

@testable import Attention

private let goldenDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

private let goldenFiles: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: goldenDir.path)) ?? []
    return names.filter { $0.hasSuffix(".json") && $0.contains("-") }.sorted()
}()

private func flatten(_ v: Any) -> [Double] {
    if let n = v as? NSNumber { return [n.doubleValue] }
    if let a = v as? [Any] { return a.flatMap(flatten) }
    return []
}

/// The interface's outputs by name, flattened (scalars as one value).
private func run(_ variant: String, _ input: TensorInput) throws -> [String: [Double]] {
    let result = try TensorInterface.run(variant: variant, input)
    var produced: [String: [Double]] = [:]
    for t in result.tensors { produced[t.name] = t.values.map(Double.init) }
    for s in result.scalars { produced[s.name] = [s.value] }
    return produced
}

private func tensor(_ shape: [Int], _ values: [Float]) -> TensorValue {
    TensorValue(shape: shape, values: values.map(Double.init))
}

struct TensorInterfaceTests {
    @Test func everyVariantHasGoldenFiles() {
        #expect(!goldenFiles.isEmpty, "no golden files in \(goldenDir.path)")
        let covered = Set(goldenFiles.map { String($0.prefix { $0 != "-" }) })
        for name in TensorInterface.variants { #expect(covered.contains(name), "no golden file for \(name)") }
    }

    @Test(arguments: goldenFiles)
    func matchesTheFloat64Reference(file: String) throws {
        let data = try Data(contentsOf: goldenDir.appendingPathComponent(file))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let variant = try #require(root["variant"] as? String)
        let expected = try #require(root["output"] as? [String: Any])
        let produced = try run(variant, try TensorInput(json: root["input"] as Any))
        #expect(Set(produced.keys) == Set(expected.keys), "\(file): outputs \(produced.keys.sorted())")
        for (name, value) in expected {
            let want = flatten(value)
            let got = produced[name] ?? []
            #expect(got.count == want.count, "\(file): \(name) has \(got.count) values, expected \(want.count)")
            let scale = max(want.map(abs).max() ?? 0, 1e-2)
            let err = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            #expect(err <= 1e-4 * scale, "\(file): \(name) differs by \(err) (scale \(scale))")
        }
    }

    /// forgetting from x and its gate parameters (not log_f) gives the training path's out, dq,
    /// dk, dv, dx and parameter gradients (B = 1, head-major here, fused there).
    @Test func forgettingFromTheLayerInputEqualsTraining() throws {
        let (T, NH, NKV, hs, C) = (7, 4, 2, 4, 5)
        let h = try Harness("forgetting", B: 1, T: T, NH: NH, NKV: NKV, hs: hs, C: C, options: ["tile": .int(3)])
        var rng = TestRandom(seed: 21)
        let dout = Floats(normal: h.out.count, rng: &rng)
        let (dqkv, dx, dparams) = h.gradients(dout: dout)
        let W = h.shape.qkvWidth
        /// Head-major [heads][T][hs] from the token-major buffer at column offset `at`.
        func heads(_ p: UnsafePointer<Float>, _ n: Int, at: Int, width: Int) -> [Float] {
            (0..<n).flatMap { g in (0..<T).flatMap { t in (0..<hs).map { p[t * width + at + g * hs + $0] } } }
        }
        let input = TensorInput(tensors: [
            "q": tensor([NH, T, hs], heads(h.qkv.p, NH, at: 0, width: W)),
            "k": tensor([NKV, T, hs], heads(h.qkv.p, NKV, at: NH * hs, width: W)),
            "v": tensor([NKV, T, hs], heads(h.qkv.p, NKV, at: (NH + NKV) * hs, width: W)),
            "dout": tensor([NH, T, hs], heads(dout.p, NH, at: 0, width: NH * hs)),
            "x": tensor([T, C], h.x.array),
            "fgate.weight": tensor([NH, C], Array(h.params.array[..<(NH * C)])),
            "fgate.bias": tensor([NH], Array(h.params.array[(NH * C)...])),
        ])
        let got = try run("forgetting", input)
        let want: [String: [Float]] = [
            "out": heads(h.out.p, NH, at: 0, width: NH * hs), "dq": heads(dqkv.p, NH, at: 0, width: W),
            "dk": heads(dqkv.p, NKV, at: NH * hs, width: W), "dv": heads(dqkv.p, NKV, at: (NH + NKV) * hs, width: W),
            "dx": dx.array, "dfgate.weight": Array(dparams.array[..<(NH * C)]),
            "dfgate.bias": Array(dparams.array[(NH * C)...]),
        ]
        #expect(Set(got.keys) == Set(want.keys))
        for (name, values) in want {
            let err = relativeError(values, got[name] ?? [])
            #expect(err < 1e-5, "\(name): \(err)")
        }
    }

    @Test func badInputSaysWhatIsWrong() throws {
        let one = TensorValue(shape: [1, 1, 2], values: [1, 2])
        let qkv = ["q": one, "k": one, "v": one]
        #expect(throws: AttentionError.self) { try TensorInterface.run(variant: "nope", TensorInput(tensors: qkv)) }
        let gates = #expect(throws: AttentionError.self) {
            try TensorInterface.run(variant: "forgetting", TensorInput(tensors: qkv))
        }
        #expect(gates?.description.contains("log_f") == true)
        let option = #expect(throws: AttentionError.self) {
            try TensorInterface.run(variant: "alibi", TensorInput(tensors: qkv, options: ["slope": .double(1)]))
        }
        #expect(option?.description.contains("slope") == true)
        var extra = qkv
        extra["log_f"] = TensorValue(shape: [1, 1], values: [0])
        let unknown = #expect(throws: AttentionError.self) {
            try TensorInterface.run(variant: "alibi", TensorInput(tensors: extra))
        }
        #expect(unknown?.description.contains("log_f") == true)
        extra["k"] = TensorValue(shape: [1, 2, 2], values: [1, 2, 3, 4])
        let shape = #expect(throws: AttentionError.self) {
            try TensorInterface.run(variant: "forgetting", TensorInput(tensors: extra))
        }
        #expect(shape?.description.contains("shape") == true)
        #expect(throws: AttentionError.self) { try TensorInput(json: ["q": [[[1, 2], [3]]]]) }
    }
}

// The `tracker attention` tensor interface against every committed golden file: the same JSON
// shape goes in, and out comes "out" and every gradient of the float64 reference.
import Basics
import Foundation
import Testing

@testable import Attention

private let goldenDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

private let goldenFiles: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: goldenDir.path)) ?? []
    return names.filter { $0.hasSuffix(".json") && $0.contains("-") }.sorted()
}()

private func tensor3(_ v: Any?) -> [[[Double]]]? { (v as? [[[NSNumber]]])?.map { $0.map { $0.map(\.doubleValue) } } }
private func tensor2(_ v: Any?) -> [[Double]]? { (v as? [[NSNumber]])?.map { $0.map(\.doubleValue) } }

private func flatten(_ v: Any) -> [Double] {
    if let n = v as? NSNumber { return [n.doubleValue] }
    if let a = v as? [Any] { return a.flatMap(flatten) }
    return []
}

private func options(_ raw: Any?) -> [String: ConfigValue] {
    ((raw as? [String: Any]) ?? [:]).compactMapValues { ConfigValue(jsonValue: $0) }
}

struct TensorInterfaceTests {
    @Test func everyVariantHasGoldenFiles() {
        let covered = Set(goldenFiles.map { String($0.prefix { $0 != "-" }) })
        for name in TensorInterface.variants { #expect(covered.contains(name), "no golden file for \(name)") }
    }

    @Test(arguments: goldenFiles)
    func matchesTheFloat64Reference(file: String) throws {
        let data = try Data(contentsOf: goldenDir.appendingPathComponent(file))
        let root = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let variant = root["variant"] as! String
        let input = root["input"] as! [String: Any]
        let expected = root["output"] as! [String: Any]
        let result = try TensorInterface.run(
            variant: variant,
            TensorInput(
                q: tensor3(input["q"])!, k: tensor3(input["k"])!, v: tensor3(input["v"])!, dout: tensor3(input["dout"]),
                options: options(input["options"]), logF: tensor2(input["log_f"]),
                remainderBias: tensor2(input["remainder_bias"])))
        var produced: [String: [Double]] = [:]
        for t in result.tensors { produced[t.name] = t.values.map(Double.init) }
        for s in result.scalars { produced[s.name] = [s.value] }
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

    @Test func badInputSaysWhatIsWrong() {
        let q = [[[1.0, 2.0]]]
        #expect(throws: AttentionError.self) {
            try TensorInterface.run(
                variant: "nope", TensorInput(q: q, k: q, v: q, dout: nil, options: [:], logF: nil, remainderBias: nil))
        }
        let e = #expect(throws: AttentionError.self) {
            try TensorInterface.run(
                variant: "forgetting",
                TensorInput(q: q, k: q, v: q, dout: nil, options: [:], logF: nil, remainderBias: nil))
        }
        #expect(e?.description.contains("log_f") == true)
        let u = #expect(throws: AttentionError.self) {
            try TensorInterface.run(
                variant: "alibi",
                TensorInput(q: q, k: q, v: q, dout: nil, options: ["slope": .double(1)], logF: nil, remainderBias: nil))
        }
        #expect(u?.description.contains("slope") == true)
    }
}

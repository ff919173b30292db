// `tracker attention` through the real binary: JSON in, JSON out, equal to the float64 golden;
// `--help` lists every option from the variants' declarations; errors are one line.
import Foundation
import Testing

struct AttentionCommandTests {
    @Test(arguments: ["forgetting-gqa.json", "sigmoid-basic.json", "aaren-gqa.json", "softmax_rope-mqa.json"])
    func goldenThroughTheBinary(file: String) throws {
        let golden =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: repoRoot + "/Tests/AttentionTests/Golden/" + file)))
            as! [String: Any]
        let dir = tempDir("attn")
        try JSONSerialization.data(withJSONObject: golden["input"]!).write(to: URL(fileURLWithPath: dir + "/in.json"))
        let r = try runTracker([
            "attention", "--variant", golden["variant"] as! String, "--input", dir + "/in.json", "--output",
            dir + "/out.json",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let out =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out.json")))
            as! [String: Any]
        let expected = golden["output"] as! [String: Any]
        #expect(Set(out.keys) == Set(expected.keys))
        func flat(_ v: Any) -> [Double] {
            if let n = v as? NSNumber { return [n.doubleValue] }
            return (v as? [Any] ?? []).flatMap(flat)
        }
        for (k, v) in expected {
            let a = flat(out[k] ?? [])
            let b = flat(v)
            #expect(a.count == b.count)
            let scale = max(b.map(abs).max() ?? 0, 1e-2)
            #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 * scale }, "\(file): \(k)")
        }
    }

    @Test func helpListsTheDeclaredOptions() throws {
        let r = try runTracker(["attention", "--help"])
        #expect(r.status == 0, "\(r.stderr)")
        for line in [
            "softmax_rope:", "  window = 0 (an integer >= 0)", "  rope_base = 500000", "  remainder = \"current\"",
        ] {
            #expect(r.stdout.contains(line), "help misses \(line)")
        }
    }

    @Test func badShapesAreOneLineErrors() throws {
        let dir = tempDir("attn")
        try #"{"q": [[[1, 2]]], "k": [[[1, 2], [3, 4]]], "v": [[[1, 2]]]}"#.write(
            toFile: dir + "/in.json", atomically: true, encoding: .utf8)
        let r = try runTracker(["attention", "--variant", "alibi", "--input", dir + "/in.json"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("shape"))
    }

    @Test func unknownTensorsAndOptionsAreOneLineErrors() throws {
        let dir = tempDir("attn")
        try #"{"q": [[[1, 2]]], "k": [[[1, 2]]], "v": [[[1, 2]]], "log_f": [[0]], "options": {"tile": 0}}"#.write(
            toFile: dir + "/in.json", atomically: true, encoding: .utf8)
        let r = try runTracker(["attention", "--variant", "softmax_rope", "--input", dir + "/in.json"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("tile") && r.stderr.contains("positive"), "\(r.stderr)")
        try #"{"q": [[[1, 2]]], "k": [[[1, 2]]], "v": [[[1, 2]]], "log_f": [[0]]}"#.write(
            toFile: dir + "/in.json", atomically: true, encoding: .utf8)
        let u = try runTracker(["attention", "--variant", "alibi", "--input", dir + "/in.json"])
        #expect(u.status != 0)
        #expect(u.stderr.contains("log_f") && u.stderr.split(separator: "\n").count == 1, "\(u.stderr)")
    }
}

// Sizes past any machine are clear errors through the real binary, never a trap: out-of-range
// values name their key and range, and a valid but huge model is refused from its memory
// estimate before anything is allocated.
import Foundation
import Testing

struct TrainLimitsCLITests {
    static let base = """
        [data]
        task = "t1"
        [model]
        channels = 16
        layers = 1
        heads = 2
        context = 16
        [train]
        steps = 2
        batch = 2
        grad_accum = 1
        threads = 1
        """

    func train(_ overrides: [String: String]) throws -> ProcessResult {
        var lines = Self.base.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var section = ""
        for (i, line) in lines.enumerated() {
            if line.hasPrefix("[") { section = String(line.dropFirst().dropLast()) }
            let key = line.split(separator: " ").first.map(String.init) ?? ""
            if let value = overrides[section + "." + key] { lines[i] = "\(key) = \(value)" }
        }
        let dir = tempDir("limits")
        try lines.joined(separator: "\n").write(toFile: dir + "/run.toml", atomically: true, encoding: .utf8)
        return try runTracker(["train", "--config", dir + "/run.toml", "--home", dir + "/ws"])
    }

    @Test(arguments: [
        ("model.context", "100000000000", "context"), ("model.context", "1e11", "context"),
        ("model.channels", "9223372036854775807", "channels"), ("model.layers", "1000000000", "layers"),
        ("train.grad_accum", "9223372036854775807", "grad_accum"), ("train.batch", "1000000000", "batch"),
        ("train.steps", "20.5", "steps"),
    ])
    func outOfRangeSizesNameTheirKey(key: String, value: String, mentions: String) throws {
        let r = try train([key: value])
        #expect(r.status == 1, "exit \(r.status): \(r.stderr)")
        #expect(r.stderr.contains(mentions), "\(r.stderr)")
    }

    @Test func aValidButHugeModelIsRefusedByItsMemoryEstimate() throws {
        let r = try train([
            "model.channels": "16384", "model.heads": "128", "model.layers": "512", "model.context": "65536",
        ])
        #expect(r.status == 1, "exit \(r.status): \(r.stderr)")
        #expect(r.stderr.contains("needs about") && r.stderr.contains("available"), "\(r.stderr)")
    }
}

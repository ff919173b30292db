// TrainConfig decoding (defaults for missing keys, unknown keys named) and range validation.
import Basics
import Foundation
import Testing
import Training

struct TrainConfigTests {
    func decode(_ json: String) throws -> TrainConfig {
        try JSONDecoder().decode(TrainConfig.self, from: Data(json.utf8))
    }

    @Test func missingKeysTakeDefaults() throws {
        #expect(try decode("{}") == TrainConfig())
        let c = try decode(#"{"steps": 7, "lr": 1e-3, "grad_accum": 2}"#)
        #expect(c.steps == 7 && c.lr == 1e-3 && c.gradAccum == 2 && c.batch == TrainConfig().batch)
    }

    @Test func encodesWithTheSameKeys() throws {
        var c = TrainConfig()
        c.minLR = 1e-5
        let data = try JSONEncoder().encode(c)
        let keys = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]).keys
        #expect(Set(keys) == Set(TrainConfig.keys))
        #expect(try JSONDecoder().decode(TrainConfig.self, from: data) == c)
    }

    @Test func unknownKeyIsNamedWithTheValidOnes() throws {
        do {
            _ = try decode(#"{"stpes": 7}"#)
            Issue.record("expected an error")
        } catch let e as ConfigError {
            #expect(e.description.contains("'stpes'") && e.description.contains("steps, batch, grad_accum"))
        }
    }

    @Test(arguments: [
        ("steps", "0"), ("lr", "0"), ("lr", "2"), ("min_lr", "0.1"), ("beta2", "1"),
        ("warmup", "-1"), ("grad_clip", "-1"), ("threads", "0"), ("eval_batches", "0"),
    ])
    func rangesAreChecked(key: String, value: String) throws {
        let c = try decode("{\"\(key)\": \(value)}")
        #expect(throws: TrainingError.self) { try c.validate() }
        do { try c.validate() } catch { #expect("\(error)".contains("train.\(key)")) }
    }

    @Test func defaultsAreValid() throws {
        try TrainConfig().validate()
    }
}

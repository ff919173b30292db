// ScheduleConfig inside ModelConfig: decoding with defaults (also the nested `options` form of
// older checkpoints), the encoded form, staircase/ladder options and validation messages naming
// the field.
import Basics
import Foundation
import Model
import Testing

struct ScheduleConfigTests {
    @Test func decodesWithDefaults() throws {
        let plain = try JSONDecoder().decode(
            ModelConfig.self, from: Data(#"{"vocabSize": 9}"#.utf8))
        #expect(plain.schedule == ScheduleConfig(name: "plain"))
        let encoded = String(decoding: try JSONEncoder().encode(plain), as: UTF8.self)
        #expect(encoded.contains(#""schedule":{"name":"plain"}"#), "the resolved config names its schedule")
        let json = #"""
            {"vocabSize": 9, "schedule": {"name": "staircase",
             "options": {"chunk": 4, "steps": 3, "cache": "global"}}}
            """#
        let c = try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8))
        #expect(c.schedule.options["cache"] == .string("global"))
        let round = try JSONDecoder().decode(ModelConfig.self, from: JSONEncoder().encode(c))
        #expect(round == c)
        let model = try LanguageModel(config: c)
        let stair = try #require(model.schedule as? Staircase)
        #expect(stair.chunk == 4 && stair.steps == 3 && stair.cache == .global)
        #expect(model.schedule.passes == 3)
        #expect(model.flopsPerToken > 2.5 * model.plainFlopsPerToken)
    }

    @Test func staircaseAndLadderOptions() throws {
        let config = ModelConfig(vocabSize: 9, channels: 8, heads: 2)
        let cached = try Staircase(options: ["cache": .int(3)], config: config)
        #expect(cached.cache == .chunks(3) && cached.chunk == 64 && cached.steps == 2)
        #expect(try Staircase(options: ["cache": .int(0)], config: config).cache == .none)
        let ladder = try Ladder(options: ["steps": .int(4)], config: config)
        #expect(ladder.staircase.chunk == 0 && ladder.passes == 4)
    }

    @Test func validationNamesTheField() {
        func field(_ name: String, _ options: [String: ConfigValue]) -> String? {
            var c = ModelConfig(vocabSize: 9, channels: 8, heads: 2)
            c.schedule = ScheduleConfig(name: name, options: options)
            do {
                try c.validate()
                return nil
            } catch ModelError.invalidConfig(let field, _) {
                return field
            } catch {
                return "other"
            }
        }
        #expect(field("staircase", ["chunk": .int(8)]) == nil)
        #expect(field("stairs", [:]) == "schedule.name")
        #expect(field("staircase", ["chunk": .int(0)]) == "schedule.chunk")
        #expect(field("staircase", ["steps": .string("2")]) == "schedule.steps")
        #expect(field("staircase", ["cache": .string("all")]) == "schedule.cache")
        #expect(field("staircase", ["span": .int(2)]) == "schedule.span")
        #expect(field("ladder", ["chunk": .int(2)]) == "schedule.chunk")
        #expect(field("plain", ["chunk": .int(2)]) == "schedule.chunk")
    }
}

// ModelConfig: decoding with defaults, validation messages, MLP widths.
import Basics
import Foundation
import Model
import Testing

struct ModelConfigTests {
    @Test func decodesWithDefaults() throws {
        let c = try JSONDecoder().decode(ModelConfig.self, from: Data(#"{"vocabSize": 512}"#.utf8))
        #expect(c == ModelConfig(vocabSize: 512))
        #expect(c.channels == 256 && c.kvHeadCount == 4 && c.attention.variant == "softmax_rope")
        let round = try JSONDecoder().decode(ModelConfig.self, from: JSONEncoder().encode(c))
        #expect(round == c)
        // The run config's [model] table: snake_case, no vocab_size until the tokenizer gives it.
        let table = try JSONDecoder().decode(
            ModelConfig.self, from: Data(#"{"channels": 64, "kv_heads": 2, "mlp": "swiglu"}"#.utf8))
        #expect(table.vocabSize == 0 && table.channels == 64 && table.kvHeads == 2 && table.mlp == .swiglu)
        let missing = #expect(throws: ModelError.self) { try table.validate() }
        #expect(missing.map { "\($0)" }?.hasPrefix("model.vocab_size: ") == true)
        #expect(try table.resolved(vocabSize: 300).vocabSize == 300)
        #expect(throws: ConfigError.self) {
            try JSONDecoder().decode(ModelConfig.self, from: Data(#"{"chanels": 64}"#.utf8))
        }
        #expect(throws: ModelError.self) {
            try JSONDecoder().decode(ModelConfig.self, from: Data(#"{"mlp": "relu"}"#.utf8))
        }
    }

    @Test func validationNamesTheField() {
        func field(_ c: ModelConfig) -> String? {
            do {
                try c.validate()
                return nil
            } catch ModelError.invalidConfig(let field, _) {
                return field
            } catch {
                return "attention"
            }
        }
        #expect(field(ModelConfig(vocabSize: 100)) == nil)
        #expect(field(ModelConfig(vocabSize: 1)) == "vocab_size")
        #expect(field(ModelConfig(vocabSize: 100, channels: 250, heads: 4)) == "heads")
        #expect(field(ModelConfig(vocabSize: 100, heads: 4, kvHeads: 3)) == "kv_heads")
        var bad = ModelConfig(vocabSize: 100)
        bad.attention.options["typo"] = .int(1)
        #expect(field(bad) == "attention")
        #expect(throws: ModelError.self) { try LanguageModel(config: bad) }
    }

    @Test func mlpWidths() {
        #expect(ModelConfig(vocabSize: 10, channels: 256).mlpHidden == 1024)
        #expect(ModelConfig(vocabSize: 10, channels: 256, mlp: .swiglu).mlpHidden == 704)
    }
}

// Generating from a trained checkpoint (what `tracker sample` prints): load the weights and their
// ModelConfig, encode the prompt with the run's tokenizer, and generate with the model's KV-cache
// decoder.
import BPE
import Basics
import Foundation
import Training

/// A generated continuation and its speed.
public struct SampleResult: Codable, Sendable {
    public var checkpoint: String
    public var prompt: String
    public var completion: String
    public var promptTokens: Int
    public var generatedTokens: Int
    public var tokensPerSecond: Double
}

public enum CheckpointSampler {
    /// Continues `prompt` from the checkpoint at `checkpoint` (a weights file). `tokenizer`
    /// overrides the tokenizer.json the checkpoint names; `options.stopToken` is set to its
    /// end-of-text token.
    public static func sample(
        checkpoint: String, tokenizer: String?, prompt: String, options: SamplingOptions
    ) throws -> SampleResult {
        let (model, metadata) = try Checkpoint.loadModel(path: checkpoint)
        guard let tokenizerPath = tokenizer ?? metadata["tokenizer"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw SessionError.tokenizer("\(checkpoint) names no tokenizer: pass --tokenizer FILE")
        }
        let tok = try Tokenizer.load(path: tokenizerPath)
        guard tok.vocabSize == model.config.vocabSize else {
            throw SessionError.tokenizer(
                "\(tokenizerPath) has \(tok.vocabSize) tokens but the model has \(model.config.vocabSize): "
                    + "pass the run's tokenizer")
        }
        var ids: [UInt32] = []
        var text = prompt
        text.withUTF8 { tok.makeEncoder().encode(UnsafeRawBufferPointer($0), into: &ids) }
        var options = options
        options.stopToken = Int32(tok.eotId)
        let start = DispatchTime.now()
        let promptIds = ids.isEmpty ? [Int32(tok.eotId)] : ids.map { Int32($0) }
        let out = Sampler.generate(model: model, prompt: promptIds, options: options)
        let seconds = secondsSince(start)
        let completion = String(
            decoding: tok.decode(out.filter { $0 != Int32(tok.eotId) }.map { UInt32($0) }), as: UTF8.self)
        return SampleResult(
            checkpoint: checkpoint, prompt: prompt, completion: completion, promptTokens: promptIds.count,
            generatedTokens: out.count, tokensPerSecond: Double(promptIds.count + out.count) / max(seconds, 1e-9))
    }
}

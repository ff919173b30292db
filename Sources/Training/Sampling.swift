// Text generation with the model's KV-cache decoder: feed the prompt one token at a time, then
// sample each next token from softmax(logits / temperature) restricted to the top k (llm.c's
// sample_mult, with nanoGPT's temperature and top-k). Temperature 0 is greedy decoding.
// Every draw comes from one SplitMix64 seeded by the caller, so a sample is reproducible.
import Basics
import Foundation
import Model

public struct SamplingOptions: Sendable, Equatable {
    public var maxNewTokens = 200
    public var temperature = 0.8
    /// Keep the k most likely tokens; 0 keeps the whole vocabulary.
    public var topK = 40
    public var seed: UInt64 = 1337
    /// Stop after emitting this token (usually end-of-text); nil never stops early.
    public var stopToken: Int32?
    public init() {}
}

public enum Sampler {
    /// The generated tokens (the prompt excluded). Generation stops at the model's context:
    /// the prompt is cut to its last `context - 1` tokens, and at most context - prompt new
    /// tokens follow (RoPE positions are absolute, so the cache is never slid).
    public static func generate(model: LanguageModel, prompt: [Int32], options: SamplingOptions) -> [Int32] {
        let context = model.config.context
        var prompt = prompt.isEmpty ? [options.stopToken ?? 0] : prompt
        if prompt.count >= context { prompt = Array(prompt.suffix(context - 1)) }
        let budget = min(options.maxNewTokens, context - prompt.count)
        if budget <= 0 { return [] }
        let decoder = model.makeGenerator(maxTokens: prompt.count + budget)  // schedule-aware (staircase too)
        decoder.reset()
        var logits = UnsafeBufferPointer<Float>(start: nil, count: 0)
        for t in prompt { logits = decoder.next(token: t) }
        var rng = SplitMix64(seed: options.seed)
        var out: [Int32] = []
        var probs = [Double](repeating: 0, count: logits.count)
        while out.count < budget {
            let token = pick(logits, temperature: options.temperature, topK: options.topK, rng: &rng, scratch: &probs)
            out.append(token)
            if token == options.stopToken || out.count == budget { break }
            logits = decoder.next(token: token)
        }
        return out
    }

    /// One draw from the logits (V,).
    static func pick(
        _ logits: UnsafeBufferPointer<Float>, temperature: Double, topK: Int, rng: inout SplitMix64,
        scratch probs: inout [Double]
    ) -> Int32 {
        let V = logits.count
        if temperature <= 0 {
            var best = 0
            for i in 1..<V where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        // Threshold = the k-th largest logit; ties at the threshold are all kept.
        var threshold = -Float.infinity
        if topK > 0 && topK < V {
            var sorted = Array(logits)
            sorted.sort(by: >)
            threshold = sorted[topK - 1]
        }
        let maxLogit = logits.max() ?? 0
        var total = 0.0
        for i in 0..<V {
            let p = logits[i] >= threshold ? exp(Double(logits[i] - maxLogit) / temperature) : 0
            probs[i] = p
            total += p
        }
        let u = Double(rng.next() >> 11) * 0x1p-53 * total
        var acc = 0.0
        for i in 0..<V where probs[i] > 0 {
            acc += probs[i]
            if u < acc { return Int32(i) }
        }
        return Int32(probs.lastIndex(where: { $0 > 0 }) ?? 0)
    }
}

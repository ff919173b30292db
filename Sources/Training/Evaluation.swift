// Evaluation on the validation windows: mean loss, perplexity and bits per byte.
//   bpb = (sum of target NLL in nats) / (ln 2 * sum of UTF-8 byte lengths of the target tokens)
// which makes models with different tokenizers comparable (special tokens count 0 bytes, so an
// end-of-text prediction costs loss but adds no bytes). Sums are in Double, per position, from
// the model's per-position losses; padded rows (target -1) count nowhere.
import Basics
import Foundation
import Model

/// The result of one evaluation.
public struct EvalResult: Sendable, Equatable, Codable {
    /// Mean NLL per target token, in nats.
    public var loss: Double
    public var perplexity: Double
    /// Bits per UTF-8 byte, when token byte lengths were given.
    public var bitsPerByte: Double?
    public var tokens: Int
    public var bytes: Int

    /// The validation metrics: val/loss, val/ppl and, when token byte lengths are known, val/bpb.
    public func metrics() -> [String: Double] {
        var m = [MetricKey.valLoss: loss, MetricKey.valPerplexity: perplexity]
        if let bitsPerByte { m[MetricKey.valBPB] = bitsPerByte }
        return m
    }
}

extension Trainer {
    /// Evaluates on the first `batches` batches of B windows (fewer if the split is smaller; the
    /// last batch is padded). `tokenByteLengths[id]` is the UTF-8 length of token id.
    public func evaluate(_ windows: EvalWindows, batches: Int, tokenByteLengths: [Int32]?) -> EvalResult {
        precondition(windows.T == T, "evaluation windows must be \(T) tokens long")
        let W = rows.count
        let n = min(batches, (windows.count + B - 1) / B)
        var nll = 0.0
        var tokens = 0
        var bytes = 0
        let sums = UnsafeMutableBufferPointer<(Double, Int, Int)>.allocate(capacity: W)
        defer { sums.deallocate() }
        for batch in 0..<n {
            windows.fill(batch: batch, rows: B, inputs: inputs.baseAddress!, targets: targets.baseAddress!)
            pool.run { w in
                let r = rows[w]
                let ws = workspaces[w].value
                let y = targets.baseAddress! + r.lowerBound * T
                _ = model.evaluate(ws, tokens: inputs.baseAddress! + r.lowerBound * T, targets: y)
                var s = (0.0, 0, 0)
                for i in 0..<(r.count * T) where y[i] >= 0 {
                    s.0 += Double(ws.losses[i])
                    s.1 += 1
                    if let lengths = tokenByteLengths { s.2 += Int(lengths[Int(y[i])]) }
                }
                sums[w] = s
            }
            for s in sums {
                nll += s.0
                tokens += s.1
                bytes += s.2
            }
        }
        let loss = tokens > 0 ? nll / Double(tokens) : .nan
        let bpb = tokenByteLengths != nil && bytes > 0 ? nll / (log(2.0) * Double(bytes)) : nil
        return EvalResult(loss: loss, perplexity: exp(loss), bitsPerByte: bpb, tokens: tokens, bytes: bytes)
    }
}

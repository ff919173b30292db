import Attention
// Shared helpers for the model tests: tiny configs, a parameter fill that makes gradients large
// enough to check, and loss evaluation in Double.
import Foundation
import Model
import TestSupport

extension ModelConfig {
    static func tiny(
        mlp: MLPKind = .gelu, norm: NormKind = .rmsnorm, tied: Bool = true, kvHeads: Int? = nil,
        V: Int = 11, C: Int = 8, L: Int = 2, NH: Int = 2, T: Int = 5, variant: String = "softmax_rope"
    ) -> ModelConfig {
        ModelConfig(
            vocabSize: V, channels: C, layers: L, heads: NH, kvHeads: kvHeads, context: T,
            mlp: mlp, norm: norm, tiedEmbeddings: tied, attention: AttentionConfig(variant: variant))
    }
}

/// Fills matrices with N(0, 0.3²) and norm weights with 1 + N(0, 0.1²), biases N(0, 0.1²), so
/// that every parameter has a gradient well above finite-difference noise.
func scrambleParameters(_ model: LanguageModel, seed: UInt64) {
    var rng = TestRandom(seed: seed)
    for spec in model.tensors {
        let p = model.parameters.baseAddress! + spec.offset
        for i in 0..<spec.count {
            if spec.shape.count >= 2 {
                p[i] = 0.3 * rng.normal()
            } else {
                p[i] = (spec.name.hasSuffix(".weight") ? 1 : 0) + 0.1 * rng.normal()
            }
        }
    }
}

/// Random tokens and targets (B*T); target index 1 is -1 (ignored).
func batch(B: Int, T: Int, V: Int, seed: UInt64) -> (tokens: [Int32], targets: [Int32]) {
    var rng = TestRandom(seed: seed)
    let tokens = (0..<B * T).map { _ in Int32(rng.int(0..<V)) }
    var targets = (0..<B * T).map { _ in Int32(rng.int(0..<V)) }
    targets[1] = -1
    return (tokens, targets)
}

/// Mean loss over counted targets, summed in Double from the per-position losses.
func meanLoss(_ model: LanguageModel, _ ws: Workspace, _ tokens: [Int32], _ targets: [Int32])
    -> Double
{
    _ = model.evaluate(ws, tokens: tokens, targets: targets)
    let n = targets.filter { $0 >= 0 }.count
    return ws.losses.reduce(0.0) { $0 + Double($1) } / Double(n)
}

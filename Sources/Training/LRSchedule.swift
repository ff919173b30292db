// The learning-rate schedule: linear warm-up, cosine decay, then a floor (nanoGPT train.py's
// 3-phase get_lr, with the same off-by-one: step 0 already gets maxLR / (warmup + 1)).
import Foundation

public struct LRSchedule: Sendable, Equatable {
    public var maxLR: Double
    public var minLR: Double
    public var warmup: Int
    /// The step where the cosine reaches `minLR`.
    public var decaySteps: Int

    public init(maxLR: Double, minLR: Double, warmup: Int, decaySteps: Int) {
        self.maxLR = maxLR
        self.minLR = minLR
        self.warmup = warmup
        self.decaySteps = decaySteps
    }

    /// The learning rate of optimizer step `step` (0-based).
    public func lr(step: Int) -> Double {
        // 1) linear warm-up for `warmup` steps
        if step < warmup { return maxLR * Double(step + 1) / Double(warmup + 1) }
        // 2) past the decay horizon, the floor
        if step > decaySteps || decaySteps <= warmup { return minLR }
        // 3) in between, cosine from maxLR down to minLR
        let ratio = Double(step - warmup) / Double(decaySteps - warmup)
        let coeff = 0.5 * (1 + cos(Double.pi * ratio))
        return minLR + coeff * (maxLR - minLR)
    }
}

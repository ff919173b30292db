// Softmax cross-entropy. The plain pair (llm.c's softmax_forward + crossentropy_forward /
// crossentropy_softmax_backward) works on full logits and is the oracle. `fusedClassifier` is the
// fast path (llm.c's CUDA fused_classifier idea, on CPU): it walks the rows in chunks, computing
// logits = x·Wᵀ for the chunk only, softmax, loss, dlogits, then dW += dlogitsᵀx and
// dx += dlogits·W,
// so the full (BT, V) logits never exist. Targets of -1 are ignored (no loss, no gradient).
import Foundation

/// probs (BT,V) = softmax(logits); losses (BT) = -log probs[target] (0 where target == -1).
public func softmaxCrossEntropyForward(
    losses: UnsafeMutablePointer<Float>,  // (BT)
    probs: UnsafeMutablePointer<Float>,  // (BT, V)
    logits: UnsafePointer<Float>,  // (BT, V)
    targets: UnsafePointer<Int32>,  // (BT)
    BT: Int, V: Int
) {
    for r in 0..<BT {
        let p = probs + r * V
        p.update(from: logits + r * V, count: V)
        let m = rowMax(p, V)
        let sum = expShiftSum(p, V, shift: m)
        scaleInPlace(p, V, by: 1 / sum)
        let y = Int(targets[r])
        losses[r] = y < 0 ? 0 : -log(p[y])
    }
}

/// dlogits (BT,V) += (probs - onehot(target)) * dlosses.
public func softmaxCrossEntropyBackward(
    dlogits: UnsafeMutablePointer<Float>,  // (BT, V)
    dlosses: UnsafePointer<Float>,  // (BT)
    probs: UnsafePointer<Float>,  // (BT, V)
    targets: UnsafePointer<Int32>,  // (BT)
    BT: Int, V: Int
) {
    for r in 0..<BT {
        let y = Int(targets[r])
        if y < 0 { continue }
        // forward was: loss = -log p[y], p = softmax(logits) ; dloss/dlogit[i] = p[i] - [i == y]
        let d = dlogits + r * V
        let p = probs + r * V
        for i in 0..<V { d[i] += (p[i] - (i == y ? 1 : 0)) * dlosses[r] }
    }
}

/// Number of targets that are not -1 (the denominator of the mean loss).
public func countTargets(_ targets: UnsafePointer<Int32>, BT: Int) -> Int {
    var n = 0
    for r in 0..<BT where targets[r] >= 0 { n += 1 }
    return n
}

/// LM head + softmax + cross-entropy, forward and (if dinp/dweight are given) backward, in row
/// chunks. Writes losses (BT); accumulates dinp += dL/dinp and dweight += dL/dweight, where
/// L = dlossScale * sum of losses (pass 1/count for a mean), or with `accumulate` false
/// overwrites them (no need to zero them first); `accumulateWeight`, when given, decides for
/// dweight alone. Returns the sum of losses.
public func fusedClassifier(
    losses: UnsafeMutablePointer<Float>,  // (BT)
    dinp: UnsafeMutablePointer<Float>?,  // (BT, C)
    dweight: UnsafeMutablePointer<Float>?,  // (V, C)
    scratch: UnsafeMutablePointer<Float>,  // (chunk, V) logits/dlogits of one chunk
    inp: UnsafePointer<Float>,  // (BT, C)
    weight: UnsafePointer<Float>,  // (V, C)
    targets: UnsafePointer<Int32>,  // (BT)
    dlossScale: Float,
    BT: Int, C: Int, V: Int, chunk: Int, accumulate: Bool = true, accumulateWeight: Bool? = nil
) -> Double {
    let accumulateWeight = accumulateWeight ?? accumulate
    var total = 0.0
    var r0 = 0
    while r0 < BT {
        let R = min(chunk, BT - r0)
        let x = inp + r0 * C
        // logits (R,V) = x (R,C) · weight (V,C)ᵀ
        BLAS.gemm(
            transB: true, M: R, N: V, K: C, A: x, lda: C, B: weight, ldb: C, beta: 0,
            C: scratch, ldc: V)
        for r in 0..<R {
            let row = scratch + r * V
            let y = Int(targets[r0 + r])
            if y < 0 {
                losses[r0 + r] = 0
                for i in 0..<V { row[i] = 0 }
                continue
            }
            let m = rowMax(row, V)
            let target = row[y]
            let sum = expShiftSum(row, V, shift: m)
            let loss = m + log(sum) - target
            losses[r0 + r] = loss
            total += Double(loss)
            // dlogits = (softmax - onehot) * dlossScale, written over the exps in place
            scaleInPlace(row, V, by: dlossScale / sum)
            row[y] -= dlossScale
        }
        if let dinp {  // dinp (R,C) += dlogits (R,V) · weight (V,C)
            BLAS.gemm(
                M: R, N: C, K: V, A: scratch, lda: V, B: weight, ldb: C, beta: accumulate ? 1 : 0,
                C: dinp + r0 * C, ldc: C)
        }
        if let dweight {  // dweight (V,C) += dlogitsᵀ (V,R) · x (R,C)
            BLAS.gemm(
                transA: true, M: V, N: C, K: R, A: scratch, lda: V, B: x, ldb: C,
                beta: accumulateWeight || r0 > 0 ? 1 : 0, C: dweight, ldc: C)
        }
        r0 += R
    }
    return total
}

// Per-thread activations and scratch, llm.c's ActivationTensors: one arena carved into named
// slices for a fixed (B, T), reused every step and never zeroed wholesale (forward overwrites what
// it reads later; backward zeroes only the few gradient buffers it accumulates into).
import Attention
import Kernels

/// Everything one thread needs to run forward and backward for batches of (batch, time) tokens.
public final class Workspace: @unchecked Sendable {
    public let batch: Int  // B
    public let time: Int  // T
    /// Per-position losses of the last forward with targets, (B*T); 0 where the target is -1.
    public var losses: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: base + losses_, count: batch * time)
    }
    /// Floats held by this workspace.
    public let floatCount: Int

    let base: UnsafeMutablePointer<Float>
    /// Per layer: resid (input), ln1, ln1 mean/rstd, qkv, atty, attention saved, residMid, ln2,
    /// ln2 mean/rstd, fch, act. resid has L+1 entries (the last is the final residual stream).
    var resid: [Int] = [], ln1: [Int] = [], ln1Mean: [Int] = [], ln1Rstd: [Int] = []
    var qkv: [Int] = [], atty: [Int] = [], saved: [Int] = [], residMid: [Int] = []
    var ln2: [Int] = [], ln2Mean: [Int] = [], ln2Rstd: [Int] = [], fch: [Int] = [], act: [Int] = []
    var lnf = 0, lnfMean = 0, lnfRstd = 0, losses_ = 0
    /// Gradient scratch: dlnf (BT,C) from the fused classifier, dHead (V,C) its head gradient,
    /// dresid, dln, datty (BT,C), dqkv (BT,W), dfch (BT,F), dact (BT,H), the classifier's logits
    /// chunk (chunk,V), the attention variant's scratch.
    var dlnf = 0, dHead = 0, dresid = 0, dln = 0, datty = 0, dqkv = 0, dfch = 0, dact = 0
    var logits = 0, attnScratch = 0
    /// Whether the last forward prepared gradients (dlnf, dHead) for backward.
    var hasGradients = false
    var tokens: UnsafeMutablePointer<Int32>

    static let classifierChunk = 256

    init(config: ModelConfig, variant: any AttentionVariant, batch B: Int, time T: Int) {
        precondition(B >= 1 && T >= 1, "workspace needs batch >= 1 and time >= 1")
        (batch, time) = (B, T)
        let (C, V, L, H) = (config.channels, config.vocabSize, config.layers, config.mlpHidden)
        let F = config.mlp == .gelu ? H : 2 * H
        let W = variant.shape.qkvWidth, A = variant.shape.outWidth, BT = B * T
        var n = 0
        func take(_ count: Int) -> Int {
            defer { n += (count + 15) / 16 * 16 }  // 64-byte aligned slices
            return n
        }
        for _ in 0..<L {
            resid.append(take(BT * C)); ln1.append(take(BT * C))
            ln1Mean.append(take(BT)); ln1Rstd.append(take(BT))
            qkv.append(take(BT * W)); atty.append(take(BT * A))
            saved.append(take(variant.savedCount(B: B, T: T))); residMid.append(take(BT * C))
            ln2.append(take(BT * C)); ln2Mean.append(take(BT)); ln2Rstd.append(take(BT))
            fch.append(take(BT * F)); act.append(take(BT * H))
        }
        resid.append(take(BT * C))
        lnf = take(BT * C); lnfMean = take(BT); lnfRstd = take(BT); losses_ = take(BT)
        dlnf = take(BT * C); dHead = take(V * C); dresid = take(BT * C); dln = take(BT * C)
        datty = take(BT * A); dqkv = take(BT * W); dfch = take(BT * F); dact = take(BT * H)
        logits = take(Self.classifierChunk * V)
        attnScratch = take(variant.scratchCount(B: B, T: T))
        floatCount = n
        base = .allocate(capacity: n)
        base.initialize(repeating: 0, count: n)
        tokens = .allocate(capacity: BT)
        tokens.initialize(repeating: 0, count: BT)
    }

    deinit {
        base.deallocate()
        tokens.deallocate()
    }

    @inline(__always) func p(_ offset: Int) -> UnsafeMutablePointer<Float> { base + offset }
}

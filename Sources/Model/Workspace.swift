// Per-thread activations and scratch, llm.c's ActivationTensors: one arena carved into named
// slices for a fixed (B, T), reused every step and never zeroed wholesale (forward overwrites what
// it reads later; backward zeroes only the few gradient buffers it accumulates into).
// Two extras for schedules (attention.md §1c): a core run may prepend up to `memory` detached
// memory tokens per layer (keys/values only: they go through norm1, qkv and attention, not the
// MLP), and a workspace may hold no core layers at all (the staircase's sequence-level head, whose
// rows run in workspaces of their own, kept in `scheduleStorage`).
import Attention
import Kernels

/// Offsets of a workspace's named slices in its arena, and the arena's size: computed without
/// allocating, so a run's memory can be estimated before anything is allocated.
public struct WorkspaceLayout: Sendable {
    /// Per layer: resid (input), ln1, ln1 mean/rstd, qkv, atty, attention saved, residMid, ln2,
    /// ln2 mean/rstd, fch, act. resid has L+1 entries (the last is the final residual stream).
    /// ln1 .. saved span memory + time tokens per sequence; the rest span time tokens. With GELU,
    /// forward leaves gelu'(fch) in fch once act is computed (what backward needs of fch).
    var resid: [Int] = [], ln1: [Int] = [], ln1Mean: [Int] = [], ln1Rstd: [Int] = []
    var qkv: [Int] = [], atty: [Int] = [], saved: [Int] = [], residMid: [Int] = []
    var ln2: [Int] = [], ln2Mean: [Int] = [], ln2Rstd: [Int] = [], fch: [Int] = [], act: [Int] = []
    /// With memory only, per layer: xcat (B, Tm+T, C) = [memory inputs; resid], attyRow (B,T,A)
    /// the row part of atty, dMemory (B, Tm, C) the gradient of the memory inputs.
    var xcat: [Int] = [], attyRow: [Int] = [], dMemory: [Int] = []
    var lnf = 0, lnfMean = 0, lnfRstd = 0, losses_ = 0
    /// Gradient scratch: dlnf (BT,C) from the fused classifier, dHead (V,C) its head gradient,
    /// dresid, dln, datty (BT,C), dqkv (BT,W), dfch (BT,F; SwiGLU only, GELU's gradient
    /// overwrites dact), dact (BT,H), the classifier's logits
    /// chunk (chunk,V), the attention variant's scratch; with memory dattyCat and dxcat.
    var dlnf = 0, dHead = 0, dresid = 0, dln = 0, datty = 0, dqkv = 0, dfch = 0, dact = 0
    var logits = 0, attnScratch = 0, dattyCat = 0, dxcat = 0
    /// Floats of each layer's attention `saved` buffer (the variant's count at the full T + Tm;
    /// calls over fewer tokens get this as their `savedCapacity`).
    let savedCount: Int
    /// Floats of the whole arena.
    public private(set) var floatCount = 0

    /// The layout for `layers` blocks (default: the config's) over (batch, time) tokens plus
    /// `memory` memory tokens per sequence.
    public init(
        config: ModelConfig, variant: any AttentionVariant, batch B: Int, time T: Int,
        memory Tm: Int = 0, layers: Int? = nil
    ) {
        savedCount = variant.savedCount(B: B, T: T + Tm)
        let (C, V, H) = (config.channels, config.vocabSize, config.mlpHidden)
        let L = layers ?? config.layers
        let F = config.mlp == .gelu ? H : 2 * H
        let W = variant.shape.qkvWidth
        let A = variant.shape.outWidth
        let BT = B * T
        let BTc = B * (T + Tm)
        var n = 0
        func take(_ count: Int) -> Int {
            defer { n += (count + 15) / 16 * 16 }  // 64-byte aligned slices
            return n
        }
        for _ in 0..<L {
            resid.append(take(BT * C))
            ln1.append(take(BTc * C))
            ln1Mean.append(take(BTc))
            ln1Rstd.append(take(BTc))
            qkv.append(take(BTc * W))
            atty.append(take(BTc * A))
            saved.append(take(savedCount))
            residMid.append(take(BT * C))
            ln2.append(take(BT * C))
            ln2Mean.append(take(BT))
            ln2Rstd.append(take(BT))
            fch.append(take(BT * F))
            act.append(take(BT * H))
            if Tm > 0 {
                xcat.append(take(BTc * C))
                attyRow.append(take(BT * A))
                dMemory.append(take(B * Tm * C))
            }
        }
        resid.append(take(BT * C))
        lnf = take(BT * C)
        lnfMean = take(BT)
        lnfRstd = take(BT)
        losses_ = take(BT)
        dlnf = take(BT * C)
        dHead = take(V * C)
        dresid = take(BT * C)
        dln = take(BTc * C)
        datty = take(BT * A)
        dqkv = take(BTc * W)
        dfch = take(config.mlp == .gelu ? 0 : BT * F)
        dact = take(BT * H)
        if Tm > 0 {
            dattyCat = take(BTc * A)
            dxcat = take(BTc * C)
        }
        logits = take(min(Workspace.classifierChunk, BT) * V)
        attnScratch = take(L > 0 ? variant.scratchCount(B: B, T: T + Tm) : 0)
        floatCount = n
    }
}

/// A schedule's per-thread storage kept in a workspace, sized for memory accounting.
protocol ScheduleStorage: AnyObject {
    var floatCount: Int { get }
}

/// Everything one thread needs to run forward and backward for batches of (batch, time) tokens.
/// The slices' offsets (`ws.resid[l]`, `ws.qkv[l]`, ...) are its layout's, read through it.
@dynamicMemberLookup
public final class Workspace: @unchecked Sendable {
    public let batch: Int  // B
    public let time: Int  // T
    /// Memory tokens a core run can prepend at every layer (0 for the plain schedule).
    public let memory: Int
    /// Model width C.
    public let channels: Int
    /// Per-position losses of the last forward with targets, (B*T); 0 where the target is -1.
    public var losses: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: base + layout.losses_, count: batch * time)
    }
    /// Floats held by this workspace.
    public var floatCount: Int { layout.floatCount }
    /// Floats held by the schedule's own storage (the staircase's row workspaces) so far.
    public var scheduleFloatCount: Int { (scheduleStorage as? ScheduleStorage)?.floatCount ?? 0 }

    let layout: WorkspaceLayout
    let base: UnsafeMutablePointer<Float>
    /// Whether the last forward prepared gradients (dlnf, dHead) for backward.
    var hasGradients = false
    /// Where a forward with gradients adds the LM head's weight gradient instead of dHead (set by
    /// `LanguageModel.forwardBackward` for its call), and whether the last forward did.
    var headGradient: UnsafeMutablePointer<Float>?
    var headGradientAdded = false
    var tokens: UnsafeMutablePointer<Int32>
    /// A schedule's own per-thread state (the staircase's row workspaces).
    var scheduleStorage: AnyObject?

    /// Rows per classifier chunk: 1024 rows keep the head's sgemms near their full rate (K = 1024
    /// for dW += dlogitsᵀx, and the (V, C) weight packed once per 1024 rows) while the (chunk, V)
    /// logits stay a fraction of the full (BT, V) beyond one worker's share of config A (1024 rows:
    /// about 2% less head time there than 512, two workers at once, at 32 MiB of logits per worker).
    static let classifierChunk = 1024

    public subscript<Value>(dynamicMember keyPath: KeyPath<WorkspaceLayout, Value>) -> Value {
        layout[keyPath: keyPath]
    }

    /// The final residual stream resid[L] (B, T, C): the core's output, the head's input.
    var final: Int { layout.resid[layout.resid.count - 1] }

    init(
        config: ModelConfig, variant: any AttentionVariant, batch B: Int, time T: Int,
        memory Tm: Int = 0, layers: Int? = nil
    ) {
        precondition(B >= 1 && T >= 1 && Tm >= 0, "workspace needs batch >= 1 and time >= 1")
        (batch, time, memory, channels) = (B, T, Tm, config.channels)
        layout = WorkspaceLayout(config: config, variant: variant, batch: B, time: T, memory: Tm, layers: layers)
        let n = layout.floatCount
        base = LargeFloats.zeros(n).baseAddress!
        tokens = .allocate(capacity: B * T)
        tokens.initialize(repeating: 0, count: B * T)
    }

    deinit {
        LargeFloats.deallocate(base)
        tokens.deallocate()
    }

    @inline(__always) func p(_ offset: Int) -> UnsafeMutablePointer<Float> { base + offset }
}

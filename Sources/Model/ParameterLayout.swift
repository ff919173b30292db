// The parameter arena's layout table, llm.c's ParameterTensors / fill_in_parameter_sizes: named
// tensors in a fixed order, each a slice of one flat Float buffer. Gradients use the same layout.
// Order: wte, then per block norm1, attn.wqkv (the rows the variant reads: [q | k | v], or
// [k | v] for a variant without a query projection), the variant's own tensors, attn.wo, norm2, mlp.wfc,
// mlp.wproj, then norm_f and (untied only) lm_head. Names match Tests/Golden/generate.py.
import Attention
import Kernels

/// Offsets of one block's tensors in the arena (-1 = absent).
struct BlockOffsets {
    var norm1Weight = -1, norm1Bias = -1
    var wqkv = -1  // (qkvColumns.count, C): ((NH + 2 NKV) hs, C), or (2 NKV hs, C) without q
    var attn = -1  // the variant's block (variant.parameterCount)
    var wo = -1  // (C, NH hs)
    var norm2Weight = -1, norm2Bias = -1
    var wfc = -1  // (H, C) for GELU, (2H, C) for SwiGLU
    var wproj = -1  // (C, H)
}

struct ParameterLayout {
    var tensors: [TensorSpec]
    var count: Int
    var wte: Int  // (V, C)
    var blocks: [BlockOffsets]
    var normFWeight: Int, normFBias: Int  // (C), (C) or -1
    var lmHead: Int  // (V, C): wte when tied
    /// The columns of the fused qkv rows the projection computes (variant.projectedColumns):
    /// attn.wqkv has one row per column, so a variant that reads no q (aaren) has no q rows.
    var qkvColumns: Range<Int>

    init(_ config: ModelConfig, variant: any AttentionVariant) {
        let (V, C, H) = (config.vocabSize, config.channels, config.mlpHidden)
        let shape = variant.shape
        qkvColumns = variant.projectedColumns
        let layer = config.norm == .layernorm
        var b = LayoutBuilder()
        wte = b.add("wte", [V, C])
        blocks = []
        for l in 0..<config.layers {
            let p = "blocks.\(l)."
            var o = BlockOffsets()
            o.norm1Weight = b.add(p + "norm1.weight", [C])
            if layer { o.norm1Bias = b.add(p + "norm1.bias", [C]) }
            o.wqkv = b.add(p + "attn.wqkv", [qkvColumns.count, C])
            o.attn = b.count
            for spec in variant.parameters {
                b.add(p + "attn." + spec.name, spec.shape, decay: spec.decay)
            }
            o.wo = b.add(p + "attn.wo", [C, shape.outWidth])
            o.norm2Weight = b.add(p + "norm2.weight", [C])
            if layer { o.norm2Bias = b.add(p + "norm2.bias", [C]) }
            o.wfc = b.add(p + "mlp.wfc", [config.mlp == .gelu ? H : 2 * H, C])
            o.wproj = b.add(p + "mlp.wproj", [C, H])
            blocks.append(o)
        }
        normFWeight = b.add("norm_f.weight", [C])
        normFBias = layer ? b.add("norm_f.bias", [C]) : -1
        lmHead = config.tiedEmbeddings ? wte : b.add("lm_head", [V, C])
        tensors = b.tensors
        count = b.count
    }
}

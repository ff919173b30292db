// Token embedding: out[b,t] = wte[token[b,t]] (llm.c encoder_forward without wpe; positions come
// from RoPE inside the attention variant). The backward scatters dout rows back into dwte.

/// out (BT,C) = wte[tokens] ; tokens (BT) must be in 0..<V.
public func embeddingForward(
    out: UnsafeMutablePointer<Float>,  // (BT, C)
    tokens: UnsafePointer<Int32>,  // (BT)
    wte: UnsafePointer<Float>,  // (V, C)
    BT: Int, C: Int
) {
    for r in 0..<BT {
        let row = wte + Int(tokens[r]) * C
        (out + r * C).update(from: row, count: C)
    }
}

/// dwte (V,C) += dout scattered by token.
public func embeddingBackward(
    dwte: UnsafeMutablePointer<Float>,  // (V, C)
    dout: UnsafePointer<Float>,  // (BT, C)
    tokens: UnsafePointer<Int32>,  // (BT)
    BT: Int, C: Int
) {
    for r in 0..<BT {
        // forward was: out[r, :] = wte[tokens[r], :]
        let d = dwte + Int(tokens[r]) * C
        let g = dout + r * C
        for i in 0..<C { d[i] += g[i] }
    }
}

// Matmul: out = inp · weightᵀ + bias, the linear layer of llm.c's train_gpt2.c (matmul_forward /
// matmul_backward), with weight stored (OC, C). The fast path is one cblas_sgemm per call; the
// naive loop is the oracle the tests compare it with on odd shapes.

/// out (BT,OC) = inp (BT,C) · weight (OC,C)ᵀ + bias (OC). With `outStride` (>= OC), out's rows
/// are that many floats apart (a column block of a wider matrix; the other columns are untouched).
public func matmulForward(
    out: UnsafeMutablePointer<Float>,  // (BT, OC), rows outStride apart
    inp: UnsafePointer<Float>,  // (BT, C)
    weight: UnsafePointer<Float>,  // (OC, C)
    bias: UnsafePointer<Float>?,  // (OC) or nil
    BT: Int, C: Int, OC: Int, outStride: Int? = nil
) {
    let ldo = outStride ?? OC
    BLAS.gemm(
        transB: true, M: BT, N: OC, K: C, A: inp, lda: C, B: weight, ldb: C, beta: 0, C: out,
        ldc: ldo
    )
    if let bias {
        for r in 0..<BT {
            let o = out + r * ldo
            for j in 0..<OC { o[j] += bias[j] }
        }
    }
}

/// The loop version of `matmulForward`, accumulating in Double (the oracle).
public func matmulForwardNaive(
    out: UnsafeMutablePointer<Float>,  // (BT, OC)
    inp: UnsafePointer<Float>,  // (BT, C)
    weight: UnsafePointer<Float>,  // (OC, C)
    bias: UnsafePointer<Float>?,  // (OC) or nil
    BT: Int, C: Int, OC: Int
) {
    for r in 0..<BT {
        for o in 0..<OC {
            var s = Double(bias?[o] ?? 0)
            for i in 0..<C { s += Double(inp[r * C + i]) * Double(weight[o * C + i]) }
            out[r * OC + o] = Float(s)
        }
    }
}

/// Accumulates dinp, dweight and dbias; any of them may be nil when not needed. With
/// `accumulate` false, dinp is overwritten instead (it may then hold anything); dweight and dbias
/// always accumulate (they are the step's parameter gradients). `doutStride` is matmulForward's
/// `outStride`.
public func matmulBackward(
    dinp: UnsafeMutablePointer<Float>?,  // (BT, C)
    dweight: UnsafeMutablePointer<Float>?,  // (OC, C)
    dbias: UnsafeMutablePointer<Float>?,  // (OC)
    dout: UnsafePointer<Float>,  // (BT, OC), rows doutStride apart
    inp: UnsafePointer<Float>,  // (BT, C)
    weight: UnsafePointer<Float>,  // (OC, C)
    BT: Int, C: Int, OC: Int, accumulate: Bool = true, doutStride: Int? = nil
) {
    let ldd = doutStride ?? OC
    // forward was: out[r, o] = sum_i inp[r, i] * weight[o, i] + bias[o]
    if let dinp {  // dinp (BT,C) += dout (BT,OC) · weight (OC,C)
        BLAS.gemm(
            M: BT, N: C, K: OC, A: dout, lda: ldd, B: weight, ldb: C, beta: accumulate ? 1 : 0, C: dinp,
            ldc: C)
    }
    if let dweight {  // dweight (OC,C) += doutᵀ (OC,BT) · inp (BT,C)
        BLAS.gemm(
            transA: true, M: OC, N: C, K: BT, A: dout, lda: ldd, B: inp, ldb: C, beta: 1, C: dweight,
            ldc: C)
    }
    if let dbias {  // dbias[o] += sum_r dout[r, o]
        for r in 0..<BT {
            let d = dout + r * ldd
            for o in 0..<OC { dbias[o] += d[o] }
        }
    }
}

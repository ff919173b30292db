// Residual add, llm.c's residual_forward/backward: out = a + b; the backward passes dout to both.

/// out (N) = a + b; out may alias a or b.
public func residualForward(
    out: UnsafeMutablePointer<Float>,  // (N)
    a: UnsafePointer<Float>,  // (N)
    b: UnsafePointer<Float>,  // (N)
    N: Int
) {
    for i in 0..<N { out[i] = a[i] + b[i] }
}

/// da += dout ; db += dout.
public func residualBackward(
    da: UnsafeMutablePointer<Float>,  // (N)
    db: UnsafeMutablePointer<Float>,  // (N)
    dout: UnsafePointer<Float>,  // (N)
    N: Int
) {
    for i in 0..<N {
        // forward was: out[i] = a[i] + b[i]
        da[i] += dout[i]
        db[i] += dout[i]
    }
}

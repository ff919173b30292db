// GELU, tanh approximation (Hendrycks & Gimpel 2016, arXiv 1606.08415), as in GPT-2 and llm.c's
// gelu_forward/backward: out = 0.5 x (1 + tanh(k (x + 0.044715 x³))), k = sqrt(2/pi).
// Vectorised through `vtanh`; scalar tails use the same formula.

@usableFromInline let geluScale: Float = 0.797_884_560_802_865_4  // sqrt(2/pi)

/// out (N) = gelu(inp); out may alias inp.
public func geluForward(
    out: UnsafeMutablePointer<Float>,  // (N)
    inp: UnsafePointer<Float>,  // (N)
    N: Int
) {
    var i = 0
    while i + 8 <= N {
        let x = load8(inp + i)
        let t = vtanh(geluScale * (x + 0.044715 * x * x * x))
        store8(0.5 * x * (1 + t), out + i)
        i += 8
    }
    while i < N {
        let x = inp[i]
        let t = vtanh(Vec8(repeating: geluScale * (x + 0.044715 * x * x * x)))[0]
        out[i] = 0.5 * x * (1 + t)
        i += 1
    }
}

/// dinp (N) += gelu'(inp) * dout, or = when `accumulate` is false (dinp may then hold anything).
public func geluBackward(
    dinp: UnsafeMutablePointer<Float>,  // (N)
    inp: UnsafePointer<Float>,  // (N)
    dout: UnsafePointer<Float>,  // (N)
    N: Int, accumulate: Bool = true
) {
    // forward was: out = 0.5 x (1 + tanh(u)), u = k (x + 0.044715 x³)
    @inline(__always) func grad(_ x: Vec8) -> Vec8 {
        let t = vtanh(geluScale * (x + 0.044715 * x * x * x))
        let du = geluScale * (1 + 3 * 0.044715 * x * x)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
    }
    var i = 0
    if accumulate {
        while i + 8 <= N {
            store8(load8(dinp + i) + grad(load8(inp + i)) * load8(dout + i), dinp + i)
            i += 8
        }
    } else {
        while i + 8 <= N {
            store8(grad(load8(inp + i)) * load8(dout + i), dinp + i)
            i += 8
        }
    }
    while i < N {
        let d = grad(Vec8(repeating: inp[i]))[0] * dout[i]
        dinp[i] = accumulate ? dinp[i] + d : d
        i += 1
    }
}

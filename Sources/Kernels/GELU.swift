// GELU, tanh approximation (Hendrycks & Gimpel 2016, arXiv 1606.08415), as in GPT-2 and llm.c's
// gelu_forward/backward: out = 0.5 x (1 + tanh(k (x + 0.044715 x³))), k = sqrt(2/pi).
// Vectorised over sixteen lanes through `vtanh`; scalar tails use the same formula. For training,
// the forward can also keep gelu'(x), computed from the same tanh
// (`geluForward(out:derivative:inp:N:)`), so the backward is one multiply per element
// (`geluBackward(dinp:derivative:dout:N:)`) instead of a second tanh: the same numbers as
// `geluBackward(dinp:inp:dout:N:)`, bit for bit.

@usableFromInline let geluScale: Float = 0.797_884_560_802_865_4  // sqrt(2/pi)

/// out (N) = gelu(inp); out may alias inp.
public func geluForward(
    out: UnsafeMutablePointer<Float>,  // (N)
    inp: UnsafePointer<Float>,  // (N)
    N: Int
) {
    var i = 0
    while i + 16 <= N {
        let x = load16(inp + i)
        store16(0.5 * x * (1 + geluTanh(x)), out + i)
        i += 16
    }
    while i < N {
        let x = Vec16(repeating: inp[i])
        out[i] = (0.5 * x * (1 + geluTanh(x)))[0]
        i += 1
    }
}

/// out (N) = gelu(inp) and derivative (N) = gelu'(inp); either output may alias inp.
public func geluForward(
    out: UnsafeMutablePointer<Float>,  // (N)
    derivative: UnsafeMutablePointer<Float>,  // (N)
    inp: UnsafePointer<Float>,  // (N)
    N: Int
) {
    var i = 0
    while i + 16 <= N {
        let x = load16(inp + i)
        let t = geluTanh(x)
        store16(0.5 * x * (1 + t), out + i)
        store16(geluDerivative(x, t), derivative + i)
        i += 16
    }
    while i < N {
        let x = Vec16(repeating: inp[i])
        let t = geluTanh(x)
        out[i] = 0.5 * x[0] * (1 + t[0])
        derivative[i] = geluDerivative(x, t)[0]
        i += 1
    }
}

/// dinp (N) = derivative * dout, with derivative from `geluForward(out:derivative:inp:N:)`; dinp
/// may alias either input.
public func geluBackward(
    dinp: UnsafeMutablePointer<Float>,  // (N)
    derivative: UnsafePointer<Float>,  // (N)
    dout: UnsafePointer<Float>,  // (N)
    N: Int
) {
    var i = 0
    while i + 16 <= N {
        store16(load16(derivative + i) * load16(dout + i), dinp + i)
        i += 16
    }
    while i < N {
        dinp[i] = derivative[i] * dout[i]
        i += 1
    }
}

/// tanh(u), u = k (x + 0.044715 x³): the one tanh of GELU's forward and backward, sixteen lanes
/// (the scalar tails broadcast one value: the same operations per lane, so the same bits).
@inline(__always)
func geluTanh(_ x: Vec16) -> Vec16 {
    vtanh(geluScale * (x + 0.044715 * x * x * x))
}

/// gelu'(x) from t = geluTanh(x).
@inline(__always)
func geluDerivative(_ x: Vec16, _ t: Vec16) -> Vec16 {
    // forward was: out = 0.5 x (1 + tanh(u)), u = k (x + 0.044715 x³)
    let du = geluScale * (1 + 3 * 0.044715 * x * x)
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
}

/// dinp (N) += gelu'(inp) * dout, or = when `accumulate` is false (dinp may then hold anything).
public func geluBackward(
    dinp: UnsafeMutablePointer<Float>,  // (N)
    inp: UnsafePointer<Float>,  // (N)
    dout: UnsafePointer<Float>,  // (N)
    N: Int, accumulate: Bool = true
) {
    @inline(__always) func grad(_ x: Vec16) -> Vec16 { geluDerivative(x, geluTanh(x)) }
    var i = 0
    if accumulate {
        while i + 16 <= N {
            store16(load16(dinp + i) + grad(load16(inp + i)) * load16(dout + i), dinp + i)
            i += 16
        }
    } else {
        while i + 16 <= N {
            store16(grad(load16(inp + i)) * load16(dout + i), dinp + i)
            i += 16
        }
    }
    while i < N {
        let d = grad(Vec16(repeating: inp[i]))[0] * dout[i]
        dinp[i] = accumulate ? dinp[i] + d : d
        i += 1
    }
}

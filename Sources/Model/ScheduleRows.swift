// Helpers schedules share: detached memory for a core run, and copies between batched token
// buffers of different lengths. A buffer (B, n, width) holds B sequences of n tokens, so token t
// of sequence b is at (b*n + t)*width.

/// Keys/values a core run prepends at every layer: per layer l the (B, tokens, C) layer-l inputs
/// of `tokens` memory tokens that come right before the row in time (attention.md §1c, "our
/// definition": Transformer-XL style per-layer inputs).
struct CoreMemory {
    var tokens: Int
    var layers: [UnsafePointer<Float>]
}

/// dst[b, dstStart + t] = src[b, srcStart + t] for t < count, b < B.
func copyRows(
    _ B: Int, _ count: Int, _ width: Int,
    from src: UnsafePointer<Float>, _ srcLength: Int, _ srcStart: Int,
    to dst: UnsafeMutablePointer<Float>, _ dstLength: Int, _ dstStart: Int
) {
    guard count > 0 else { return }
    for b in 0..<B {
        (dst + (b * dstLength + dstStart) * width).update(
            from: src + (b * srcLength + srcStart) * width, count: count * width)
    }
}

/// dst[b, dstStart + t] += src[b, srcStart + t] for t < count, b < B.
func addRows(
    _ B: Int, _ count: Int, _ width: Int,
    from src: UnsafePointer<Float>, _ srcLength: Int, _ srcStart: Int,
    to dst: UnsafeMutablePointer<Float>, _ dstLength: Int, _ dstStart: Int
) {
    guard count > 0 else { return }
    for b in 0..<B {
        addInto(
            dst + (b * dstLength + dstStart) * width, src + (b * srcLength + srcStart) * width,
            count * width)
    }
}

/// dst[i] += src[i] for i < n.
func addInto(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n { dst[i] += src[i] }
}

// Token-by-token generation with a per-layer KV cache (the variant's decode cache): the same
// block math as LanguageModel.forward for one token at a time, so its logits equal the parallel
// forward's at every position (tested). Batch 1; one TokenDecoder per thread.
// (Named TokenDecoder, not Decoder: a public `Decoder` here would shadow Swift.Decoder in every
// file that imports Model and break its Codable code.)
import Attention
import Kernels

public final class TokenDecoder: @unchecked Sendable {
    public let model: LanguageModel
    public let maxTokens: Int
    /// Tokens consumed since the last reset.
    public private(set) var position = 0
    let caches: UnsafeMutablePointer<Float>
    let cacheStride: Int
    let buffer: UnsafeMutablePointer<Float>
    let x, ln, stats, qkv, atty, fch, act, logits, scratch: UnsafeMutablePointer<Float>

    init(model: LanguageModel, maxTokens: Int) {
        precondition(maxTokens >= 1, "a decoder needs maxTokens >= 1")
        self.model = model
        self.maxTokens = maxTokens
        let config = model.config
        let variant = model.attention
        let (C, V, H) = (config.channels, config.vocabSize, config.mlpHidden)
        cacheStride = variant.cacheCount(maxTokens: maxTokens)
        caches = .allocate(capacity: max(1, cacheStride * config.layers))
        caches.initialize(repeating: 0, count: max(1, cacheStride * config.layers))
        let sizes = [
            C, C, 2, variant.shape.qkvWidth, variant.shape.outWidth, 2 * H, H, V,
            variant.decodeScratchCount(maxTokens: maxTokens),
        ]
        bufferCount = sizes.reduce(0, +)
        buffer = .allocate(capacity: bufferCount)
        buffer.initialize(repeating: 0, count: bufferCount)
        var offsets: [UnsafeMutablePointer<Float>] = []
        var n = 0
        for s in sizes {
            offsets.append(buffer + n)
            n += s
        }
        (x, ln, stats, qkv, atty, fch, act, logits, scratch) =
            (
                offsets[0], offsets[1], offsets[2], offsets[3], offsets[4], offsets[5], offsets[6],
                offsets[7], offsets[8]
            )
    }

    /// Floats of `buffer` (activations, logits, scratch).
    let bufferCount: Int

    deinit {
        #if DEBUG
            poison()
        #endif
        caches.deallocate()
        buffer.deallocate()
    }

    /// Fills the caches and buffers (logits too) with NaN. Debug builds do it as the decoder goes
    /// away, so logits read through a pointer that outlived its decoder (`next` hands out one)
    /// are NaN, failing the reader's checks every time, not only when the freed memory happens
    /// to be reused.
    func poison() {
        caches.update(repeating: .nan, count: max(1, cacheStride * model.config.layers))
        buffer.update(repeating: .nan, count: bufferCount)
    }

    /// Forgets the sequence; the next token is at position 0.
    public func reset() { reset(firstPosition: 0) }

    /// Position (RoPE, length scaling) of the cache's first token: a staircase row's cache
    /// starts mid-stream (AttentionStep.pos0).
    private(set) var firstPosition = 0

    /// Forgets the sequence; the next token is the cache's first, at `firstPosition`.
    func reset(firstPosition: Int) {
        position = 0
        self.firstPosition = firstPosition
    }

    /// Takes `other`'s caches, position and first position (a decoder of the same model and size).
    func copyCaches(of other: TokenDecoder) {
        precondition(other.cacheStride == cacheStride, "decoders of different sizes")
        caches.update(from: other.caches, count: max(1, cacheStride * model.config.layers))
        (position, firstPosition) = (other.position, other.firstPosition)
    }

    /// Feeds one token; returns the logits (V) for the token after it. Valid until the next call.
    public func next(token: Int32) -> UnsafeBufferPointer<Float> {
        let m = model
        let V = model.config.vocabSize
        precondition(
            token >= 0 && Int(token) < V,
            "\(KernelsError.tokenOutOfRange(token: token, vocabSize: V))")
        var tok = token
        embeddingForward(out: x, tokens: &tok, wte: m.w(m.layout.wte), BT: 1, C: model.config.channels)
        coreStep()
        return head()
    }

    /// The L blocks on `x` (C), in place, for one token appended to the caches. With `record`,
    /// layer l's input goes to record + l * recordStride first.
    func coreStep(record: UnsafeMutablePointer<Float>? = nil, recordStride: Int = 0) {
        let m = model
        let config = model.config
        let (C, H) = (config.channels, config.mlpHidden)
        let F = config.mlp == .gelu ? H : 2 * H
        let A = m.attention.shape.outWidth
        for l in 0..<config.layers {
            let o = m.layout.blocks[l]
            record?.advanced(by: l * recordStride).update(from: x, count: C)
            attend(layer: l, input: x)
            BLAS.gemm(
                transB: true, M: 1, N: C, K: A, A: atty, lda: A, B: m.w(o.wo), ldb: A, beta: 1,
                C: x, ldc: C)
            m.normForward(ln, stats, stats + 1, x, o.norm2Weight, o.norm2Bias, 1)
            matmulForward(out: fch, inp: ln, weight: m.w(o.wfc), bias: nil, BT: 1, C: C, OC: F)
            switch config.mlp {
            case .gelu: geluForward(out: act, inp: fch, N: H)
            case .swiglu: swigluForward(out: act, inp: fch, N: 1, H: H)
            }
            BLAS.gemm(
                transB: true, M: 1, N: C, K: H, A: act, lda: H, B: m.w(o.wproj), ldb: H, beta: 1,
                C: x, ldc: C)
        }
        position += 1
    }

    /// Appends a token to every layer's cache from its layer-l inputs `input(l)` (C each), as a
    /// memory token of the staircase: only its keys and values matter, so the rest of each
    /// block is skipped and its attention output dropped.
    func appendMemory(_ input: (_ layer: Int) -> UnsafePointer<Float>) {
        for l in 0..<model.config.layers { attend(layer: l, input: input(l)) }
        position += 1
    }

    /// atty = the layer-l attention output of the token at `position` with layer input `input`,
    /// appended to layer l's cache.
    private func attend(layer l: Int, input: UnsafePointer<Float>) {
        let m = model
        let o = m.layout.blocks[l]
        precondition(
            position < maxTokens,
            "decoder is full (\(maxTokens) tokens); call reset() or make a larger one")
        m.normForward(ln, stats, stats + 1, input, o.norm1Weight, o.norm1Bias, 1)
        m.qkvForward(out: qkv, inp: ln, weight: m.w(o.wqkv), rows: 1)
        m.attention.decode(
            AttentionStep(
                position: position, pos0: firstPosition, qkv: qkv, x: ln, out: atty, params: m.w(o.attn),
                cache: caches + l * cacheStride, scratch: scratch))
    }

    /// The logits (V) of `x` after the final norm. Valid until the next call.
    func head() -> UnsafeBufferPointer<Float> {
        let m = model
        let (C, V) = (model.config.channels, model.config.vocabSize)
        m.normForward(ln, stats, stats + 1, x, m.layout.normFWeight, m.layout.normFBias, 1)
        matmulForward(
            out: logits, inp: ln, weight: m.w(m.layout.lmHead), bias: nil, BT: 1, C: C, OC: V)
        return UnsafeBufferPointer(start: logits, count: V)
    }
}

extension LanguageModel {
    /// A decoder with a KV cache for up to maxTokens positions. It runs the core once per token
    /// (the plain schedule) whatever config.schedule says; `makeGenerator(maxTokens:)` follows
    /// the schedule.
    public func makeDecoder(maxTokens: Int) -> TokenDecoder {
        TokenDecoder(model: self, maxTokens: maxTokens)
    }
}

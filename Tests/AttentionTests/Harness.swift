// Owns every buffer one attention layer call needs, so tests can run any registered variant.
import Attention
import Basics
import Foundation
import Kernels
import TestSupport

final class Harness {
    let variant: any AttentionVariant
    let B: Int, T: Int, pos0: Int
    let qkv: Floats, x: Floats, params: Floats, out: Floats, saved: Floats, scratch: Floats
    var shape: AttentionShape { variant.shape }

    init(
        _ name: String, B: Int, T: Int, NH: Int, NKV: Int, hs: Int, C: Int = 8, pos0: Int = 0,
        options: [String: ConfigValue] = [:], seed: UInt64 = 1, qkvScale: Float = 1,
        context: Int? = nil
    ) throws {
        let shape = AttentionShape(
            heads: NH, kvHeads: NKV, headSize: hs, channels: C, context: context ?? T)
        variant = try AttentionRegistry.make(
            AttentionConfig(variant: name, options: options), shape: shape)
        (self.B, self.T, self.pos0) = (B, T, pos0)
        var rng = TestRandom(seed: seed)
        qkv = Floats(normal: B * T * shape.qkvWidth, scale: qkvScale, rng: &rng)
        x = Floats(normal: B * T * C, rng: &rng)
        params = Floats(variant.parameterCount)
        var initRNG = SplitMix64(seed: seed)
        variant.initialize(params: params.p, rng: &initRNG)
        for i in 0..<params.count { params[i] += 0.1 * rng.normal() }
        out = Floats(B * T * shape.outWidth)
        saved = Floats(variant.savedCount(B: B, T: T))
        scratch = Floats(variant.scratchCount(B: B, T: T))
    }

    var io: AttentionIO {
        AttentionIO(
            B: B, T: T, pos0: pos0, qkv: qkv.p, x: x.p, out: out.p, params: params.p,
            saved: saved.p, scratch: scratch.p)
    }

    func forward() { variant.forward(io) }

    /// Runs forward then backward for dout; returns (dqkv, dx, dparams).
    func gradients(dout: Floats) -> (Floats, Floats, Floats) {
        let dqkv = Floats(qkv.count)
        let dx = Floats(x.count)
        let dp = Floats(params.count)
        forward()
        variant.backward(io, AttentionGrads(dout: dout.p, dqkv: dqkv.p, dx: dx.p, dparams: dp.p))
        return (dqkv, dx, dp)
    }

    /// sum(out * dout) after a fresh forward, in Double.
    func loss(_ dout: Floats) -> Double {
        forward()
        return weightedSum(out.p, dout.p, out.count)
    }

    /// Decodes the B=0 sequence token by token from an empty cache whose first token is at pos0;
    /// returns outputs (T, outWidth). The cache and scratch start filled with `fill` (NaN: what a
    /// reused cache or fresh scratch may hold, which decoding from position 0 must not read).
    func decodeAll(fill: Float = 0) -> Floats {
        let result = Floats(T * shape.outWidth)
        let cache = Floats(variant.cacheCount(maxTokens: T), value: fill)
        let scratch = Floats(variant.decodeScratchCount(maxTokens: T), value: fill)
        for t in 0..<T {
            variant.decode(
                AttentionStep(
                    position: t, pos0: pos0, qkv: qkv.p + t * shape.qkvWidth,
                    x: x.p + t * shape.channels,
                    out: result.p + t * shape.outWidth, params: params.p, cache: cache.p,
                    scratch: scratch.p))
        }
        return result
    }
}

/// max |a - b| / max(max |b|, 1e-2): the error relative to the reference tensor's scale (the floor
/// keeps tensors that are exactly 0 in exact arithmetic, e.g. dq at T = 1, at Float rounding).
func relativeError(_ a: [Float], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
    let err = zip(a, b).reduce(0.0) { max($0, abs(Double($1.0) - $1.1)) }
    return err / max(b.reduce(0.0) { max($0, abs($1)) }, 1e-2)
}

/// Relative errors (out, dqkv, dx, dparams) of a harness's forward and backward against an oracle.
func errors(_ h: Harness, dout: Floats, against ref: NaiveBiasedAttention.Result)
    -> (Double, Double, Double, Double)
{
    let (dqkv, dx, dp) = h.gradients(dout: dout)
    let dpErr = dp.count == 0 ? 0 : relativeError(dp.array, ref.dparams)
    return (
        relativeError(h.out.array, ref.out), relativeError(dqkv.array, ref.dqkv),
        relativeError(dx.array, ref.dx), dpErr
    )
}

extension Harness {
    /// scaledError of the token-by-token decode of sequence 0 (cache and scratch filled with
    /// `fill`) against a fresh forward.
    func decodeError(fill: Float = 0) -> Double {
        forward()
        let stepped = decodeAll(fill: fill)
        return withExtendedLifetime(stepped) { scaledError(stepped.p, out.p, T * shape.outWidth) }
    }

    /// The oracle on this harness's inputs.
    func naive(_ spec: NaiveBiasedAttention.Spec, dout: Floats) -> NaiveBiasedAttention.Result {
        NaiveBiasedAttention.run(
            spec, qkv: qkv.array, x: x.array, params: params.array, dout: dout.array, B: B, T: T,
            NH: shape.heads, NKV: shape.kvHeads, hs: shape.headSize, C: shape.channels, pos0: pos0)
    }
}

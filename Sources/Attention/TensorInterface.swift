// The per-head map of any variant on plain tensors, for `tracker attention` (checking our kernels
// against anyone's reference without writing Swift). Input and output follow one JSON shape:
//   in:  {"q": [H][T][d], "k": [Hkv][T][d], "v": [Hkv][T][dv], "dout": [H][T][dv] (optional),
//         "options": {...}, "log_f": [H][T] (forgetting), "remainder_bias": [H][dv] (stick_breaking
//         with remainder = "bias")}; aaren's learned query comes as "q": [H][1][d].
//   out: {"out", "dq", "dk", "dv"} plus "dlog_f", "dremainder_bias" or "dbias" where they apply.
// Options are named as in the run config. The map is the variant's core: RetNet's per-head norm is
// off unless `group_norm` is true, and sigmoid's `bias` is the number b (its gradient is "dbias").
import Basics
import Foundation

public struct TensorInput: Sendable {
    public var q: [[[Double]]], k: [[[Double]]], v: [[[Double]]]
    public var dout: [[[Double]]]?
    public var options: [String: ConfigValue]
    public var logF: [[Double]]?
    public var remainderBias: [[Double]]?

    public init(
        q: [[[Double]]], k: [[[Double]]], v: [[[Double]]], dout: [[[Double]]]?, options: [String: ConfigValue],
        logF: [[Double]]?, remainderBias: [[Double]]?
    ) {
        (self.q, self.k, self.v, self.dout, self.options) = (q, k, v, dout, options)
        (self.logF, self.remainderBias) = (logF, remainderBias)
    }
}

/// Named output tensors, each flattened with its shape, plus scalar outputs.
public struct TensorOutput: Sendable {
    public var tensors: [(name: String, shape: [Int], values: [Float])] = []
    public var scalars: [(name: String, value: Double)] = []
}

public enum TensorInterface {
    /// The variants the interface can run (every registered variant).
    public static var variants: [String] { AttentionRegistry.names }

    public static func run(variant: String, _ input: TensorInput) throws -> TensorOutput {
        guard variants.contains(variant) else {
            throw AttentionError.unknownVariant(variant, known: variants)
        }
        let isAaren = variant == "aaren"
        let H = input.q.count
        let Hkv = input.k.count
        let T = input.k.first?.count ?? 0
        let d = input.q.first?.first?.count ?? 0
        let dv = input.v.first?.first?.count ?? 0
        guard H > 0, Hkv > 0, T > 0, d > 0, dv > 0 else {
            throw shapeError("q, k and v must be non-empty [heads][T][dim]")
        }
        guard H % Hkv == 0 else { throw shapeError("k has \(Hkv) heads, which must divide the \(H) query heads") }
        let q = try flatten(input.q, "q", [H, isAaren ? 1 : T, d])
        let k = try flatten(input.k, "k", [Hkv, T, d])
        let v = try flatten(input.v, "v", [Hkv, T, dv])
        let dout = try input.dout.map { try flatten($0, "dout", [H, T, dv]) }
        var reader = OptionReader(input.options, variant: variant)
        var out = TensorOutput()
        func emit(_ name: String, _ values: [Float], _ shape: [Int]) {
            if !values.isEmpty { out.tensors.append((name, shape, values)) }
        }
        let core: AttentionCoreResult
        switch variant {
        case "softmax_rope":
            let base = try reader.double("rope_base", default: 10_000)
            _ = try reader.int("tile", default: 64)
            core = HeadMajorCore.run(
                q: q, k: k, v: v, dout: dout, H: H, Hkv: Hkv, T: T, d: d, dv: dv, map: .softmax, ropeBase: base)
        case "softmax_nope":
            _ = try reader.bool("length_scale", default: false)
            core = SoftmaxNoPE.core(q: q, k: k, v: v, dout: dout, H: H, Hkv: Hkv, T: T, d: d, dv: dv)
        case "alibi":
            core = ALiBi.core(q: q, k: k, v: v, dout: dout, H: H, Hkv: Hkv, T: T, d: d, dv: dv)
        case "forgetting":
            guard let lf = input.logF else {
                throw shapeError("forgetting needs \"log_f\": [H][T], the log forget gates")
            }
            let logF = try flatten2(lf, "log_f", [H, T])
            let rope = try reader.bool("rope", default: false)
            let base = try reader.double("rope_base", default: 500_000)
            _ = try reader.double("gate_bias_init", default: 0)
            core = Forgetting.core(
                q: q, k: k, v: v, logF: logF, dout: dout, H: H, Hkv: Hkv, T: T, d: d, dv: dv,
                ropeBase: rope ? base : nil)
            emit("dlog_f", core.dlogF, [H, T])
        case "sigmoid":
            let bias = try reader.double("bias", default: -Foundation.log(Double(T)))
            let rope = try reader.bool("rope", default: true)
            let base = try reader.double("rope_base", default: 10_000)
            core = Sigmoid.core(
                q: q, k: k, v: v, dout: dout, H: H, Hkv: Hkv, T: T, d: d, dv: dv, bias: Float(bias),
                ropeBase: rope ? base : nil)
            if dout != nil { out.scalars.append(("dbias", core.dbias)) }
        case "stick_breaking":
            let remainder = try reader.string("remainder", default: "current")
            let attendCurrent = try reader.bool("attend_current", default: false)
            let tile = try reader.int("tile", default: 64)
            let earlyStop = try reader.bool("early_stop", default: true)
            guard let mode = StickBreaking.Remainder(rawValue: remainder) else {
                throw AttentionError.invalidOption(
                    variant: variant, option: "remainder", reason: "must be current, bias or none")
            }
            var rb: [Float] = []
            if mode == .bias {
                guard let b = input.remainderBias else {
                    throw shapeError("stick_breaking with remainder = \"bias\" needs \"remainder_bias\": [H][dv]")
                }
                rb = try flatten2(b, "remainder_bias", [H, dv])
            }
            let r = StickBreaking.compute(
                q: q, k: k, v: v, remainderBias: rb, dout: dout, heads: H, kvHeads: Hkv, T: T, d: d, dv: dv,
                remainder: mode, attendCurrent: attendCurrent, tile: max(1, tile), earlyStop: earlyStop)
            core = AttentionCoreResult(out: r.out, dq: r.dq, dk: r.dk, dv: r.dv)
            emit("dremainder_bias", r.dremainderBias, [H, dv])
        case "aaren":
            let scale = try reader.bool("scale", default: true)
            let r = Aaren.compute(
                query: q, k: k, v: v, dout: dout, heads: H, kvHeads: Hkv, T: T, d: d, dv: dv, scale: scale)
            core = AttentionCoreResult(out: r.out, dq: r.dquery, dk: r.dk, dv: r.dv)
        case "retnet":
            let list = try reader.numbers("gammas") ?? []
            let norm = try reader.bool("group_norm", default: false)
            let base = try reader.double("rope_base", default: 10_000)
            guard list.allSatisfy({ $0 > 0 && $0 <= 1 }) else {
                throw AttentionError.invalidOption(
                    variant: variant, option: "gammas", reason: "must be numbers in (0, 1], one per head")
            }
            guard list.isEmpty || list.count == H else {
                throw AttentionError.invalidOption(
                    variant: variant, option: "gammas", reason: "needs one value per query head (\(H))")
            }
            let r = RetNet.compute(
                q: q, k: k, v: v, dout: dout, heads: H, kvHeads: Hkv, T: T, d: d, dv: dv, gammas: list,
                groupNorm: norm, ropeBase: base)
            core = AttentionCoreResult(out: r.out, dq: r.dq, dk: r.dk, dv: r.dv)
        default:
            throw AttentionError.unknownVariant(variant, known: variants)
        }
        try reader.finish()
        out.tensors.insert(contentsOf: [("out", [H, T, dv], core.out)], at: 0)
        if dout != nil {
            out.tensors.insert(
                contentsOf: [
                    ("dq", [H, isAaren ? 1 : T, d], core.dq), ("dk", [Hkv, T, d], core.dk),
                    ("dv", [Hkv, T, dv], core.dv),
                ],
                at: 1)
        }
        return out
    }

    private static func shapeError(_ reason: String) -> AttentionError {
        AttentionError.invalidShape("attention input: " + reason)
    }

    private static func flatten(_ x: [[[Double]]], _ name: String, _ shape: [Int]) throws -> [Float] {
        guard x.count == shape[0], x.allSatisfy({ $0.count == shape[1] && $0.allSatisfy { $0.count == shape[2] } })
        else {
            throw shapeError("\"\(name)\" must have shape [\(shape.map(String.init).joined(separator: "]["))]")
        }
        let flat = x.flatMap { $0.flatMap { $0 } }
        guard flat.allSatisfy(\.isFinite) else { throw shapeError("\"\(name)\" contains a non-finite number") }
        return flat.map(Float.init)
    }

    private static func flatten2(_ x: [[Double]], _ name: String, _ shape: [Int]) throws -> [Float] {
        try flatten(x.map { [$0] }, name, [shape[0], 1, shape[1]])
    }
}

extension ConfigValue {
    /// A value from JSONSerialization: true/false, an integer, a number, a string, or a list of
    /// numbers (kept as a comma-separated string, the form list options such as RetNet's gammas take).
    public init?(jsonValue value: Any) {
        if let n = value as? NSNumber {
            switch String(cString: n.objCType) {
            case "c", "B": self = .bool(n.boolValue)
            case "d", "f": self = .double(n.doubleValue)
            default: self = .int(n.intValue)
            }
        } else if let s = value as? String {
            self = .string(s)
        } else if let list = value as? [NSNumber] {
            self = .numbers(list.map(\.doubleValue))
        } else {
            return nil
        }
    }
}

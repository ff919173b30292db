// The per-head map of any variant on plain tensors, for `tracker attention` (checking our kernels
// against anyone's reference without writing Swift) and the golden tests. Every input is a named
// tensor, flattened with its shape; every output too:
//   in:  "q": [H][T][d], "k": [Hkv][T][d], "v": [Hkv][T][dv], "dout": [H][T][dv] (optional),
//        "x": [T][C] (optional, the layer input), the variant's own parameters under their
//        checkpoint names (e.g. "fgate.weight": [H][C]) and its per-token gates (e.g. "log_f":
//        [H][T]), plus "options" as in the run config.
//   out: "out", and with dout the gradient "d" + name of every input read: "dq", "dk", "dv",
//        "dx", "dfgate.weight", "dlog_f", ...
// The interface reads q, k, v, dout and x and builds the variant from the options with the shape
// they give (heads H, kv heads Hkv, head size d, channels C, context T); the variant's
// `runTensors` reads the rest (AttentionVariant.swift). Unknown tensor names are an error.
import Basics
import Foundation

/// A tensor flattened row-major, with its shape.
public struct TensorValue: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Double]

    public init(shape: [Int], values: [Double]) { (self.shape, self.values) = (shape, values) }
}

/// One call of the interface: named tensors and the variant's options.
public struct TensorInput: Sendable {
    public var tensors: [String: TensorValue]
    public var options: [String: ConfigValue]

    public init(tensors: [String: TensorValue], options: [String: ConfigValue] = [:]) {
        (self.tensors, self.options) = (tensors, options)
    }

    /// From a JSONSerialization object: every key but "options" is a tensor (a rectangular
    /// nested array of numbers); "options" is an object of option values.
    public init(json: Any) throws {
        guard let root = json as? [String: Any] else { throw TensorCall.error("the top level must be an object") }
        tensors = [:]
        for (key, value) in root where key != "options" {
            guard let tensor = Self.tensor(value) else {
                throw TensorCall.error(
                    "\"\(key)\" must be a non-empty nested array of numbers, every row the same length")
            }
            tensors[key] = tensor
        }
        options = [:]
        guard let raw = root["options"] else { return }
        guard let dict = raw as? [String: Any] else { throw TensorCall.error("\"options\" must be an object") }
        for (key, value) in dict {
            guard let v = ConfigValue(jsonValue: value) else {
                throw TensorCall.error("option \"\(key)\" must be a number, a string, true/false or a list of numbers")
            }
            options[key] = v
        }
    }

    /// A number or a rectangular nested array of numbers, flattened with its shape.
    private static func tensor(_ value: Any) -> TensorValue? {
        if let n = value as? NSNumber {
            switch ConfigValue(jsonValue: n) {
            case .int?, .double?: return TensorValue(shape: [], values: [n.doubleValue])
            default: return nil  // true or false
            }
        }
        guard let list = value as? [Any], !list.isEmpty else { return nil }
        let items = list.map(tensor)
        guard let first = items.first ?? nil, items.allSatisfy({ $0?.shape == first.shape }) else { return nil }
        return TensorValue(shape: [list.count] + first.shape, values: items.flatMap { $0!.values })
    }
}

/// Named output tensors, each flattened with its shape, plus scalar outputs.
public struct TensorOutput: Sendable {
    public var tensors: [(name: String, shape: [Int], values: [Float])] = []
    public var scalars: [(name: String, value: Double)] = []

    /// Appends a tensor unless it is empty (a gradient without dout).
    public mutating func add(_ name: String, _ shape: [Int], _ values: [Float]) {
        if !values.isEmpty { tensors.append((name, shape, values)) }
    }
}

/// The tensors of one interface call, as a variant's `runTensors` reads them (B = 1, positions
/// 0..<T). Every read is recorded: a tensor nobody read is an error naming what was read.
public struct TensorCall {
    public let H: Int, Hkv: Int, T: Int, d: Int, dv: Int
    /// Width of x; 1 without x.
    public let C: Int
    /// q (H, queryRows, d), k (Hkv, T, d), v (Hkv, T, dv), dout (H, T, dv).
    public let q: [Float], k: [Float], v: [Float], dout: [Float]?
    public let queryRows: Int
    private let x: [Float]?
    private let tensors: [String: TensorValue]
    private var read: [String] = ["q", "k", "v", "dout"]

    /// The shape of a layer these tensors fit.
    public var shape: AttentionShape { AttentionShape(heads: H, kvHeads: Hkv, headSize: d, channels: C, context: T) }

    /// Reads q, k, v, dout and x; q has `queryRows(T)` rows per head.
    init(_ input: TensorInput, queryRows: (Int) -> Int) throws {
        let tensors = input.tensors
        guard let kIn = tensors["k"], let vIn = tensors["v"], let qIn = tensors["q"] else {
            throw Self.error("\"q\", \"k\" and \"v\" are required")
        }
        guard qIn.shape.count == 3, kIn.shape.count == 3, vIn.shape.count == 3,
            !(qIn.shape + kIn.shape + vIn.shape).contains(0)
        else { throw Self.error("q, k and v must be non-empty [heads][T][dim]") }
        let (H, Hkv, T, d, dv) = (qIn.shape[0], kIn.shape[0], kIn.shape[1], qIn.shape[2], vIn.shape[2])
        guard H % Hkv == 0 else { throw Self.error("k has \(Hkv) heads, which must divide the \(H) query heads") }
        let rows = queryRows(T)
        var C = 1
        if let x = tensors["x"] {
            guard x.shape.count == 2, x.shape[0] == T, x.shape[1] > 0 else {
                throw Self.error("\"x\" must have shape [T][C] with T = \(T)")
            }
            C = x.shape[1]
        }
        (self.H, self.Hkv, self.T, self.d, self.dv, self.C, self.queryRows) = (H, Hkv, T, d, dv, C, rows)
        self.tensors = tensors
        q = try Self.floats(qIn, "q", [H, rows, d])
        k = try Self.floats(kIn, "k", [Hkv, T, d])
        v = try Self.floats(vIn, "v", [Hkv, T, dv])
        dout = try tensors["dout"].map { try Self.floats($0, "dout", [H, T, dv]) }
        x = try tensors["x"].map { try Self.floats($0, "x", [T, C]) }
    }

    /// The layer input x (T, C), if given (a variant that reads it outputs "dx").
    public mutating func layerInput() -> [Float]? {
        read.append("x")
        return x
    }

    /// The tensor `name` if given, checked against `shape`.
    public mutating func tensor(_ name: String, _ shape: [Int]) throws -> [Float]? {
        read.append(name)
        return try tensors[name].map { try Self.floats($0, name, shape) }
    }

    /// The tensor `name`, which this call needs (`why` says when, for the error).
    public mutating func required(_ name: String, _ shape: [Int], _ why: String) throws -> [Float] {
        guard let t = try tensor(name, shape) else {
            throw Self.error("\(why) needs \"\(name)\": \(Self.text(shape))")
        }
        return t
    }

    /// "out", then with dout "dq", "dk", "dv" in the shapes of q, k, v.
    public func output(_ core: AttentionCoreResult) -> TensorOutput {
        var out = TensorOutput()
        out.add("out", [H, T, dv], core.out)
        guard dout != nil else { return out }
        out.add("dq", [H, queryRows, d], core.dq)
        out.add("dk", [Hkv, T, d], core.dk)
        out.add("dv", [Hkv, T, dv], core.dv)
        return out
    }

    /// Throws for the first tensor (in sorted order) that nobody read.
    func finish() throws {
        if let extra = tensors.keys.sorted().first(where: { !read.contains($0) }) {
            throw Self.error("unknown tensor \"\(extra)\" (this variant reads: \(read.joined(separator: ", ")))")
        }
    }

    static func error(_ reason: String) -> AttentionError { .invalidShape("attention input: " + reason) }

    private static func text(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: "][") + "]" }

    private static func floats(_ t: TensorValue, _ name: String, _ shape: [Int]) throws -> [Float] {
        guard t.shape == shape else { throw error("\"\(name)\" must have shape \(text(shape))") }
        guard t.values.allSatisfy(\.isFinite) else { throw error("\"\(name)\" contains a non-finite number") }
        return t.values.map(Float.init)
    }
}

public enum TensorInterface {
    /// The variants the interface can run (every registered variant).
    public static var variants: [String] { AttentionRegistry.names }

    /// Builds the variant from the options for the tensors' shape and runs its map on them.
    public static func run(variant: String, _ input: TensorInput) throws -> TensorOutput {
        let type = try AttentionRegistry.type(named: variant)
        var call = try TensorCall(input) { type.tensorQueryRows(T: $0) }
        let layer = try AttentionRegistry.make(
            AttentionConfig(variant: variant, options: input.options), shape: call.shape)
        let output = try layer.runTensors(&call)
        try call.finish()
        return output
    }
}

extension ConfigValue {
    /// A value from JSONSerialization: true/false, an integer, a number, a string, or a list of
    /// numbers (the form list options such as RetNet's gammas take).
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

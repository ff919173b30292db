// Attention options, declared once: each variant lists its options (`AttentionVariant.options`),
// each with its name, default, valid values and what it does. The one declaration serves the run
// config (the variant's init reads its options through it), the `tracker attention` tensor
// interface (which builds the variant from the same options), `tracker attention --help` and the
// error messages. Options shared by several variants (tile, probs_cache_mib, rope_base, rope) are
// declared here; a variant's own options in its file.
import Basics
import Foundation

/// A value an option can take, read from a run config's `ConfigValue`.
public protocol OptionValue: Sendable {
    /// What the config must give, for errors: "an integer".
    static var expected: String { get }
    /// Whether a blank string stands for the default (older configs wrote lists as "").
    static var blankMeansDefault: Bool { get }
    /// nil when `option` is not of this type.
    init?(option: ConfigValue)
    /// The value as a config writes it.
    var option: ConfigValue { get }
}

extension OptionValue {
    public static var blankMeansDefault: Bool { false }
}

extension Int: OptionValue {
    public static var expected: String { "an integer" }
    public init?(option: ConfigValue) {
        guard case .int(let v) = option else { return nil }
        self = v
    }
    public var option: ConfigValue { .int(self) }
}

extension Double: OptionValue {
    public static var expected: String { "a number" }
    public init?(option: ConfigValue) {
        switch option {
        case .double(let v): self = v
        case .int(let v): self = Double(v)
        default: return nil
        }
    }
    public var option: ConfigValue { .double(self) }
}

extension Bool: OptionValue {
    public static var expected: String { "true or false" }
    public init?(option: ConfigValue) {
        guard case .bool(let v) = option else { return nil }
        self = v
    }
    public var option: ConfigValue { .bool(self) }
}

extension String: OptionValue {
    public static var expected: String { "a string" }
    public init?(option: ConfigValue) {
        guard case .string(let v) = option else { return nil }
        self = v
    }
    public var option: ConfigValue { .string(self) }
}

/// A list of numbers: a list, one number, or a comma-separated string ("0.9, 0.99", the form older
/// run configs used); a blank string means the default.
extension Array: OptionValue where Element == Double {
    public static var expected: String { "a list of numbers" }
    public static var blankMeansDefault: Bool { true }
    public init?(option: ConfigValue) {
        if let list = option.numbers {
            self = list
            return
        }
        switch option {
        case .double(let v): self = [v]
        case .int(let v): self = [Double(v)]
        case .string(let s):
            let parsed = s.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else { return nil }
            self = parsed.compactMap { $0 }
        default: return nil
        }
    }
    public var option: ConfigValue { .numbers(self) }
}

extension ConfigValue {
    /// A string of blanks (or empty).
    var isBlank: Bool {
        if case .string(let s) = self { return s.allSatisfy(\.isWhitespace) }
        return false
    }
}

/// Which values of an option are valid, said once for `--help` and for the error.
public struct OptionRange<Value: OptionValue>: Sendable {
    /// For help: ">= 1", "> 1", "in (0, 1]"; empty when any value of the type is valid.
    public let text: String
    /// The reason a value is invalid for this shape ("must be positive"), or nil.
    let reason: @Sendable (Value, AttentionShape) -> String?

    public init(_ text: String, reason: @escaping @Sendable (Value, AttentionShape) -> String?) {
        (self.text, self.reason) = (text, reason)
    }

    public static var any: OptionRange { OptionRange("") { _, _ in nil } }
}

extension OptionRange where Value == Int {
    /// n or more.
    public static func atLeast(_ n: Int, _ reason: String) -> OptionRange {
        OptionRange(">= \(n)") { v, _ in v >= n ? nil : reason }
    }
}

extension OptionRange where Value == Int {
    /// From n through max (a bound that keeps sizes computed from the option from overflowing).
    public static func within(_ n: Int, _ max: Int) -> OptionRange {
        OptionRange("in \(n)...\(max)") { v, _ in (n...max).contains(v) ? nil : "must be in \(n)...\(max)" }
    }
}

extension OptionRange where Value == Double {
    /// Greater than x.
    public static func above(_ x: Double) -> OptionRange {
        OptionRange("> \(x.optionText)") { v, _ in v > x ? nil : "must be greater than \(x.optionText)" }
    }
}

extension Double {
    /// 10000 rather than 10000.0.
    var optionText: String { self == rounded() && abs(self) < 1e15 ? String(Int(self)) : "\(self)" }
}

/// What `--help` and the errors say about an option, whatever its type.
public protocol AttentionOptionInfo: Sendable {
    var name: String { get }
    /// One sentence: what the option does.
    var doc: String { get }
    /// The default as help prints it ("64", "-log(context)").
    var defaultText: String { get }
    /// The valid values as help prints them ("an integer >= 1").
    var validText: String { get }
    /// The default for a layer of this shape, as a config writes it.
    func defaultValue(for shape: AttentionShape) -> ConfigValue
}

/// One option of a variant: name, type, default, valid values and documentation.
public struct AttentionOption<Value: OptionValue>: AttentionOptionInfo {
    public let name: String
    public let doc: String
    public let defaultText: String
    public let range: OptionRange<Value>
    let defaultFor: @Sendable (AttentionShape) -> Value

    /// An option whose default depends on the layer (e.g. -log(context)); `defaultText` says how.
    public init(
        _ name: String, default defaultFor: @escaping @Sendable (AttentionShape) -> Value, defaultText: String,
        range: OptionRange<Value> = .any, doc: String
    ) {
        (self.name, self.doc, self.defaultText, self.range, self.defaultFor) =
            (name, doc, defaultText, range, defaultFor)
    }

    /// An option with a fixed default.
    public init(_ name: String, default value: Value, range: OptionRange<Value> = .any, doc: String) {
        let text: String =
            switch value.option {
            case .double(let x): x.optionText
            case let other: "\(other)"
            }
        self.init(name, default: { _ in value }, defaultText: text, range: range, doc: doc)
    }

    public var validText: String { range.text.isEmpty ? Value.expected : "\(Value.expected) \(range.text)" }

    public func defaultValue(for shape: AttentionShape) -> ConfigValue { defaultFor(shape).option }
}

// MARK: - Options shared by several variants

/// The options several variants take, declared once.
public enum CommonOptions {
    /// Option "tile": query rows per BLAS tile (speed only, the math is unchanged).
    public static let tile = AttentionOption(
        "tile", default: 64, range: .atLeast(1, "must be positive"),
        doc: "query rows per BLAS tile (speed only, the results do not change)")

    /// Option "probs_cache_mib": the MiB per layer call that forward may spend keeping the
    /// attention weights of its causal tiles, so that backward reuses them instead of recomputing
    /// q kᵀ, the bias and the row map. Beyond the budget (long contexts), backward recomputes them
    /// tile by tile (flash-style, O(T) memory per row); 0 always does. Read it with
    /// `OptionReader.probsCacheBytes`.
    public static let probsCacheMiB = AttentionOption(
        "probs_cache_mib", default: 64, range: .atLeast(0, "must be 0 (always recompute) or positive"),
        doc: "MiB per layer call forward may keep attention weights in for backward (speed only; 0 recomputes)")

    /// Option "rope_base": θ_m = base^(-2m/hs) of half-split RoPE.
    public static func ropeBase(default value: Double) -> AttentionOption<Double> {
        AttentionOption("rope_base", default: value, range: .above(1), doc: "RoPE base, θ_m = base^(-2m/hs)")
    }

    /// Option "rope": rotate q and k with half-split RoPE.
    public static func rope(default value: Bool) -> AttentionOption<Bool> {
        AttentionOption("rope", default: value, doc: "rotate q and k with half-split RoPE (needs an even head size)")
    }
}

// MARK: - Reading

/// Reads a variant's options with defaults; `finish()` throws on any option given that is neither
/// declared (`OptionReader(_:for:)`) nor read.
public struct OptionReader {
    private let options: [String: ConfigValue]
    private let variant: String
    private let declared: [String]?
    private var known: [String] = []

    public init(_ options: [String: ConfigValue], variant: String) {
        (self.options, self.variant, self.declared) = (options, variant, nil)
    }

    /// A reader for a variant's declared options: `finish()` names them in its error.
    public init<V: AttentionVariant>(_ options: [String: ConfigValue], for variant: V.Type) {
        (self.options, self.variant) = (options, variant.name)
        declared = variant.options.map(\.name)
    }

    /// The option's value: the given one (type and range checked) or its default for this shape.
    public mutating func read<V>(_ option: AttentionOption<V>, shape: AttentionShape) throws -> V {
        assert(declared?.contains(option.name) ?? true, "\(variant) reads undeclared option \(option.name)")
        let value = try given(option.name) ?? option.defaultFor(shape)
        if let reason = option.range.reason(value, shape) {
            throw AttentionError.invalidOption(variant: variant, option: option.name, reason: reason)
        }
        return value
    }

    private mutating func given<V: OptionValue>(_ name: String) throws -> V? {
        known.append(name)
        guard let raw = options[name], !(V.blankMeansDefault && raw.isBlank) else { return nil }
        guard let value = V(option: raw) else {
            throw AttentionError.optionType(variant: variant, option: name, expected: V.expected, got: raw)
        }
        return value
    }

    public mutating func double(_ name: String, default value: Double) throws -> Double {
        try given(name) ?? value
    }

    public mutating func int(_ name: String, default value: Int) throws -> Int { try given(name) ?? value }

    public mutating func bool(_ name: String, default value: Bool) throws -> Bool { try given(name) ?? value }

    public mutating func string(_ name: String, default value: String) throws -> String {
        try given(name) ?? value
    }

    /// A list of numbers (see `Array<Double>: OptionValue`); nil if absent or a blank string.
    public mutating func numbers(_ name: String) throws -> [Double]? { try given(name) }

    /// Option "probs_cache_mib" (`CommonOptions.probsCacheMiB`) in bytes.
    public mutating func probsCacheBytes(shape: AttentionShape) throws -> Int {
        try read(CommonOptions.probsCacheMiB, shape: shape) << 20
    }

    /// Throws for the first option (in sorted order) that is neither declared nor read.
    public func finish() throws {
        let names = declared ?? known.sorted()
        for name in options.keys.sorted() where !names.contains(name) && !known.contains(name) {
            throw AttentionError.unknownOption(variant: variant, option: name, known: names)
        }
    }
}

/// Whether `floats` kept attention weights fit a `probs_cache_mib` budget of `budgetBytes`.
func probsFit(_ floats: Int, budgetBytes: Int) -> Bool {
    floats > 0 && floats * MemoryLayout<Float>.size <= budgetBytes
}

/// Floats of one head's causal tiles of `tile` query rows: tile i0 holds R rows of
/// `columns(i0, R)` columns (default: the keys 0 ..< i0 + R).
func causalTileFloats(T: Int, tile: Int, columns: (_ i0: Int, _ R: Int) -> Int = { $0 + $1 }) -> Int {
    causalTileSum(T: T, tile: tile) { i0, R in R * columns(i0, R) }
}

/// Σ of `floats(i0, R)` over the tiles of `tile` query rows of T queries (tile i0 holds rows
/// i0 ..< i0 + R).
func causalTileSum(T: Int, tile: Int, _ floats: (_ i0: Int, _ R: Int) -> Int) -> Int {
    var total = 0
    var i0 = 0
    while i0 < T {
        let R = min(tile, T - i0)
        total += floats(i0, R)
        i0 += R
    }
    return total
}

/// Where a layer call keeps per-head attention weights for backward (`probs_cache_mib`): (B, NH)
/// heads of `perHead(T)` floats each, from an offset of io.saved, when they fit the budget.
struct KeptWeights {
    let heads: Int
    /// Bytes per layer call forward may spend on them.
    let budgetBytes: Int
    /// Floats one head keeps for T tokens.
    let perHead: (_ T: Int) -> Int

    /// Floats kept by a (B, T) call; 0 when they do not fit the budget (backward then recomputes).
    func count(B: Int, T: Int) -> Int {
        let count = B * heads * perHead(T)
        return probsFit(count, budgetBytes: budgetBytes) ? count : 0
    }

    /// Where this call keeps them, at offset `offset` of io.saved: nil when they do not fit the
    /// budget or the saved buffer. Forward and backward of one call get the same answer.
    func base(_ io: AttentionIO, at offset: Int) -> UnsafeMutablePointer<Float>? {
        let count = count(B: io.B, T: io.T)
        return count > 0 && io.savedHasRoom(at: offset, count: count) ? io.saved + offset : nil
    }

    /// Head (b, h)'s part of `base` (from `base(_:at:)`) for T tokens.
    func head(_ base: UnsafeMutablePointer<Float>?, T: Int, b: Int, h: Int) -> UnsafeMutablePointer<Float>? {
        base.map { $0 + (b * heads + h) * perHead(T) }
    }
}

// Sweep expansion: a base config times a grid over dotted keys, times seeded random samples,
// times a list of seeds, in one deterministic order (grid keys sorted, the last key varying
// fastest; then sample index; then seed). Random samples are drawn once, from SplitMix64 seeded
// by [sweep.random] seed, keys in sorted order, so the same file always gives the same runs and
// sample i is the same point for every grid cell (paired comparisons).
//
//   [sweep]
//   "model.attention.variant" = ["softmax_rope", "stick_breaking"]
//   "train.lr" = [1e-3, 3e-3]
//   seeds = [1, 2, 3]                     # sets seed_key (default "train.seed")
//   seed_key = ["train.seed", "model.init_seed"]   # or a list: each seed sets every key listed
//   [sweep.random]
//   count = 8
//   seed = 0
//   "train.lr" = { log_uniform = [1e-4, 1e-2] }   # also uniform, int_uniform, choice = [...]
//
// [sweep] scheduler = "asha" (with metric, mode, grace_steps, reduction_factor) stops losing runs
// early: see Asha.swift.
import Basics
import Foundation
import Store

public struct Sweep: Sendable, Equatable {
    /// How one key of [sweep.random] is drawn.
    public enum Distribution: Sendable, Equatable {
        case uniform(Double, Double)
        case logUniform(Double, Double)
        case intUniform(Int, Int)
        case choice([ConfigValue])

        func sample(_ rng: inout SplitMix64) -> ConfigValue {
            switch self {
            case .uniform(let lo, let hi): return .double(lo + (hi - lo) * unit(&rng))
            case .logUniform(let lo, let hi): return .double(exp(log(lo) + (log(hi) - log(lo)) * unit(&rng)))
            case .intUniform(let lo, let hi): return .int(lo + Int(rng.next() % UInt64(hi - lo + 1)))
            case .choice(let values): return values[Int(rng.next() % UInt64(values.count))]
            }
        }

        /// A uniform double in [0, 1) from the top 53 bits.
        private func unit(_ rng: inout SplitMix64) -> Double { Double(rng.next() >> 11) * 0x1p-53 }
    }

    public var grid: [(key: String, values: [ConfigValue])] = []
    public var seeds: [Int] = []
    /// The keys each of `seeds` sets (`seed_key`: one dotted key or a list of them).
    public var seedKeys = [ConfigKey.seed]
    public var randomCount = 0
    public var randomSeed: UInt64 = 0
    public var random: [(key: String, distribution: Distribution)] = []
    /// Early stopping of the sweep's runs ([sweep] scheduler = "asha"), nil without.
    public var asha: AshaConfig?

    /// The most runs a sweep may expand to. Expansion holds every run's config in memory (about
    /// 12 kB each, with its resolved form and typed parameters: 10^4 runs took 124 MB and 4 s), so
    /// a grid of 7 axes of 10 values ran out of memory instead of failing; past this a sweep is
    /// refused before it is expanded.
    public static let maxRuns = 100_000

    public init() {}

    public static func == (a: Sweep, b: Sweep) -> Bool {
        a.grid.map(\.key) == b.grid.map(\.key) && a.grid.map(\.values) == b.grid.map(\.values) && a.seeds == b.seeds
            && a.seedKeys == b.seedKeys && a.randomCount == b.randomCount && a.randomSeed == b.randomSeed
            && a.random.map(\.key) == b.random.map(\.key)
            && a.random.map(\.distribution) == b.random.map(\.distribution) && a.asha == b.asha
    }

    /// Reads a [sweep] table.
    public init(table: [String: ConfigValue]) throws {
        asha = try AshaConfig(sweepTable: table)
        for (key, value) in table.sorted(by: { $0.key < $1.key }) where !AshaConfig.keys.contains(key) {
            switch key {
            case "seeds":
                guard case .array(let a) = value, !a.isEmpty else {
                    throw SchedulerError.badSweep(key: key, reason: "use a non-empty list of integers, e.g. [1, 2, 3]")
                }
                seeds = try a.map {
                    guard case .int(let s) = $0 else {
                        throw SchedulerError.badSweep(key: key, reason: "seeds must be integers")
                    }
                    return s
                }
            case "seed_key":
                seedKeys = try Self.seedKeys(value)
            case "random":
                guard let t = value.table else {
                    throw SchedulerError.badSweep(key: key, reason: "use a [sweep.random] table")
                }
                try readRandom(t)
            default:
                guard case .array(let values) = value, !values.isEmpty else {
                    throw SchedulerError.badSweep(
                        key: key, reason: "a grid axis is a non-empty list, e.g. \"train.lr\" = [1e-3, 3e-3]")
                }
                grid.append((key, values))
            }
        }
        if let dup = Dictionary(grouping: sweptKeys, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw SchedulerError.badSweep(
                key: dup, reason: "swept twice (in the grid, [sweep.random] or seed_key); sweep it once")
        }
        // A value listed twice makes two runs with the same config: the second is then "already in
        // the experiment" when enqueued, which is not what the file says.
        for (key, values) in grid.map({ ($0.key, $0.values) }) + [("seeds", seeds.map { ConfigValue.int($0) })] {
            var seen = Set<ConfigValue>()
            for v in values.map(Self.sameRun) where !seen.insert(v).inserted {
                throw SchedulerError.sweepValueTwice(key: key, value: (try? v.canonicalJSON()) ?? v.shortDescription)
            }
        }
        var axes: [(String, Int)] = grid.map { ($0.key, $0.values.count) }
        if randomCount > 0 { axes.append(("random.count", randomCount)) }
        if !seeds.isEmpty { axes.append(("seeds", seeds.count)) }
        var runs = 1
        for (_, n) in axes {
            let (product, overflow) = runs.multipliedReportingOverflow(by: n)
            runs = overflow ? Int.max : product
        }
        if runs > Self.maxRuns {
            throw SchedulerError.sweepTooLarge(
                runs: runs == Int.max ? "more than \(Format.grouped(Int64.max))" : Format.grouped(Int64(runs)),
                axes: axes.map { "\($0.0) × \($0.1)" }, limit: Format.grouped(Int64(Self.maxRuns)))
        }
    }

    /// `value` as the run it makes: a whole number written as a real (1.0) sets the same config as
    /// the integer (1), so the two are one value of an axis.
    private static func sameRun(_ value: ConfigValue) -> ConfigValue {
        if case .double(let d) = value, d == d.rounded(), abs(d) < 1e15 { return .int(Int(d)) }
        return value
    }

    /// Every key a point sets: the grid's, [sweep.random]'s, and the seed keys when there are seeds.
    public var sweptKeys: [String] { grid.map(\.key) + random.map(\.key) + (seeds.isEmpty ? [] : seedKeys) }

    /// `seed_key`: a dotted key or a non-empty list of them, e.g. ["train.seed", "model.init_seed"].
    private static func seedKeys(_ value: ConfigValue) throws -> [String] {
        let hint = "use a dotted key or a list of them, e.g. [\"train.seed\", \"model.init_seed\"]"
        let items: [ConfigValue]
        switch value {
        case .string: items = [value]
        case .array(let a) where !a.isEmpty: items = a
        default: throw SchedulerError.badSweep(key: "seed_key", reason: hint)
        }
        return try items.map { item in
            guard case .string(let k) = item else {
                throw SchedulerError.badSweep(key: "seed_key", reason: "a seed key is text; \(hint)")
            }
            let parts = k.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count > 1, !parts.contains(where: \.isEmpty) else {
                throw SchedulerError.badSweep(
                    key: "seed_key", reason: "\(String(reflecting: k)) is not a dotted key (section.key); \(hint)")
            }
            return k
        }
    }

    private mutating func readRandom(_ t: [String: ConfigValue]) throws {
        for (key, value) in t.sorted(by: { $0.key < $1.key }) {
            switch (key, value) {
            case ("count", .int(let n)) where n >= 1: randomCount = Int(n)
            case ("seed", .int(let s)): randomSeed = UInt64(bitPattern: Int64(s))
            case ("count", _), ("seed", _):
                throw SchedulerError.badSweep(key: "random.\(key)", reason: "use an integer (count at least 1)")
            default:
                random.append((key, try Self.distribution(key, value)))
            }
        }
        if randomCount == 0 {
            throw SchedulerError.badSweep(key: "random.count", reason: "say how many samples to draw, e.g. count = 8")
        }
        if random.isEmpty { throw SchedulerError.badSweep(key: "random", reason: "name at least one key to sample") }
    }

    private static func distribution(_ key: String, _ value: ConfigValue) throws -> Distribution {
        let hint =
            "use { uniform = [lo, hi] }, { log_uniform = [lo, hi] }, { int_uniform = [lo, hi] } or { choice = [...] }"
        guard let t = value.table, t.count == 1, let (kind, arg) = t.first else {
            throw SchedulerError.badSweep(key: "random.\(key)", reason: hint)
        }
        func bounds() throws -> (Double, Double) {
            guard case .array(let a) = arg, a.count == 2, let lo = a[0].number, let hi = a[1].number, lo < hi else {
                throw SchedulerError.badSweep(key: "random.\(key)", reason: "\(kind) needs [lo, hi] with lo < hi")
            }
            return (lo, hi)
        }
        switch kind {
        case "uniform":
            let (lo, hi) = try bounds()
            return .uniform(lo, hi)
        case "log_uniform":
            let (lo, hi) = try bounds()
            guard lo > 0 else {
                throw SchedulerError.badSweep(key: "random.\(key)", reason: "log_uniform needs lo > 0")
            }
            return .logUniform(lo, hi)
        case "int_uniform":
            guard case .array(let a) = arg, a.count == 2, case .int(let lo) = a[0], case .int(let hi) = a[1], lo <= hi
            else {
                throw SchedulerError.badSweep(
                    key: "random.\(key)", reason: "int_uniform needs integer [lo, hi] with lo <= hi")
            }
            return .intUniform(lo, hi)
        case "choice":
            guard case .array(let a) = arg, !a.isEmpty else {
                throw SchedulerError.badSweep(key: "random.\(key)", reason: "choice needs a non-empty list")
            }
            return .choice(a)
        default:
            throw SchedulerError.badSweep(key: "random.\(key)", reason: "unknown distribution '\(kind)'; \(hint)")
        }
    }

    /// One point of the sweep: the values it sets and the parts of its readable name.
    public struct Point: Sendable, Equatable {
        public var overrides: [(key: String, value: ConfigValue)]
        public var nameParts: [String]

        public static func == (a: Point, b: Point) -> Bool {
            a.overrides.map(\.key) == b.overrides.map(\.key) && a.overrides.map(\.value) == b.overrides.map(\.value)
                && a.nameParts == b.nameParts
        }
    }

    /// Every point, in the deterministic order described at the top of the file.
    public func points() -> [Point] {
        var cells: [Point] = [Point(overrides: [], nameParts: [])]
        for axis in grid {
            let labels = Self.labels(axis.key, axis.values)
            cells = cells.flatMap { cell in
                zip(axis.values, labels).map { v, label in
                    Point(overrides: cell.overrides + [(axis.key, v)], nameParts: cell.nameParts + [label])
                }
            }
        }
        if randomCount > 0 {
            var rng = SplitMix64(seed: randomSeed)
            let samples = (0..<randomCount).map { _ in random.map { ($0.key, $0.distribution.sample(&rng)) } }
            cells = cells.flatMap { cell in
                samples.enumerated().map { i, s in
                    Point(
                        overrides: cell.overrides + s,
                        nameParts: cell.nameParts + ["r\(i)"] + s.map { Self.label($0.0, $0.1) })
                }
            }
        }
        if !seeds.isEmpty {
            cells = cells.flatMap { cell in
                seeds.map { s in
                    Point(
                        overrides: cell.overrides + seedKeys.map { ($0, .int(s)) },
                        nameParts: cell.nameParts + ["seed\(s)"])
                }
            }
        }
        return cells
    }

    /// The name part of each value of one grid axis. Scalars: `label`. Tables (a whole `model`
    /// per point): the leaves that differ among the axis' tables, text values first, e.g.
    /// 'staircase-chunk4-steps2' and 'window8'; a table with none of them is KEY + its 1-based index.
    static func labels(_ key: String, _ values: [ConfigValue]) -> [String] {
        guard values.contains(where: { $0.table != nil }) else { return values.map { label(key, $0) } }
        let leaves = values.map { v -> [String: ConfigValue] in
            var out: [String: ConfigValue] = [:]
            func walk(_ prefix: String, _ v: ConfigValue) {
                if let t = v.table {
                    for (k, x) in t { walk(prefix.isEmpty ? k : prefix + "." + k, x) }
                } else {
                    out[prefix] = v
                }
            }
            walk("", v)
            return out
        }
        let keys = Set(leaves.flatMap(\.keys)).filter { k in Set(leaves.map { $0[k] }).count > 1 }
        let last = key.split(separator: ".").last.map(String.init) ?? key
        return leaves.enumerated().map { i, leaf in
            let present = keys.filter { leaf[$0] != nil }.sorted { a, b in
                let (ta, tb) = (leaf[a]!.isText, leaf[b]!.isText)
                return ta != tb ? ta : a < b
            }
            let parts = present.map { label($0, leaf[$0]!) }
            return parts.isEmpty ? "\(last)\(i + 1)" : parts.joined(separator: "-")
        }
    }

    /// 'stick_breaking' for text, 'lr0.003' for numbers (last part of the key + value).
    static func label(_ key: String, _ value: ConfigValue) -> String {
        if case .string(let s) = value { return s }
        return (key.split(separator: ".").last.map(String.init) ?? key) + value.shortDescription
    }
}

extension ConfigValue {
    var isText: Bool { if case .string = self { true } else { false } }
}

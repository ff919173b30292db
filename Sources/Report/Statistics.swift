// The arithmetic of comparisons: which parameters differ among runs, grouping runs that differ
// only by seed (or by chosen keys), mean and sample standard deviation, and mean curves.
import Basics
import Store

public enum Statistics {
    /// Sample mean and standard deviation (n - 1); the deviation is nil for a single value.
    /// A NaN among the values (a diverged run) makes both NaN: it is never silently dropped.
    public static func meanStd(_ values: [Double]) -> (mean: Double, std: Double?)? {
        guard !values.isEmpty else { return nil }
        let mean = values.reduce(0, +) / Double(values.count)
        guard values.count > 1 else { return (mean, nil) }
        let sq = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return (mean, (sq / Double(values.count - 1)).squareRoot())
    }

    /// Whether two means differ by more than the sum of their standard deviations (the rule every
    /// report marks differences by); nil when either has no deviation (one run) or a value is not
    /// finite, so nothing is claimed.
    public static func apart(_ a: (mean: Double, std: Double?), _ b: (mean: Double, std: Double?)) -> Bool? {
        guard let sa = a.std, let sb = b.std, [a.mean, b.mean, sa, sb].allSatisfy(\.isFinite) else { return nil }
        return abs(a.mean - b.mean) > sa + sb
    }

    /// Marks the mean ± std cells of `column` in `rows`: the best mean (highest or lowest) gets
    /// `.best`, every mean `apart` from it `.apart`. Only cells with a deviation take part, and
    /// only when there are at least two; returns whether anything was marked.
    @discardableResult
    public static func markDifferences(_ rows: inout [[Cell]], column: Int, higherIsBetter: Bool) -> Bool {
        var candidates: [(row: Int, mean: Double, std: Double)] = []
        for (r, row) in rows.enumerated() {
            if case .meanStd(let m, let s?, _) = row[column], m.isFinite, s.isFinite { candidates.append((r, m, s)) }
        }
        guard candidates.count >= 2 else { return false }
        let best = candidates.max { higherIsBetter ? $0.mean < $1.mean : $0.mean > $1.mean }!
        for c in candidates {
            if c.row == best.row {
                rows[c.row][column] = .marked(rows[c.row][column], .best)
            } else if apart((c.mean, c.std), (best.mean, best.std)) == true {
                rows[c.row][column] = .marked(rows[c.row][column], .apart)
            }
        }
        return true
    }

    /// Parameter keys whose value is not the same in every run, sorted by key. A key some runs
    /// lack differs too, except an attention or schedule option: which options a run has follows
    /// from its variant (shown already), so an option differs only where two runs that have it
    /// hold different values (comparing variants does not list every variant's defaults).
    public static func differingParams(_ runs: [RunSummary]) -> [String] {
        if let columns = sharedColumns(runs) { return differingParams(runs, columns.params) }
        var first: [String: (value: ParamValue, count: Int)] = [:]
        var differing = Set<String>()
        for r in runs {
            for (key, value) in r.params {
                if let seen = first[key] {
                    if seen.value != value { differing.insert(key) }
                    first[key]!.count += 1
                } else {
                    first[key] = (value, 1)
                }
            }
        }
        for (key, seen) in first where seen.count < runs.count && !isOption(key) { differing.insert(key) }
        return differing.sorted()
    }

    /// `keys` without the seed keys (`ConfigKey.seedKeys`): what groups runs by default, so that a
    /// group is one config over its seeds (data order and initialisation).
    public static func withoutSeeds(_ keys: [String]) -> [String] { keys.filter { !ConfigKey.seedKeys.contains($0) } }

    /// `differingParams` over the columns that every run reads its parameters from: the same
    /// rule, by key id instead of by name.
    private static func differingParams(_ runs: [RunSummary], _ params: SummaryEntries<ParamValue>) -> [String] {
        var first = [ParamValue?](repeating: nil, count: params.names.count)
        var count = [Int](repeating: 0, count: params.names.count)
        var differs = [Bool](repeating: false, count: params.names.count)
        for r in runs {
            for i in params.range(r.row) {
                let key = Int(params.keys[i])
                if let seen = first[key] {
                    if seen != params.values[i] { differs[key] = true }
                } else {
                    first[key] = params.values[i]
                }
                count[key] += 1
            }
        }
        return params.names.indices.filter {
            count[$0] > 0 && (differs[$0] || (count[$0] < runs.count && !isOption(params.names[$0])))
        }.map { params.names[$0] }.sorted()
    }

    /// The columns every run of `runs` reads its parameters and metrics from, if they share one.
    static func sharedColumns(_ runs: [RunSummary]) -> RunColumns? {
        guard let columns = runs.first?.sharedColumns else { return nil }
        return runs.allSatisfy { $0.sharedColumns === columns } ? columns : nil
    }

    /// Every metric key that some run of `runs` has, in no particular order.
    static func metricKeys(_ runs: [RunSummary]) -> [String] {
        guard let columns = sharedColumns(runs) else { return Array(Set(runs.flatMap(\.metrics.keys))) }
        var seen = [Bool](repeating: false, count: columns.metrics.names.count)
        for r in runs { for i in columns.metrics.range(r.row) { seen[Int(columns.metrics.keys[i])] = true } }
        return columns.metrics.names.indices.filter { seen[$0] }.map { columns.metrics.names[$0] }
    }

    /// An attention or schedule option (not the variant or schedule name itself).
    static func isOption(_ key: String) -> Bool {
        key != ConfigKey.attentionVariant && key != "model.schedule.name"
            && ConfigKey.optionPrefixes.contains { key.hasPrefix($0) }
    }

    /// Runs grouped by their values of `keys`, groups in order of their first run.
    public static func group(_ runs: [RunSummary], by keys: [String]) -> [RunGroup] {
        var groups: [RunGroup] = []
        var index: [[ParamValue?]: Int] = [:]  // one hash of a run's values, not three
        let resolved = keys.map { SummaryKey($0, in: runs) }
        for r in runs {
            let k = resolved.map { r.param($0) }
            if let i = index[k] {
                groups[i].runs.append(r)
            } else {
                index[k] = groups.count
                groups.append(RunGroup(keys: keys, values: k, runs: [r]))
            }
        }
        return groups
    }

    /// The mean of several histories at each step that at least one of them logged.
    public static func meanCurve(_ curves: [[HistoryPoint]]) -> [HistoryPoint] {
        if curves.count == 1 { return curves[0] }
        var sums: [Int64: (Double, Int)] = [:]
        for curve in curves {
            for p in curve {
                let s = sums[p.step] ?? (0, 0)
                sums[p.step] = (s.0 + p.value, s.1 + 1)
            }
        }
        return sums.keys.sorted().map { HistoryPoint(step: $0, value: sums[$0]!.0 / Double(sums[$0]!.1)) }
    }
}

extension Statistics {
    /// Mean ± sample std at each step that at least two of the curves logged with finite values;
    /// empty for one curve.
    public static func spreadBand(_ curves: [[HistoryPoint]]) -> [ReportChart.Band] {
        if curves.count < 2 { return [] }
        var values: [Int64: [Double]] = [:]
        for curve in curves { for p in curve where p.value.isFinite { values[p.step, default: []].append(p.value) } }
        return values.keys.sorted().compactMap { step in
            guard let s = meanStd(values[step]!), let std = s.std else { return nil }
            return ReportChart.Band(step: step, low: s.mean - std, high: s.mean + std)
        }
    }
}

/// Runs that share the values of the grouping keys (typically: the same config but the seed).
public struct RunGroup {
    public var keys: [String]
    public var values: [ParamValue?]
    public var runs: [RunSummary]

    /// "variant=stick_breaking lr=0.003": each key by its last dotted component.
    public var label: String {
        if keys.isEmpty { return "all runs" }
        return zip(keys, values).map { key, value in
            let short = key.split(separator: ".").last.map(String.init) ?? key
            return "\(short)=\(value?.description ?? "-")"
        }.joined(separator: " ")
    }

    /// Mean ± std over the group's runs of a per-run number; missing values are left out.
    public func aggregate(_ style: NumberStyle = .fixed(4), _ value: (RunSummary) -> Double?) -> Cell {
        guard let s = Statistics.meanStd(runs.compactMap(value)) else { return .missing }
        return .meanStd(s.mean, s.std, style)
    }
}

/// The keys a comparison or the run table reads from every run, looked up once in the runs' columns.
struct CompareKeys {
    let trainLoss, valLoss, valBPB, tokensPerSecond, batch, context, gradAccum, variant: SummaryKey

    init(_ runs: [RunSummary]) {
        trainLoss = SummaryKey(MetricKey.trainLoss, in: runs)
        valLoss = SummaryKey(MetricKey.valLoss, in: runs)
        valBPB = SummaryKey(MetricKey.valBPB, in: runs)
        tokensPerSecond = SummaryKey(MetricKey.tokensPerSecond, in: runs)
        batch = SummaryKey(ConfigKey.batch, in: runs)
        context = SummaryKey(ConfigKey.context, in: runs)
        gradAccum = SummaryKey(ConfigKey.gradAccum, in: runs)
        variant = SummaryKey(ConfigKey.attentionVariant, in: runs)
    }
}

extension RunSummary {
    /// Steps trained: the last step that logged train/loss (every run logs its last step).
    func steps(_ k: CompareKeys) -> Double? { metric(k.trainLoss).map { Double($0.lastStep) } }

    /// Training tokens: steps x batch x grad_accum x context (nil without those parameters).
    func tokens(_ k: CompareKeys) -> Double? {
        guard let steps = steps(k), let batch = param(k.batch)?.number, let context = param(k.context)?.number
        else { return nil }
        return steps * batch * (param(k.gradAccum)?.number ?? 1) * context
    }
}

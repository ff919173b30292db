// `tracker report --results CLAIMS.toml`: a results section written from the store. The claims
// file names the experiments to report and states each claim of the papers and of the spec as
// metric comparisons with thresholds; each claim gets PASS, FAIL or NOT RUN with the measured
// means ± std over seeds. Each experiment gets its groups (mean ± std, differences marked), its
// metric families by position bucket and every run's steps, tokens, tokens/s and wall time.
import Basics
import Store

/// One comparison of a claim: mean(a's metric) [- mean(b's bMetric)] op value, where a and b are
/// `--where` expressions selecting the succeeded runs of the claim's experiment (a group's seeds).
public struct ClaimCheck: Sendable, Equatable {
    public enum Op: String, Sendable, CaseIterable {
        case atLeast = ">="
        case atMost = "<="
        case above = ">"
        case below = "<"

        func holds(_ x: Double, _ y: Double) -> Bool {
            switch self {
            case .atLeast: x >= y
            case .atMost: x <= y
            case .above: x > y
            case .below: x < y
            }
        }
    }

    public var a: String
    public var metric: String
    /// A second selection whose mean is subtracted; nil with `bMetric` set means a's runs again.
    public var b: String?
    public var bMetric: String?
    public var op: Op
    public var value: Double
    /// Short names of the selections in the output (default: the quoted value of a one-value
    /// expression such as `model.attention.variant = "alibi"`, else the expression).
    public var aName: String
    public var bName: String?

    public init(
        a: String, metric: String, b: String? = nil, bMetric: String? = nil, op: Op, value: Double,
        aName: String? = nil, bName: String? = nil
    ) {
        self.a = a
        self.metric = metric
        self.b = b
        self.bMetric = bMetric
        self.op = op
        self.value = value
        self.aName = aName ?? Self.shortName(a)
        self.bName = bName ?? b.map(Self.shortName)
    }

    /// The quoted value of a one-value expression, else the expression.
    static func shortName(_ expression: String) -> String {
        let quoted = expression.split(separator: "\"", omittingEmptySubsequences: false)
        return quoted.count == 3 ? String(quoted[1]) : expression
    }

    var isDifference: Bool { b != nil || bMetric != nil }
}

public struct Claim: Sendable, Equatable {
    public var id: String
    /// Where the claim comes from ("spec §2.3", "stick-breaking paper").
    public var source: String
    public var statement: String
    public var experiment: String
    /// What was tried, in words (the numbers come from the store).
    public var tried: String
    public var checks: [ClaimCheck]
}

/// A claims file: the experiments a results section reports, and the claims it judges.
public struct ClaimSet: Sendable, Equatable {
    public var title: String
    public var experiments: [String]
    /// Metric families shown per experiment (e.g. "task/acc"); empty shows every family.
    public var families: [String]
    public var claims: [Claim]

    /// Reads the parsed TOML of a claims file; errors name the claim and key to fix.
    public init(tree: ConfigValue) throws {
        let root = try Self.table(tree, "the claims file")
        title = try Self.string(root, "title", in: "the claims file", default: "Results")
        experiments = try Self.strings(root, "experiments", in: "the claims file")
        families = root["families"] == nil ? [] : try Self.strings(root, "families", in: "the claims file")
        guard case .array(let items)? = root["claim"], !items.isEmpty else {
            throw ReportError.badClaims("the claims file needs [[claim]] tables")
        }
        claims = try items.enumerated().map { try Self.claim($1, index: $0) }
        var seen = Set<String>()
        for c in claims where !seen.insert(c.id).inserted {
            throw ReportError.badClaims("claim id '\(c.id)' is used twice; give each claim its own id")
        }
    }

    /// The part of the set about one of its experiments: that experiment's tables and the claims
    /// judged on it (`tracker report --results FILE --experiment NAME`).
    public func only(experiment: String) throws -> ClaimSet {
        guard experiments.contains(experiment) else {
            throw ReportError.badClaims(
                "the claims file does not list experiment '\(experiment)'; it lists "
                    + experiments.joined(separator: ", "))
        }
        var part = self
        part.title = "\(title): \(experiment)"
        part.experiments = [experiment]
        part.claims = claims.filter { $0.experiment == experiment }
        return part
    }

    static func claim(_ value: ConfigValue, index: Int) throws -> Claim {
        let t = try table(value, "claim \(index + 1)")
        let id = try string(t, "id", in: "claim \(index + 1)")
        let at = "claim '\(id)'"
        guard case .array(let items)? = t["checks"], !items.isEmpty else {
            throw ReportError.badClaims("\(at) needs checks = [{ a = ..., metric = ..., op = ..., value = ... }]")
        }
        let checks = try items.enumerated().map { i, item in
            let c = try table(item, "\(at), check \(i + 1)")
            let where_ = "\(at), check \(i + 1)"
            let opText = try string(c, "op", in: where_)
            guard let op = ClaimCheck.Op(rawValue: opText) else {
                throw ReportError.badClaims("\(where_): op must be one of >= <= > <, not '\(opText)'")
            }
            guard let value = c["value"]?.number else { throw ReportError.badClaims("\(where_) needs a number value") }
            func optional(_ key: String) throws -> String? { try c[key].map { _ in try string(c, key, in: where_) } }
            let check = ClaimCheck(
                a: try string(c, "a", in: where_), metric: try string(c, "metric", in: where_), b: try optional("b"),
                bMetric: try optional("b_metric"), op: op, value: value, aName: try optional("a_name"),
                bName: try optional("b_name"))
            for expr in [check.a] + (check.b.map { [$0] } ?? []) { _ = try Filter.parse(expr) }
            return check
        }
        return Claim(
            id: id, source: try string(t, "source", in: at), statement: try string(t, "claim", in: at),
            experiment: try string(t, "experiment", in: at), tried: try string(t, "tried", in: at, default: ""),
            checks: checks)
    }

    static func table(_ v: ConfigValue, _ what: String) throws -> [String: ConfigValue] {
        guard let t = v.table else { throw ReportError.badClaims("\(what) must be a table") }
        return t
    }

    static func string(_ t: [String: ConfigValue], _ key: String, in what: String, default d: String? = nil) throws
        -> String
    {
        switch t[key] {
        case .string(let s)?: return s
        case nil where d != nil: return d!
        default: throw ReportError.badClaims("\(what) needs \(key) = \"...\" (a string)")
        }
    }

    static func strings(_ t: [String: ConfigValue], _ key: String, in what: String) throws -> [String] {
        guard case .array(let a)? = t[key] else {
            throw ReportError.badClaims("\(what) needs \(key) = [\"...\"] (a list of strings)")
        }
        return try a.map {
            guard case .string(let s) = $0 else { throw ReportError.badClaims("\(what): \(key) lists strings only") }
            return s
        }
    }
}

/// A claim's outcome.
public enum Verdict: String, Sendable, Equatable {
    case pass = "PASS"
    case fail = "FAIL"
    case notRun = "NOT RUN"
}

extension Reports {
    /// The results document: verdicts, what was tried, then each experiment's tables.
    /// `workers`: how many workers ran the suite side by side, for the wall-clock estimate under
    /// the Cost table (experiments/compare.sh starts two unless WORKERS says otherwise).
    public static func results(_ reader: RunReader, _ claims: ClaimSet, workers: Int = 2) throws -> ReportDocument {
        var sections: [ReportSection] = []
        var rows: [[Cell]] = []
        for claim in claims.claims {
            let (verdict, measured) = try judge(reader, claim)
            rows.append([
                .text(claim.id), .text(claim.source), .text(claim.statement), .text(verdict.rawValue), .text(measured),
            ])
        }
        sections.append(
            .table(
                ReportTable(
                    title: "Verdicts", columns: ["claim", "source", "statement", "verdict", "measured (mean ± std)"],
                    rows: rows)))
        sections.append(
            .note(
                "A check compares the mean over a group's succeeded runs (its seeds) with the threshold; NOT RUN: "
                    + "the store holds no succeeded run with that metric."))
        for claim in claims.claims where !claim.tried.isEmpty {
            sections.append(.note("\(claim.id), what was tried: \(claim.tried)"))
        }
        let experiments = try claims.experiments.map { name -> (name: String, runs: [RunSummary]) in
            do {
                return (name, try summariesWithWall(reader, RunSelection(experiment: name)))
            } catch StoreError.experimentNotFound {
                return (name, [])
            }
        }
        let (cost, workerSeconds) = costTable(experiments)
        sections.append(.table(cost))
        sections.append(.note(costLegend(workers: workers)))
        if let workerSeconds, workerSeconds > 0 {
            sections.append(.note(costTotal(workerSeconds, workers: workers)))
        }
        var marked = false
        for (experiment, runs) in experiments {
            marked = experimentSections(experiment, runs, families: claims.families, into: &sections) || marked
        }
        if marked { sections.append(.note(markLegend)) }
        return ReportDocument(title: claims.title, sections: sections)
    }

    static func costLegend(workers: Int) -> String {
        let share = workers == 1 ? "all" : workers == 2 ? "half" : "1/\(workers)"
        let wall =
            "so with \(workersText(workers)) the suite takes about \(share) of them in wall-clock time"
        return "Cost: worker-hours are the sum of the runs' wall times (the time each ran, interrupted "
            + "attempts summed, evaluations included), " + wall + "; tokens/s is the median over the runs "
            + "of their last logged training speed, tokens per wall second the experiment's tokens over "
            + "its worker-seconds."
    }

    static func workersText(_ n: Int) -> String {
        let words = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
        return (n >= 1 && n <= 9 ? words[n - 1] : String(n)) + (n == 1 ? " worker" : " workers")
    }

    /// The whole suite's cost in wall-clock terms, from the sum of its runs' wall times.
    static func costTotal(_ workerSeconds: Double, workers: Int) -> String {
        let hours = workerSeconds / 3600
        return "In all: " + String(format: "%.2f", hours) + " worker-hours, so about "
            + String(format: "%.1f", hours / Double(max(workers, 1))) + " hours of wall-clock time with "
            + workersText(workers) + " (the runs ran one at a time per worker; the ingests and the time "
            + "between runs are not counted)."
    }

    /// What each experiment cost, from its runs' records: runs, steps and tokens a run, the sum and
    /// mean of their wall times, their speed; and a total row. Also returns the total wall time in
    /// seconds (nil when no run has one), the sum the total row shows in hours.
    static func costTable(_ experiments: [(name: String, runs: [RunSummary])]) -> (ReportTable, Double?) {
        // Parameters come from users' configs: a non-finite value (TOML allows inf and nan) is left out.
        func range(_ values: [Double]) -> Cell {
            let finite = values.filter(\.isFinite)
            guard let lo = finite.min(), let hi = finite.max() else { return .missing }
            return lo == hi ? .number(lo, .count) : .text(formatCount(lo) + "-" + formatCount(hi))
        }
        func median(_ sorted: [Double]) -> Double {
            sorted.count % 2 == 1
                ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }
        var rows: [[Cell]] = []
        var (allRuns, allSucceeded, allSeconds, timedTokens, timedSeconds) = (0, 0, 0.0, 0.0, 0.0)
        var anyWall = false
        for (name, runs) in experiments {
            let keys = CompareKeys(runs)
            let walls = runs.compactMap(\.runningTime)
            let seconds = walls.reduce(0, +)
            // A run's steps and tokens are those of the runs that finished (a running or queued
            // run's are only how far it got); the time and the speed count every run.
            let finished = runs.filter { $0.state == "succeeded" }
            let tokens = finished.compactMap { $0.tokens(keys) }.filter(\.isFinite)
            // tokens over worker-seconds, of the runs that have both
            let timed = runs.compactMap { r in
                r.runningTime.flatMap { t in r.tokens(keys).flatMap { $0.isFinite ? ($0, t) : nil } }
            }
            let (tokensTimed, secondsTimed) = timed.reduce((0.0, 0.0)) { ($0.0 + $1.0, $0.1 + $1.1) }
            let speeds = runs.compactMap { $0.metric(keys.tokensPerSecond)?.last }.filter(\.isFinite).sorted()
            rows.append([
                .text(name), .text("\(runs.count) (\(finished.count) succeeded)"),
                range(finished.compactMap { $0.steps(keys) }), range(tokens),
                walls.isEmpty ? .missing : .number(seconds / 3600, .fixed(2)),
                walls.isEmpty ? .missing : .number(seconds / Double(walls.count), .duration),
                speeds.isEmpty ? .missing : .number(median(speeds), .count),
                secondsTimed > 0 ? .number(tokensTimed / secondsTimed, .count) : .missing,
            ])
            (allRuns, allSucceeded, allSeconds) = (
                allRuns + runs.count, allSucceeded + finished.count, allSeconds + seconds
            )
            (timedTokens, timedSeconds) = (timedTokens + tokensTimed, timedSeconds + secondsTimed)
            anyWall = anyWall || !walls.isEmpty
        }
        rows.append([
            .text("total"), .text("\(allRuns) (\(allSucceeded) succeeded)"), .missing,
            .missing, anyWall ? .number(allSeconds / 3600, .fixed(2)) : .missing, .missing,
            .missing, timedSeconds > 0 ? .number(timedTokens / timedSeconds, .count) : .missing,
        ])
        let table = ReportTable(
            title: "Cost",
            columns: [
                "experiment", "runs", "steps a run", "tokens a run", "worker-hours", "mean wall a run", "tokens/s",
                "tokens per wall second",
            ],
            rows: rows)
        return (table, anyWall ? allSeconds : nil)
    }

    /// An experiment's groups, families (marked) and runs; returns whether anything was marked.
    static func experimentSections(
        _ experiment: String, _ runs: [RunSummary], families: [String], into sections: inout [ReportSection]
    ) -> Bool {
        if runs.isEmpty {
            sections.append(.note("\(experiment): no runs in this store (not run)."))
            return false
        }
        let keys = Statistics.withoutSeeds(Statistics.differingParams(runs))
        let groups = Statistics.group(runs, by: keys)
        var marked = false
        let values = CompareKeys(runs)
        var table = groupTable(
            groups, keys: keys, title: "\(experiment): groups, mean ± std over seeds", values: values)
        marked = markMetricColumns(&table, first: keys.count + 1)
        sections.append(.table(table))
        for prefix in MetricKey.familyPrefixes {
            for family in metricFamilies(runs, prefix: prefix) where families.isEmpty || families.contains(family.name)
            {
                var t = familyTable(family, runs: runs, groups: groups)
                t.title = "\(experiment): " + t.title
                marked = markFamily(&t, family.name) || marked
                sections.append(.table(t))
            }
        }
        let runRows = runs.map { r -> [Cell] in
            [.text(r.name), .text(r.state), number(r.steps(values), .count), number(r.tokens(values), .count)]
                + [number(r.metric(values.tokensPerSecond)?.last, .count), number(r.runningTime, .duration)]
        }
        sections.append(
            .table(
                ReportTable(
                    title: "\(experiment): runs", columns: ["run", "state", "steps", "tokens", "tokens/s", "wall"],
                    rows: runRows)))
        return marked
    }

    /// A claim's verdict and what was measured, one "; "-separated part per check.
    static func judge(_ reader: RunReader, _ claim: Claim) throws -> (Verdict, String) {
        var parts: [String] = []
        var missing = false
        var failed = false
        for check in claim.checks {
            let a = try groupStat(reader, claim.experiment, check.a, check.metric)
            let b =
                check.isDifference
                ? try groupStat(reader, claim.experiment, check.b ?? check.a, check.bMetric ?? check.metric) : nil
            let aText = "\(check.aName) \(check.metric) \(statText(a))"
            let bText =
                b.map { " - \(check.bName ?? check.aName) \(check.bMetric ?? check.metric) \(statText($0))" } ?? ""
            guard let sa = a.stat, !check.isDifference || b?.stat != nil else {
                missing = true
                parts.append(aText + bText + ": not run")
                continue
            }
            let x = sa.mean - (b?.stat?.mean ?? 0)
            let ok = check.op.holds(x, check.value)
            failed = failed || !ok
            let result = check.isDifference ? " = \(formatFixed(x, 3))" : ""
            parts.append(
                aText + bText + result + " \(check.op.rawValue) \(formatShortest(check.value)): \(ok ? "yes" : "no")")
        }
        let verdict: Verdict = missing ? .notRun : failed ? .fail : .pass
        return (verdict, parts.joined(separator: "; "))
    }

    /// Mean ± std of `metric` over the succeeded runs of `experiment` that `expression` selects.
    static func groupStat(_ reader: RunReader, _ experiment: String, _ expression: String, _ metric: String) throws
        -> (stat: (mean: Double, std: Double?)?, n: Int)
    {
        let runs: [RunSummary]
        do {
            runs = try reader.summaries(
                RunSelection(experiment: experiment, state: "succeeded", filter: try Filter.parse(expression)))
        } catch StoreError.experimentNotFound {
            runs = []
        }
        let values = runs.compactMap { $0.metrics[metric]?.last }
        return (Statistics.meanStd(values), values.count)
    }

    static func statText(_ s: (stat: (mean: Double, std: Double?)?, n: Int)) -> String {
        guard let stat = s.stat else { return "(no runs)" }
        return Cell.meanStd(stat.mean, stat.std, .fixed(3)).display + " (n=\(s.n))"
    }
}

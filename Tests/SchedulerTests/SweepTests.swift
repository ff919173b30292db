// Sweep expansion: grid order, seeds, seeded random samples, names, canonical JSON and typed
// parameters, and the errors a bad [sweep] gives.
import Basics
import Foundation
import Store
import Testing

@testable import Scheduler

/// A base config in the shape of `tracker train --config` files.
let baseTree: ConfigValue = .table([
    "data": .table(["corpus": .string("bundled")]),
    "model": .table([
        "layers": .int(2), "channels": .int(64),
        "attention": .table(["variant": .string("softmax_rope")]),
    ]),
    "train": .table(["steps": .int(100), "lr": .double(3e-3), "seed": .int(1337)]),
])

func spec(_ sweep: [String: ConfigValue], experiment: [String: ConfigValue]? = nil) throws -> ExperimentSpec {
    var t = baseTree.table!
    t["sweep"] = .table(sweep)
    if let experiment { t["experiment"] = .table(experiment) }
    return try ExperimentSpec(name: "test", tree: .table(t))
}

struct SweepTests {
    @Test func gridIsCartesianInSortedKeyOrderWithSeedsLast() throws {
        let s = try spec([
            "train.lr": .array([.double(1e-3), .double(3e-3)]),
            "model.attention.variant": .array([.string("softmax_rope"), .string("stick_breaking")]),
            "seeds": .array([.int(1), .int(2)]),
        ])
        let plans = try s.plans()
        #expect(
            plans.map(\.name) == [
                "softmax_rope-lr0.001-seed1", "softmax_rope-lr0.001-seed2", "softmax_rope-lr0.003-seed1",
                "softmax_rope-lr0.003-seed2", "stick_breaking-lr0.001-seed1", "stick_breaking-lr0.001-seed2",
                "stick_breaking-lr0.003-seed1", "stick_breaking-lr0.003-seed2",
            ])
        #expect(Set(plans.map(\.sha256)).count == 8)
        #expect(plans[5].config.value(at: "train.seed") == .int(2))
        #expect(plans[5].config.value(at: "model.attention.variant") == .string("stick_breaking"))
        // Deterministic: the same spec expands to the same runs, byte for byte.
        let again = try s.plans()
        #expect(again.map(\.json) == plans.map(\.json))
    }

    /// `seeds` without `seed_key` sets `train.seed` alone, as before seed keys could be a list, so
    /// runs enqueued before are found again and re-running an old file enqueues nothing. The hashes
    /// are `sha256sum` of the configs' canonical JSON as main (51713df) writes it, e.g.
    /// {"data":{"corpus":"bundled"},"model":{...},"train":{"lr":0.003,"seed":1,"steps":100}}.
    @Test func defaultSeedKeyKeepsEarlierHashes() throws {
        let plans = try spec(["seeds": .array([.int(1), .int(2), .int(3)])]).plans()
        #expect(plans.map(\.name) == ["seed1", "seed2", "seed3"])
        #expect(
            plans.map(\.sha256) == [
                "e398f552603d64cdc400dcc2cc9d59c37074f7a6373fe975e23c7564545119e5",
                "d0844f707bf210be538a8e294261a292358c1e499ed22705cac6ebd1b05a9abe",
                "0958b5a82fe30122edcb0a5099b7bc3721ad7dcf803a291d4b5c0174cd8aa314",
            ])
        #expect(plans.allSatisfy { $0.config.value(at: "model.init_seed") == nil })
    }

    /// `seed_key` as a list: each seed sets every key listed (here the data order and the
    /// initialisation); a single key, as text or as a list of one, is the default form.
    @Test func seedKeyListSetsEveryKeyToTheSeed() throws {
        let seeds: ConfigValue = .array([.int(1), .int(2), .int(3)])
        let both: ConfigValue = .array([.string("train.seed"), .string("model.init_seed")])
        let plans = try spec(["seeds": seeds, "seed_key": both]).plans()
        #expect(plans.map(\.name) == ["seed1", "seed2", "seed3"])
        for (plan, seed) in zip(plans, 1...3) {
            #expect(plan.config.value(at: "train.seed") == .int(seed))
            #expect(plan.config.value(at: "model.init_seed") == .int(seed))
        }
        #expect(Set(plans.map(\.sha256)).count == 3)
        let byDefault = try spec(["seeds": seeds]).plans()
        for one in [ConfigValue.string("train.seed"), .array([.string("train.seed")])] {
            #expect(try spec(["seeds": seeds, "seed_key": one]).plans().map(\.json) == byDefault.map(\.json))
        }
        #expect(zip(plans, byDefault).allSatisfy { $0.sha256 != $1.sha256 })
    }

    /// A bad seed_key is refused when the file is read, in one line that names seed_key and says
    /// what to write.
    @Test(arguments: [
        ConfigValue.array([]), .int(1), .string("seed"), .array([.string("train.seed"), .int(1)]),
        .array([.string("train."), .string("model.init_seed")]), .string(".seed"), .string("train..seed"),
    ])
    func badSeedKeysSayWhatToWrite(_ key: ConfigValue) throws {
        do {
            _ = try spec(["seeds": .array([.int(1)]), "seed_key": key])
            Issue.record("accepted seed_key = \(key)")
        } catch let error as SchedulerError {
            let text = "\(error)"
            #expect(text.contains("seed_key") && text.contains("dotted key") && !text.contains("\n"), "\(text)")
        }
    }

    /// A seed key the grid or [sweep.random] also sets, or one listed twice, is swept twice.
    @Test func seedKeysSweptTwiceAreRefused() throws {
        let both: ConfigValue = .array([.string("train.seed"), .string("model.init_seed")])
        let cases: [[String: ConfigValue]] = [
            ["seeds": .array([.int(1)]), "seed_key": both, "model.init_seed": .array([.int(1), .int(2)])],
            [
                "seeds": .array([.int(1)]), "seed_key": both,
                "random": .table([
                    "count": .int(2), "model.init_seed": .table(["int_uniform": .array([.int(1), .int(9)])]),
                ]),
            ],
            ["seeds": .array([.int(1)]), "seed_key": .array([.string("train.seed"), .string("train.seed")])],
        ]
        for c in cases {
            do {
                _ = try spec(c)
                Issue.record("accepted \(c)")
            } catch let error as SchedulerError {
                #expect("\(error)".contains("swept twice"), "\(error)")
            }
        }
        // Without seeds the seed keys set nothing, so a grid over one of them is fine.
        #expect(try spec(["seed_key": both, "model.init_seed": .array([.int(1), .int(2)])]).plans().count == 2)
    }

    /// Whole tables as sweep values are named by the leaves that differ among them.
    @Test func tableValuesAreNamedByTheirDifferingLeaves() throws {
        func model(_ attention: [String: ConfigValue], _ schedule: [String: ConfigValue]? = nil) -> ConfigValue {
            var t: [String: ConfigValue] = ["layers": .int(2), "attention": .table(attention)]
            if let schedule { t["schedule"] = .table(schedule) }
            return .table(t)
        }
        let rope: [String: ConfigValue] = ["variant": .string("softmax_rope")]
        let window: [String: ConfigValue] = ["variant": .string("softmax_rope"), "window": .int(8)]
        let s = try spec([
            "model": .array([
                model(rope, ["name": .string("staircase"), "chunk": .int(4), "steps": .int(2)]),
                model(window), model(rope),
                model(window, ["name": .string("ladder"), "steps": .int(2)]),
            ])
        ])
        let plans = try s.plans()
        #expect(plans.map(\.name) == ["staircase-chunk4-steps2", "window8", "model3", "ladder-window8-steps2"])
        #expect(plans[0].config.value(at: "model.schedule.chunk") == .int(4))
    }

    @Test func canonicalJSONSortsKeysAndKeepsTypes() throws {
        let plan = try #require(try spec([:]).plans().first)
        #expect(plan.name == "base")
        #expect(
            plan.json
                == #"{"data":{"corpus":"bundled"},"model":{"attention":{"variant":"softmax_rope"},"channels":64,"layers":2},"train":{"lr":0.003,"seed":1337,"steps":100}}"#
        )
        #expect(plan.sha256.count == 64)
        #expect(plan.params["train.lr"] == .real(0.003))
        #expect(plan.params["train.steps"] == .int(100))
        #expect(plan.params["model.attention.variant"] == .text("softmax_rope"))
        #expect(plan.params.count == 7)
        // JSON read back gives the same tree for these values.
        #expect(try ConfigValue(json: plan.json) == plan.config)
    }

    @Test func randomSamplesAreSeededAndInRange() throws {
        let sweep: [String: ConfigValue] = [
            "random": .table([
                "count": .int(8), "seed": .int(7),
                "train.lr": .table(["log_uniform": .array([.double(1e-4), .double(1e-2)])]),
                "model.layers": .table(["int_uniform": .array([.int(1), .int(4)])]),
                "model.attention.variant": .table(["choice": .array([.string("a"), .string("b")])]),
            ]),
            "seeds": .array([.int(1), .int(2)]),
        ]
        let a = try spec(sweep).plans()
        let b = try spec(sweep).plans()
        #expect(a.count == 16)
        #expect(a.map(\.json) == b.map(\.json))
        // Names carry the sample index and its values, e.g. r0-a-layers3-lr0.000597-seed1.
        #expect(a[0].name.hasPrefix("r0-") && a[0].name.hasSuffix("-seed1") && a[0].name.contains("-lr"))
        #expect(a[15].name.hasPrefix("r7-") && a[15].name.hasSuffix("-seed2"))
        // The same sample for both seeds.
        #expect(a[0].config.value(at: "train.lr") == a[1].config.value(at: "train.lr"))
        for p in a {
            guard case .double(let lr) = p.config.value(at: "train.lr"),
                case .int(let layers) = p.config.value(at: "model.layers")
            else {
                Issue.record("types changed")
                continue
            }
            #expect(lr >= 1e-4 && lr <= 1e-2)
            #expect((1...4).contains(layers))
        }
        #expect(Set(a.map { $0.config.value(at: "train.lr") }).count == 8)
        var other = sweep
        other["random"] = .table(sweep["random"]!.table!.merging(["seed": .int(8)]) { $1 })
        #expect(try spec(other).plans().map(\.json) != a.map(\.json))
    }

    @Test func experimentSectionSetsPriorityAndAttempts() throws {
        let s = try spec(["seeds": .array([.int(1)])], experiment: ["priority": .int(5), "max_attempts": .int(2)])
        let rows = try s.plannedRuns()
        #expect(rows.count == 1 && rows[0].run.priority == 5 && rows[0].run.maxAttempts == 2)
        #expect(s.base.table?["experiment"] == nil && s.base.table?["sweep"] == nil)
    }

    @Test func badSweepsAreRejectedWithTheKey() throws {
        let cases: [[String: ConfigValue]] = [
            ["train.lr": .double(1e-3)],
            ["train.lr": .array([])],
            ["nosuch.section.key": .array([.int(1)])],
            ["seeds": .array([.string("x")])],
            ["random": .table(["train.lr": .table(["uniform": .array([.double(1), .double(1e-3)])])])],
            ["random": .table(["count": .int(2), "train.lr": .table(["gauss": .array([.double(0), .double(1)])])])],
            ["seeds": .array([.int(1)]), "train.seed": .array([.int(1)])],
        ]
        for c in cases {
            #expect(throws: SchedulerError.self, "\(c)") { try spec(c).plans() }
        }
    }

    /// A value listed twice made two runs with one config, and enqueueing then called the second
    /// "already in the experiment". A whole real (1.0) is the same value as the integer.
    @Test(
        arguments: [
            (["seeds": .array([.int(1), .int(1), .int(2)])], "[sweep] seeds lists 1 twice"),
            (
                ["train.lr": .array([.double(1e-3), .double(3e-3), .double(1e-3)])],
                "[sweep] train.lr lists 0.001 twice"
            ),
            (["model.layers": .array([.int(2), .double(2)])], "[sweep] model.layers lists 2 twice"),
            (
                ["model.attention.variant": .array([.string("alibi"), .string("alibi")])],
                "[sweep] model.attention.variant lists \"alibi\" twice"
            ),
        ] as [([String: ConfigValue], String)])
    func aValueListedTwiceIsRefused(sweep: [String: ConfigValue], message: String) throws {
        do {
            _ = try spec(sweep)
            Issue.record("accepted \(sweep)")
        } catch {
            #expect("\(error)".hasPrefix(message), "\(error)")
        }
    }

    /// 7 axes of 10 values held 10^7 configs in memory (24 GB, then the OOM killer): the size is
    /// the product of the axes, refused before anything is expanded.
    @Test func aSweepPastTheLimitIsRefusedBeforeExpanding() throws {
        var axes: [String: ConfigValue] = [:]
        for key in ["train.lr", "train.steps", "train.batch", "model.layers", "model.channels", "model.heads"] {
            axes[key] = .array((1...10).map { .int($0) })
        }
        axes["seeds"] = .array((1...10).map { .int($0) })
        let started = Date()
        do {
            _ = try spec(axes)
            Issue.record("a sweep of 10^7 runs was accepted")
        } catch {
            #expect(
                "\(error)".hasPrefix(
                    "the sweep expands to 10,000,000 runs (7 axes: model.channels × 10, model.heads × 10, "
                        + "model.layers × 10, train.batch × 10, train.lr × 10, train.steps × 10, seeds × 10); "
                        + "at most 100,000"), "\(error)")
        }
        #expect(Date().timeIntervalSince(started) < 1)
        // Random samples count too; the limit itself is allowed.
        #expect(throws: SchedulerError.self) {
            try spec(["random": .table(["count": .int(1_000_000), "train.lr": .table(["choice": .array([.int(1)])])])])
        }
        axes = ["train.steps": .array((1...100).map { .int($0) }), "seeds": .array((1...1000).map { .int($0) })]
        #expect(try spec(axes).sweep.grid.count == 1)
    }

    @Test func nonFiniteNumbersAreNotConfigs() throws {
        var tree = baseTree
        try tree.set("train.lr", to: .double(.infinity))
        #expect(throws: ConfigError.self) { try tree.canonicalJSON() }
    }
}

// `tracker report --results`: claims files (parsed, refused with a clear message, fuzzed), the
// verdicts they give on the fixture store, and the shipped experiments/claims.toml against the
// experiment files it names.
import Basics
import Foundation
import Session
import Store
import TestSupport
import Testing

@testable import Report

struct ResultsTests {
    static let claimsText = #"""
        title = "Fixture results"
        experiments = ["sweep", "absent"]
        families = ["task/acc", "lengen/loss"]

        [[claim]]
        id = "better"
        source = "a paper"
        claim = "stick-breaking beats softmax+RoPE at 1x by 0.15"
        experiment = "sweep"
        tried = "two seeds each"
        checks = [
          { a = 'model.attention.variant = "stick_breaking"', b = 'model.attention.variant = "softmax_rope"', metric = "task/acc/1x/[0,L)", op = ">=", value = 0.15 },
        ]

        [[claim]]
        id = "flat"
        source = "spec"
        claim = "softmax+RoPE's loss at [2L,4L) is within 0.1 of its loss at [0,L)"
        experiment = "sweep"
        checks = [
          { a = 'model.attention.variant = "softmax_rope"', metric = "lengen/loss/4x/[2L,4L)", b_metric = "lengen/loss/1x/[0,L)", op = "<=", value = 0.1 },
          { a = 'model.attention.variant = "softmax_rope"', metric = "task/acc/1x/[0,L)", op = ">", value = 0.5 },
        ]

        [[claim]]
        id = "fox"
        source = "FoX paper"
        claim = "FoX reaches 0.9"
        experiment = "sweep"
        checks = [{ a = 'model.attention.variant = "forgetting"', metric = "task/acc/1x/[0,L)", op = ">=", value = 0.9 }]
        """#

    static func claims(_ text: String = claimsText) throws -> ClaimSet {
        try ClaimSet(tree: try TOMLReader.parse(text, file: "claims.toml"))
    }

    @Test func verdictsFromTheStore() throws {
        let doc = try Reports.results(RunReader(db: try Fixture.database()), try Self.claims())
        guard case .table(let verdicts) = doc.sections[0] else {
            Issue.record("the first section is not the verdicts table")
            return
        }
        // better: 0.85 ± 0.071 - 0.65 ± 0.071 = 0.2 >= 0.15; flat: 4.05 - 3.25 = 0.8 > 0.1; the only
        // forgetting run failed, so FoX's claim has no succeeded run.
        #expect(verdicts.rows.map { $0[3].display } == ["PASS", "FAIL", "NOT RUN"])
        #expect(
            verdicts.rows.map { $0[4].display } == [
                "stick_breaking task/acc/1x/[0,L) 0.850 ± 0.071 (n=2) - softmax_rope task/acc/1x/[0,L) 0.650 ± 0.071 (n=2) = 0.200 >= 0.15: yes",
                "softmax_rope lengen/loss/4x/[2L,4L) 4.050 ± 0.071 (n=2) - softmax_rope lengen/loss/1x/[0,L) 3.250 ± 0.071 (n=2) = 0.800 <= 0.1: no; softmax_rope task/acc/1x/[0,L) 0.650 ± 0.071 (n=2) > 0.5: yes",
                "forgetting task/acc/1x/[0,L) (no runs): not run",
            ])
        let titles = doc.sections.compactMap { if case .table(let t) = $0 { t.title } else { nil } }
        #expect(
            titles == [
                "Verdicts", "Cost", "sweep: groups, mean ± std over seeds", "sweep: lengen/loss (final, mean ± std)",
                "sweep: task/acc (final, mean ± std)", "sweep: runs",
            ])
        #expect(doc.sections.contains(.note("better, what was tried: two seeds each")))
        #expect(doc.sections.contains(.note("absent: no runs in this store (not run).")))
        #expect(doc.sections.last == .note(Reports.markLegend))
        let markdown = doc.render(.markdown)
        // What it cost: 12 + 13 + 15 + 16 + 3 minutes of wall, the median of the last logged speeds;
        // the fixture's runs record no batch or context, so no tokens.
        #expect(markdown.contains("| sweep | 5 (4 succeeded) | 100 | - | 0.98 | 11m48s | 13.5k | - |"))
        #expect(markdown.contains("| absent | 0 (0 succeeded) | - | - | - | - | - | - |"))
        #expect(markdown.contains("| total | 5 (4 succeeded) | - | - | 0.98 | - | - | - |"))
        #expect(markdown.contains("| softmax_rope-seed1 | succeeded | 100 | - | 12.5k | 12m00s |"))
        #expect(
            markdown.contains(
                "| variant=stick_breaking lr=0.003 | 3.0500 ± 0.0707 ▲ | 3.1750 ± 0.0707 ▲ | 3.3000 ± 0.0707 ▲ |"))
    }

    @Test func badClaimsFilesSayWhatToFix() throws {
        let cases: [(String, String)] = [
            ("experiments = [\"x\"]", "claims file: the claims file needs [[claim]] tables"),
            (
                "title = 3\nexperiments = []\n[[claim]]\nid = \"a\"",
                "claims file: the claims file needs title = \"...\" (a string)"
            ),
            (
                "experiments = []\n[[claim]]\nid = \"a\"\nsource = \"s\"\nclaim = \"c\"\nexperiment = \"e\"\nchecks = [{ a = 'x = 1', metric = \"m\", op = \"=>\", value = 1 }]",
                "claims file: claim 'a', check 1: op must be one of >= <= > <, not '=>'"
            ),
            (
                "experiments = []\n[[claim]]\nid = \"a\"\nsource = \"s\"\nclaim = \"c\"\nexperiment = \"e\"\nchecks = [{ a = 'x = 1', metric = \"m\", op = \">=\" }]",
                "claims file: claim 'a', check 1 needs a number value"
            ),
            ("experiments = []\n[[claim]]\nsource = \"s\"", "claims file: claim 1 needs id = \"...\" (a string)"),
        ]
        for (text, message) in cases {
            #expect(throws: ReportError.badClaims(String(message.dropFirst("claims file: ".count)))) {
                try Self.claims(text)
            }
        }
        // A selection that is not a --where expression is refused with the --where error.
        let bad = Self.claimsText.replacingOccurrences(
            of: "'model.attention.variant = \"forgetting\"'", with: "'variant =='")
        #expect(throws: ReportError.self) { try Self.claims(bad) }
        let twice = Self.claimsText.replacingOccurrences(of: "id = \"fox\"", with: "id = \"flat\"")
        #expect(throws: ReportError.badClaims("claim id 'flat' is used twice; give each claim its own id")) {
            try Self.claims(twice)
        }
    }

    @Test func mutatedClaimsFilesParseOrFailClearly() throws {
        var m = Mutator(seed: 23)
        var parsed = 0
        for _ in 0..<1500 {
            let text = m.mutate(Self.claimsText, maxEdits: 3)
            guard let tree = try? TOMLReader.parse(text, file: "claims.toml") else { continue }
            do {
                _ = try ClaimSet(tree: tree)
                parsed += 1
            } catch let e as ReportError {
                #expect(e.description.count < 400)
            }
        }
        #expect(parsed > 0)
    }

    /// The shipped claims file parses, and names only experiments that have a file, whose runs
    /// select with its expressions (checked by parsing: Filter.parse runs in ClaimSet).
    @Test func shippedClaimsNameShippedExperiments() throws {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let dir = root.appendingPathComponent("experiments").path
        let claims = try ClaimSet(tree: try TOMLReader.read(path: dir + "/claims.toml", what: "claims file"))
        #expect(!claims.claims.isEmpty)
        for name in claims.experiments + claims.claims.map(\.experiment) {
            #expect(FileManager.default.fileExists(atPath: "\(dir)/\(name).toml"), "\(name).toml")
        }
        for c in claims.claims { #expect(claims.experiments.contains(c.experiment), "\(c.id): \(c.experiment)") }
    }
}

extension ResultsTests {
    /// Nothing run yet: every claim is NOT RUN and every experiment says so (no error).
    @Test func aStoreWithoutTheExperimentsSaysNotRun() throws {
        let text = Self.claimsText.replacingOccurrences(of: "experiment = \"sweep\"", with: "experiment = \"absent\"")
        let doc = try Reports.results(RunReader(db: try Fixture.database()), try Self.claims(text))
        guard case .table(let verdicts) = doc.sections[0] else {
            Issue.record("the first section is not the verdicts table")
            return
        }
        #expect(verdicts.rows.map { $0[3].display } == ["NOT RUN", "NOT RUN", "NOT RUN"])
    }
}

extension ResultsTests {
    /// `--results FILE --experiment NAME`: that experiment's claims and tables only; an experiment
    /// the file does not list is refused with the list.
    @Test func oneExperimentOfTheClaims() throws {
        let part = try Self.claims().only(experiment: "absent")
        #expect(part.experiments == ["absent"] && part.claims.isEmpty && part.title == "Fixture results: absent")
        let sweep = try Self.claims().only(experiment: "sweep")
        #expect(sweep.claims.map(\.id) == ["better", "flat", "fox"] && sweep.experiments == ["sweep"])
        let doc = try Reports.results(RunReader(db: try Fixture.database()), part)
        #expect(doc.sections.contains(.note("absent: no runs in this store (not run).")))
        #expect(!doc.render(.markdown).contains("sweep: runs"))
        #expect(
            throws: ReportError.badClaims("the claims file does not list experiment 'other'; it lists sweep, absent")
        ) { try Self.claims().only(experiment: "other") }
    }
}

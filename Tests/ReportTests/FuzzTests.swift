// Fuzzing the Report module's readers of outside input: the --where language and import files.
// Thousands of seeded inputs each (token soup, mutated valid inputs, extreme sizes): no trap, no
// hang, and every failure is one of the module's clear errors. Every expression the parser
// accepts runs in SQLite, and its SQL keeps the meaning of and/or/not (checked as set identities
// over the fixture's runs).
import Basics
import Foundation
import Store
import TestSupport
import Testing

@testable import Report

struct FilterFuzzTests {
    static let vocabulary = [
        "model.attention.variant", "train.lr", "train.seed", "tag.note", "run.name", "run.state", "run.id",
        "run.experiment", "run.origin", "run.nope", "val/loss", "val/loss.min", "train/loss.max",
        "`lengen/loss/4x/[2L,4L)`.max", "`task/acc/1x/[0,L)`", "`unterminated", "=", "!=", "<", "<=", ">", ">=", "~",
        "==", "!", "0.003", "3", "-1", "1e400", "-.5", "1e", "'stick_breaking'", "\"baseline\"", "\"open", "'a\\'b'",
        "true", "false", "and", "or", "not", "AND", "(", ")", "((", "))", "@", "é", "NaN", ";", "--", "\u{0}",
    ]

    /// The comparisons the well-formed generator draws from: each selects a different set of runs.
    static let comparisons = [
        "model.attention.variant = 'stick_breaking'", "train.lr < 0.005", "train.seed = 2", "tag.note ~ 'base'",
        "run.state = 'failed'", "run.id >= 4", "val/loss.min < 3.1", "train/loss > 3", "run.origin = 'import'",
        "run.experiment = 'sweep'", "`task/acc/1x/[0,L)` > 0.8", "run.name ~ 'seed1'",
    ]

    let reader: RunReader
    let all: Set<Int64>

    init() throws {
        reader = RunReader(db: try Fixture.database())
        all = Set(try reader.summaries(RunSelection()).map(\.id))
    }

    /// Parses and, when it parses, runs `text`; a parse failure must be a short --where error.
    func check(_ text: String) throws -> Set<Int64>? {
        let filter: Filter
        do {
            filter = try Filter.parse(text)
        } catch let e as ReportError {
            guard case .badFilter = e else {
                Issue.record("\(text): not a --where error: \(e)")
                return nil
            }
            // The message line plus the expression shown at most 80 characters wide.
            #expect(e.description.count < 400, "\(text): \(e.description.count) characters of error")
            return nil
        }
        return Set(try reader.summaries(RunSelection(filter: filter)).map(\.id))
    }

    @Test func tokenSoup() throws {
        var m = Mutator(seed: 11)
        var parsed = 0
        for _ in 0..<3000 {
            let words = (0..<(1 + m.int(24))).map { _ in Self.vocabulary[m.int(Self.vocabulary.count)] }
            let text = words.joined(separator: m.int(4) == 0 ? "" : " ")
            if try check(text) != nil { parsed += 1 }
        }
        #expect(parsed > 0, "the soup never parsed: it tests only the error paths")
    }

    @Test func mutatedExpressions() throws {
        var m = Mutator(seed: 12)
        for i in 0..<2000 {
            let base = wellFormed(&m, depth: 3)
            let text = m.mutate(base)
            _ = try check(text)
            _ = i
        }
    }

    /// A random expression over `comparisons`, with and/or/not and parentheses.
    func wellFormed(_ m: inout Mutator, depth: Int) -> String {
        if depth == 0 || m.int(3) == 0 { return Self.comparisons[m.int(Self.comparisons.count)] }
        switch m.int(4) {
        case 0: return "not " + wellFormed(&m, depth: depth - 1)
        case 1: return "(" + wellFormed(&m, depth: depth - 1) + ")"
        case 2: return wellFormed(&m, depth: depth - 1) + " and " + wellFormed(&m, depth: depth - 1)
        default: return wellFormed(&m, depth: depth - 1) + " or " + wellFormed(&m, depth: depth - 1)
        }
    }

    /// The SQL keeps the meaning: and is intersection, or is union, not is the complement, for
    /// random operands (the flat SQL must put parentheses exactly where precedence needs them).
    @Test func sqlKeepsTheMeaning() throws {
        var m = Mutator(seed: 13)
        for _ in 0..<150 {
            let a = wellFormed(&m, depth: 3)
            let b = wellFormed(&m, depth: 3)
            let x = try #require(try check(a))
            let y = try #require(try check(b))
            #expect(try check("(\(a)) and (\(b))") == x.intersection(y), "\(a) | \(b)")
            #expect(try check("(\(a)) or (\(b))") == x.union(y), "\(a) | \(b)")
            #expect(try check("not (\(a))") == all.subtracting(x), "\(a)")
            #expect(try check("not not (\(a))") == x, "\(a)")
        }
    }

    @Test func longChainsRun() throws {
        // About 200 `or` terms used to overflow SQLite's parser stack and print the SQL.
        let names = (0..<200).map { "run.name = 'r\($0)'" }
        #expect(try check(names.joined(separator: " or ") + " or run.id = 1") == [1])
        let max = Filter.maxComparisons
        let terms = (0..<max).map { Self.comparisons[$0 % Self.comparisons.count] }
        #expect(try check(terms.joined(separator: " or ")) != nil)
        #expect(try check(terms.joined(separator: " and ")) != nil)
        let mixed = terms.enumerated().map {
            $0.offset == 0 ? $0.element : ($0.offset % 3 == 0 ? " and " : " or ") + $0.element
        }
        #expect(try check(mixed.joined()) != nil)
        let tooMany = Array(repeating: "run.id = 1", count: max + 1).joined(separator: " or ")
        #expect(throws: ReportError.self) { try Filter.parse(tooMany) }
        let error = try #require(parseError(tooMany))
        #expect(error.description.contains("more than \(max) comparisons"))
        #expect(error.description.count < 400)
    }

    @Test func deepNestingRunsUpToTheLimitAndFailsClearlyPastIt() throws {
        let d = Filter.maxDepth
        let comparison = "run.id = 1"
        // The shapes that fill SQLite's parser stack fastest, at the limit (each of the last three
        // overflowed it before depth 32, the old limit: at 15, 27 and 29 levels).
        let shapes: [(units: Int, wrap: (String) -> String)] = [
            (3, { "not (run.id = 2 or (run.id = 3 and \($0)))" }),
            (2, { "(run.id = 2 or run.id = 4 and not \($0))" }),
            (1, { "(train.lr > 1 or \($0) and tag.note = 'a')" }),
            (1, { "(run.id = 2 or \($0) and run.id != 3)" }),
        ]
        for shape in shapes {
            var nested = comparison
            for _ in 0..<(d / shape.units) { nested = shape.wrap(nested) }
            #expect(try check(nested) != nil, "\(nested)")
            let error = try #require(parseError(shape.wrap(shape.wrap(nested))))
            #expect(error.description.contains("nested more than \(d) deep"), "\(error)")
        }
        #expect(try check(String(repeating: "(", count: d) + comparison + String(repeating: ")", count: d)) == [1])
        #expect(try check(String(repeating: "not ", count: d) + comparison) == [1])
        #expect(try check(String(repeating: "not ", count: d - 1) + comparison) == all.subtracting([1]))
        for text in [
            String(repeating: "(", count: d + 1) + comparison + String(repeating: ")", count: d + 1),
            String(repeating: "not ", count: d + 1) + comparison,
            String(repeating: "(", count: 100_000),
            String(repeating: "not (", count: 100_000),
        ] {
            let error = try #require(parseError(text))
            #expect(error.description.contains("nested more than \(d) deep"), "\(error)")
            #expect(error.description.count < 400)
        }
    }

    func parseError(_ text: String) -> ReportError? {
        do {
            _ = try Filter.parse(text)
            return nil
        } catch {
            return error as? ReportError
        }
    }
}

struct ImportFuzzTests {
    static let valid = """
        {"run": "baseline", "experiment": "imported", "params": {"lr": 0.003, "model": {"layers": 2, "variant": "softmax"}, "compile": true, "list": [1, 2]}, "tags": {"note": "pytorch", "seed": 3}}
        {"run": "baseline", "step": 1, "metrics": {"train/loss": 2.5, "val/loss": "nan"}, "time": 1700000000}
        {"run": "baseline", "step": 2, "metrics": {"train/loss": 2.25, "val/loss": -1e-3}}
        {"run": "other", "step": 0, "metrics": {"train/loss": "inf"}}
        {"run": "moved", "state": "failed", "attempts": 2, "checkpoints": [{"step": 10, "path": "runs/1/step10.safetensors", "size": 64, "sha256": "ab"}]}

        """

    /// Every import of a mutated file either works or fails with a StoreError that names the
    /// line (or the database) in one clear sentence, never Foundation's raw error text.
    @Test func mutatedImportFiles() throws {
        let db = try TrackerDB(home: Fixture.tempDir())
        _ = try Importer.importLines(Self.valid, file: "valid.jsonl", into: db)
        var m = Mutator(seed: 21)
        var failed = 0
        func contents() throws -> [Int] {
            try db.read { db in
                try ["run", "metric", "runParam", "runTag"].map {
                    try db.scalar(Int.self, sql: "SELECT count(*) FROM \($0)") ?? 0
                }
            }
        }
        for _ in 0..<1200 {
            let text = m.mutate(Self.valid, maxEdits: 6)
            let before = try contents()
            do {
                _ = try Importer.importLines(text, file: "fuzz.jsonl", into: db)
            } catch let e as StoreError {
                #expect(try contents() == before, "a failed import wrote something")
                failed += 1
                let d = e.description
                #expect(!d.contains("Error Domain") && !d.contains("NSCocoa") && !d.contains("SQLite error"), "\(d)")
                #expect(!d.contains("\n") && d.count < 600, "\(d)")
            }
        }
        #expect(failed > 0)
    }

    @Test func extremeImportLines() throws {
        let db = try TrackerDB(home: Fixture.tempDir())
        let lines = [
            #"{"run": "x", "params": "# + String(repeating: "[", count: 100_000),
            #"{"run": "x", "params": "# + String(repeating: #"{"a":"#, count: 10_000) + "1"
                + String(repeating: "}", count: 10_000) + "}",
            #"{"run": "x", "step": 18446744073709551616, "metrics": {"a/b": 1}}"#,
            #"{"run": "x", "step": 1, "metrics": {"a/b": 1e400}}"#,
            #"{"run": "x", "step": 1, "metrics": {"a/b": 1}, "time": 1e308}"#,
            #"{"run": "\#(String(repeating: "n", count: 100_000))", "tags": {"k": "v"}}"#,
            String(repeating: "\n", count: 100_000) + "{",
        ]
        for line in lines {
            do {
                _ = try Importer.importLines(line, file: "extreme.jsonl", into: db)
            } catch let e as StoreError {
                #expect(!e.description.contains("Error Domain"), "\(e)")
            }
        }
    }
}

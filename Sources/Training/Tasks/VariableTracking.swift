// Task T2, mini variable tracking (shared/spec/attention.md §2.3 T2, after the official generator
// data/gen_data_algo_seq.py restated in §2.1): V = 3 variables of [x, y, z, p, r], values in
// [1, 10], 24 statements then END, no `if`. Each statement draws its operation uniformly from
// {=, ++, --, print}; a draw that is invalid in the current state is rejected and repeated:
//   =      a variable not yet defined, set to uniform [1, 10]      `v = N ;`
//   ++/--  a defined variable, rejected if it would leave [1, 10]  `v ++ ;` / `v -- ;`
//   print  a defined variable                                      `print v ;`
// Labels are `_` except at the `;` of a print, whose label is the printed value. Programs are
// concatenated into one stream (streaming task); loss only at print answers.
import Basics

public struct VariableTrackingTask: SyntheticTask {
    public static let name = "t2"
    public static let variableNames = ["x", "y", "z", "p", "r"]
    public static let valueRange = 1...10
    public let variables: Int
    public let statements: Int

    public init(variables: Int = 3, statements: Int = 24) throws {
        guard (1...Self.variableNames.count).contains(variables) else {
            throw TrainingError.invalidConfig(
                key: "data.variables", value: "\(variables)", hint: "use 1 to 5 variables (3)")
        }
        guard statements >= 1 else {
            throw TrainingError.invalidConfig(
                key: "data.statements", value: "\(statements)",
                hint: "use at least 1 statement (24)")
        }
        self.variables = variables
        self.statements = statements
    }

    /// Variables first, then `= ++ -- print ;`, the numbers 1..10 and END (19 tokens for V = 3).
    /// The label `_` is not a token: it is target -1.
    public var vocabulary: [String] {
        Array(Self.variableNames.prefix(variables)) + ["=", "++", "--", "print", ";"]
            + Self.valueRange.map { "\($0)" } + ["END"]
    }
    public var isStreaming: Bool { true }

    public func variableToken(_ i: Int) -> Int32 { Int32(i) }
    public var assignToken: Int32 { Int32(variables) }
    public var incrementToken: Int32 { Int32(variables + 1) }
    public var decrementToken: Int32 { Int32(variables + 2) }
    public var printToken: Int32 { Int32(variables + 3) }
    public var semicolonToken: Int32 { Int32(variables + 4) }
    public func numberToken(_ n: Int) -> Int32 { Int32(variables + 4 + n) }
    public func number(ofToken token: Int32) -> Int? {
        let n = Int(token) - variables - 4
        return Self.valueRange.contains(n) ? n : nil
    }
    public var endToken: Int32 { Int32(variables + 15) }

    /// One program: `statements` statements and END. `length` is ignored (streaming task).
    public func generate(length: Int, rng: inout SplitMix64) -> TaskSequence {
        var seq = TaskSequence()
        var value = [Int?](repeating: nil, count: variables)
        for _ in 0..<statements {
            while !statement(&seq, &value, &rng) {}
        }
        seq.append(endToken)
        return seq
    }

    /// Draws one operation and emits it; false when the draw is rejected.
    private func statement(
        _ seq: inout TaskSequence, _ value: inout [Int?], _ rng: inout SplitMix64
    ) -> Bool {
        let defined = value.indices.filter { value[$0] != nil }
        switch uniformBelow(4, &rng) {
        case 0:
            let undefined = value.indices.filter { value[$0] == nil }
            guard !undefined.isEmpty else { return false }
            let v = undefined[uniformBelow(undefined.count, &rng)]
            let n = Self.valueRange.lowerBound + uniformBelow(Self.valueRange.count, &rng)
            value[v] = n
            for token in [variableToken(v), assignToken, numberToken(n), semicolonToken] {
                seq.append(token)
            }
        case let op where op == 1 || op == 2:
            guard !defined.isEmpty else { return false }
            let v = defined[uniformBelow(defined.count, &rng)]
            let n = value[v]! + (op == 1 ? 1 : -1)
            guard Self.valueRange.contains(n) else { return false }
            value[v] = n
            for token in [
                variableToken(v), op == 1 ? incrementToken : decrementToken, semicolonToken,
            ] {
                seq.append(token)
            }
        default:
            guard !defined.isEmpty else { return false }
            let v = defined[uniformBelow(defined.count, &rng)]
            seq.append(printToken)
            seq.append(variableToken(v))
            seq.append(semicolonToken, target: numberToken(value[v]!))
        }
        return true
    }
}

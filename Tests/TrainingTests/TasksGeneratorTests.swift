// The synthetic task generators of shared/spec/attention.md §2.3 against independent readings of
// their token streams: T1 labels replayed from the moves mod K, S1 answers from a memory rebuilt
// from the SETs, T2 answers from a small interpreter of the program text; plus the masks, the
// vocabularies and the draw distributions.
import Basics
import Testing

@testable import Training

struct TasksGeneratorTests {
    // MARK: - T1

    @Test func randomWalkLabelsFollowTheMovesModK() throws {
        let task = try RandomWalkTask()
        #expect(task.vocabulary == ["L", "S", "R", "0", "1", "2", "3", "4"])
        var rng = SplitMix64(seed: 1)
        var moveCounts = [0, 0, 0]
        for _ in 0..<200 {
            let e = task.generate(length: 64, rng: &rng)
            #expect(e.count == 64)
            var p = 0
            for t in 0..<64 {
                let step = RandomWalkTask.step(ofToken: e.inputs[t])
                #expect((-1...1).contains(step))
                moveCounts[step + 1] += 1
                p = ((p + step) % 5 + 5) % 5
                #expect(e.targets[t] >= 0, "dense supervision")
                #expect(RandomWalkTask.position(ofToken: e.targets[t]) == p)
            }
        }
        for c in moveCounts {
            #expect(abs(Double(c) / 12_800 - 1.0 / 3) < 0.02, "moves uniform: \(moveCounts)")
        }
    }

    @Test func randomWalkFallbacks() throws {
        let task = try RandomWalkTask(positions: 3, moves: "SR")
        #expect(task.vocabSize == 6)
        var rng = SplitMix64(seed: 2)
        let e = task.generate(length: 500, rng: &rng)
        #expect(!e.inputs.contains(RandomWalkTask.moveToken(step: -1)))
        #expect(Set(e.targets).isSubset(of: [3, 4, 5]))
        #expect(throws: TrainingError.self) { try RandomWalkTask(moves: "LX") }
        #expect(throws: TrainingError.self) { try RandomWalkTask(positions: 1) }
    }

    // MARK: - S1

    /// Reads an S1 episode item by item; returns (GETs answered, GETs masked by truncation).
    func readRecallEpisode(_ e: TaskSequence, _ task: RepeatedRecallTask) -> (
        gets: Int, masked: Int
    ) {
        #expect(e.inputs.first == RepeatedRecallTask.bos && e.targets.first == -1)
        var mem: [Int32: Int32] = [:]
        var i = 1
        var gets = 0
        var masked = 0
        var expected = [Int32](repeating: -1, count: e.count)
        while i < e.count {
            let tok = e.inputs[i]
            if tok == RepeatedRecallTask.query {
                #expect(mem.count >= 2, "GET only once 2 keys are set")
                guard i + 1 < e.count else { break }
                let key = e.inputs[i + 1]
                #expect(task.isKey(key))
                let answer = mem[key]
                #expect(answer != nil, "GET of a key that was set")
                if i + 2 < e.count {
                    #expect(e.inputs[i + 2] == answer, "v* is the most recent value")
                    expected[i + 1] = answer ?? -2
                    gets += 1
                } else {
                    masked += 1
                }
                i += 3
            } else {
                #expect(task.isKey(tok), "an item starts with ? or a key")
                if i + 1 < e.count {
                    #expect(task.isValue(e.inputs[i + 1]))
                    mem[tok] = e.inputs[i + 1]
                }
                i += 2
            }
        }
        #expect(e.targets == expected, "loss only on v*, at the position of k")
        return (gets, masked)
    }

    @Test func recallAnswersAreTheMostRecentSet() throws {
        let task = try RepeatedRecallTask()
        #expect(task.vocabSize == 26)
        #expect(task.vocabulary.prefix(3) == ["BOS", "?", "K0"] && task.vocabulary.last == "V15")
        var rng = SplitMix64(seed: 3)
        var gets = 0
        var masked = 0
        for n in 0..<600 {
            let T = [64, 65, 66, 256][n % 4]
            let e = task.generate(length: T, rng: &rng)
            #expect(e.count == T)
            let r = readRecallEpisode(e, task)
            gets += r.gets
            masked += r.masked
        }
        #expect(gets > 5000)
        #expect(masked > 0, "some episodes end inside a GET, and those are masked")
    }

    @Test func recallItemMix() throws {
        let task = try RepeatedRecallTask()
        var rng = SplitMix64(seed: 4)
        var sets = 0
        var getItems = 0
        for _ in 0..<400 {
            let e = task.generate(length: 256, rng: &rng)
            var keys = Set<Int32>()
            var i = 1
            while i < e.count {
                if keys.count >= 2 {
                    if e.inputs[i] == RepeatedRecallTask.query { getItems += 1 } else { sets += 1 }
                }
                if e.inputs[i] == RepeatedRecallTask.query {
                    i += 3
                } else {
                    keys.insert(e.inputs[i])
                    i += 2
                }
            }
        }
        let getShare = Double(getItems) / Double(sets + getItems)
        #expect(abs(getShare - 0.4) < 0.02, "GET probability 0.4 once 2 keys are set: \(getShare)")
    }

    // MARK: - T2

    /// An interpreter of T2 program text, independent of the generator: runs each statement and
    /// returns the expected target of every token (the printed value at a print's `;`).
    func interpret(_ tokens: [Int32], _ task: VariableTrackingTask) -> (
        targets: [Int32], programs: Int
    ) {
        let names = task.vocabulary
        var targets = [Int32](repeating: -1, count: tokens.count)
        var env: [String: Int] = [:]
        var assigned = Set<String>()
        var statements = 0
        var programs = 0
        var i = 0
        func number(_ s: String) -> Int32 { Int32(names.firstIndex(of: s)!) }
        while i < tokens.count {
            let w = names[Int(tokens[i])]
            if w == "END" {
                #expect(statements == 24, "24 statements per program")
                env = [:]
                assigned = []
                statements = 0
                programs += 1
                i += 1
                continue
            }
            var stmt: [String] = []
            while i < tokens.count, names[Int(tokens[i])] != ";" {
                stmt.append(names[Int(tokens[i])])
                i += 1
            }
            guard i < tokens.count else { break }
            statements += 1
            switch stmt.count == 2 && stmt[0] == "print" ? "print" : stmt.count >= 2 ? stmt[1] : "?"
            {
            case "print":
                #expect(env[stmt[1]] != nil, "print of a defined variable")
                targets[i] = number(String(env[stmt[1]] ?? 0))
            case "=":
                #expect(
                    stmt.count == 3 && !assigned.contains(stmt[0]), "each variable is assigned once"
                )
                env[stmt[0]] = Int(stmt[2])
                assigned.insert(stmt[0])
            case "++", "--":
                #expect(stmt.count == 2 && env[stmt[0]] != nil)
                env[stmt[0]] = (env[stmt[0]] ?? 0) + (stmt[1] == "++" ? 1 : -1)
                #expect((1...10).contains(env[stmt[0]]!), "values stay in [1, 10]")
            default:
                Issue.record("not a statement: \(stmt)")
            }
            i += 1
        }
        return (targets, programs)
    }

    @Test func variableTrackingAnswersMatchAnInterpreter() throws {
        let task = try VariableTrackingTask()
        #expect(
            task.vocabulary == ["x", "y", "z", "=", "++", "--", "print", ";"]
                + (1...10).map { "\($0)" } + ["END"])
        var rng = SplitMix64(seed: 5)
        var stream = TaskSequence()
        for _ in 0..<300 {
            let program = task.generate(length: 64, rng: &rng)
            #expect(program.inputs.last == task.endToken)
            stream.inputs += program.inputs
            stream.targets += program.targets
        }
        let (targets, programs) = interpret(stream.inputs, task)
        #expect(programs == 300)
        #expect(stream.targets == targets)
        let answers = stream.targets.filter { $0 >= 0 }
        #expect(answers.count > 300 * 3, "prints are frequent")
        #expect(Set(answers).count == 10, "every value is printed somewhere")
        for op in ["++", "--", "=", "print"] {
            let id = Int32(task.vocabulary.firstIndex(of: op)!)
            #expect(stream.inputs.contains(id), "\(op) occurs")
        }
    }
}

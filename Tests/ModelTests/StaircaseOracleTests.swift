// The staircase schedule (attention.md §1c) against the float64 numpy oracle
// (Golden/staircase_reference.py, staircase.json): pass-N output states for its 7 cases (plain
// rows, N=3, ladder, N=1 + global cache, cached k=1, global cache, segments of M=4 with the
// trailing rows carried), and generation's logits at every position.
import Basics
import Foundation
import Model
import TestSupport
import Testing

/// staircase.json: config, params (name -> nested lists), cases.
struct StaircaseGolden: Decodable {
    struct Schedule: Decodable {
        let chunk: Int, passes: Int, cache: String, cache_chunks: Int, segment: Int
    }
    struct Case: Decodable {
        let schedule: Schedule
        let tokens: [Int32]
        let states: [[Double]]
        let logits: [[Double]]
    }
    enum Nested: Decodable {
        case value(Double)
        case list([Nested])
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let v = try? c.decode(Double.self) {
                self = .value(v)
            } else {
                self = .list(try c.decode([Nested].self))
            }
        }
        var flat: [Double] {
            switch self {
            case .value(let v): return [v]
            case .list(let l): return l.flatMap { $0.flat }
            }
        }
    }
    let params: [String: Nested]
    let cases: [String: Case]

    static let shared: StaircaseGolden = {
        let url = Bundle.module.url(
            forResource: "staircase", withExtension: "json", subdirectory: "Golden")!
        return try! JSONDecoder().decode(StaircaseGolden.self, from: Data(contentsOf: url))
    }()

    func model(for s: Schedule, context: Int) throws -> LanguageModel {
        var options: [String: ConfigValue] = ["chunk": .int(s.chunk), "steps": .int(s.passes)]
        switch s.cache {
        case "global": options["cache"] = .string("global")
        case "cached": options["cache"] = .int(s.cache_chunks)
        default: options["cache"] = .string("none")
        }
        let config = ModelConfig(
            vocabSize: 7, channels: 8, layers: 2, heads: 2, context: context,
            schedule: ScheduleConfig(name: "staircase", options: options))
        let model = try LanguageModel(config: config)
        for spec in model.tensors {
            let values = params[spec.name]!.flat
            #expect(values.count == spec.count, "\(spec.name)")
            for i in 0..<spec.count { model.parameters[spec.offset + i] = Float(values[i]) }
        }
        return model
    }
}

struct StaircaseOracleTests {
    static let names = StaircaseGolden.shared.cases.keys.sorted()

    @Test(arguments: names)
    func passNStates(name: String) throws {
        let g = StaircaseGolden.shared
        let c = g.cases[name]!
        let T = c.tokens.count
        let D = 8
        let model = try g.model(for: c.schedule, context: T)
        let expected = c.states.flatMap { $0 }
        var got: [Float] = []
        if c.schedule.segment > 0 {
            let M = c.schedule.segment
            let ws = model.makeWorkspace(batch: 1, time: M)
            let state = model.makeState(batch: 1)
            for s in stride(from: 0, to: T, by: M) {
                model.forward(ws, tokens: Array(c.tokens[s..<s + M]), targets: nil, state: state)
                got += Array(ws.states)
            }
            #expect(state.position == T)
        } else {
            let ws = model.makeWorkspace(batch: 1, time: T)
            model.forward(ws, tokens: c.tokens, targets: nil)
            got = Array(ws.states)
        }
        #expect(got.count == T * D)
        #expect(arrayError(got, expected) < 1e-5, "\(name)")
    }

    @Test(arguments: names)
    func generationLogits(name: String) throws {
        let g = StaircaseGolden.shared
        let c = g.cases[name]!
        let model = try g.model(for: c.schedule, context: c.tokens.count)
        let generator = model.makeGenerator(maxTokens: c.tokens.count)
        for (t, token) in c.tokens.enumerated() {
            let logits = Array(generator.next(token: token))
            #expect(arrayError(logits, c.logits[t]) < 1e-5, "\(name) position \(t)")
        }
    }
}

/// scaledError for a Float array.
func arrayError(_ a: [Float], _ b: [Double]) -> Double {
    a.withUnsafeBufferPointer { scaledError($0.baseAddress!, b) }
}

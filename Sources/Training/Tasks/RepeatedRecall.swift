// Task S1, MQRAR-tiny (shared/spec/attention.md §2.3, S1): multi-query repeated associative
// recall. An episode is BOS followed by items until it holds T tokens:
//   SET (probability 0.6, and always while fewer than 2 keys are set): key k uniform over all
//       keys, value v uniform over all values; tokens `k v`; mem[k] = v.
//   GET (probability 0.4, keys already set only): k uniform over the set keys; tokens `? k v*`
//       with v* = mem[k], the most recent value.
// Loss only on v*, predicted at the position of k. The last item is cut at T; a GET that loses
// its v* token is masked.
import Basics

public struct RepeatedRecallTask: SyntheticTask {
    public static let name = "s1"
    public let keys: Int
    public let values: Int
    public let setProbability: Double

    public init(keys: Int = 8, values: Int = 16, setProbability: Double = 0.6) throws {
        guard keys >= 2 else {
            throw TrainingError.invalidConfig(
                key: "data.keys", value: "\(keys)", hint: "use at least 2 keys (8)")
        }
        guard values >= 1 else {
            throw TrainingError.invalidConfig(
                key: "data.values", value: "\(values)", hint: "use at least 1 value (16)")
        }
        guard setProbability > 0 && setProbability < 1 else {
            throw TrainingError.invalidConfig(
                key: "data.set_probability", value: "\(setProbability)",
                hint: "use a value in (0, 1), e.g. 0.6")
        }
        self.keys = keys
        self.values = values
        self.setProbability = setProbability
    }

    /// BOS = 0, ? = 1, keys K0.. from 2, values V0.. after the keys: 26 tokens by default.
    public var vocabulary: [String] {
        ["BOS", "?"] + (0..<keys).map { "K\($0)" } + (0..<values).map { "V\($0)" }
    }
    public var isStreaming: Bool { false }

    public static let bos: Int32 = 0
    public static let query: Int32 = 1
    public func keyToken(_ k: Int) -> Int32 { Int32(2 + k) }
    public func valueToken(_ v: Int) -> Int32 { Int32(2 + keys + v) }
    public func isKey(_ token: Int32) -> Bool { token >= 2 && token < 2 + Int32(keys) }
    public func isValue(_ token: Int32) -> Bool {
        token >= 2 + Int32(keys) && token < Int32(vocabSize)
    }

    public func generate(length T: Int, rng: inout SplitMix64) -> TaskSequence {
        var seq = TaskSequence()
        seq.append(Self.bos)
        var mem = [Int?](repeating: nil, count: keys)
        var setKeys: [Int] = []  // keys with a value, in order of first assignment
        while seq.count < T {
            if setKeys.count < 2 || uniformUnit(&rng) < setProbability {
                let k = uniformBelow(keys, &rng)
                let v = uniformBelow(values, &rng)
                if mem[k] == nil { setKeys.append(k) }
                mem[k] = v
                seq.append(keyToken(k))
                seq.append(valueToken(v))
            } else {
                let k = setKeys[uniformBelow(setKeys.count, &rng)]
                let answer = valueToken(mem[k]!)
                seq.append(Self.query)
                seq.append(keyToken(k), target: answer)
                seq.append(answer)
            }
        }
        seq.inputs.removeLast(seq.count - T)
        seq.targets.removeLast(seq.targets.count - T)
        if T > 0 && seq.targets[T - 1] >= 0 { seq.targets[T - 1] = -1 }  // a GET cut before its v*
        return seq
    }
}
